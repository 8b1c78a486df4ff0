//! A member of a consumer group balanced by Kafka's classic group protocol
//! (docs/consumer-groups.md, "The Kafka group protocol"; wire details in
//! docs/protocol-notes.md): FindCoordinator, JoinGroup (with the
//! MEMBER_ID_REQUIRED round trip), SyncGroup (the leader runs the
//! assignor), Heartbeat and LeaveGroup, protocol type `consumer` with the
//! subscription and assignment encoded as the Java client and librdkafka
//! encode them, so that their members and ours share one group.
//!
//! Owns one engine task, its own Kafka client (a JoinGroup parks on the
//! coordinator until the rebalance ends, so it must not hold up a
//! consumer's requests), the member id and the generation
//! ([`MemberGeneration`], which the member's commits carry). Rebalances
//! are eager (every partition is given up before the member joins again)
//! or, with the `cooperative-sticky` assignor, incremental: the member
//! rejoins still holding its partitions, announces them as owned, gives up
//! only those the new assignment moves, and joins once more so that they
//! reach their new owner. Like the ZooKeeper partitioner, the task never
//! calls the holder of the partitions: it changes the shared status, and
//! the holder asks for [`MemberEvent`]s on its own thread, gives its
//! partitions up (callbacks, commits) and says [`KafkaGroupMember::released`].
//! Asking is also the member's sign of life: a holder that has not asked
//! for `max_poll_interval` makes the member leave the group and fail.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use kafka_protocol::ResponseError;

use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::assignors::{self, MemberSubscription, Partitions};
use crate::kafka::broker::decode_response;
use crate::kafka::coordinator::{group_id, Generation, GroupCoordinator, MemberGeneration};
use crate::kafka::member_status::{HolderWaker, Liveness, MemberStatus, MemberTask, SharedStatus};
use crate::kafka::{topic_name, BrokerConnection, KafkaCluster};
use crate::topic_partition::{Topic, TopicPartition};
use crate::vouch::{StandingVouch, Vouch};

/// The protocol type of consumer groups, which Kafka tools understand.
const PROTOCOL_TYPE: &str = "consumer";
/// The subscription version written: topics, user data and owned
/// partitions, which every client since Kafka 2.4 reads.
const SUBSCRIPTION_VERSION: i16 = 1;
/// The assignment version written, as librdkafka writes it.
const ASSIGNMENT_VERSION: i16 = 0;
/// Pause before joining again after a retriable refusal.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How often a waiting task looks at the shared status again.
const STATUS_POLL: Duration = Duration::from_millis(20);
/// Added to the rebalance timeout for a JoinGroup's answer.
const JOIN_MARGIN: Duration = Duration::from_secs(5);

/// How a member joins: its group, topics, assignor and timings.
#[derive(Debug, Clone)]
pub struct GroupMemberSettings {
    /// The group id.
    pub group_id: String,
    /// The topics subscribed to.
    pub topics: Vec<String>,
    /// The assignor offered ([`assignors::ASSIGNOR_NAMES`]).
    pub assignor: String,
    /// The session timeout asked for.
    pub session_timeout: Duration,
    /// How often to heartbeat.
    pub heartbeat_interval: Duration,
    /// How long the holder may go without asking; also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// The static member's id.
    pub group_instance_id: Option<String>,
}

/// What the holder gave up, answering a [`MemberEvent::Revoke`] or a
/// [`MemberEvent::RevokeSome`]. The member may have moved on between the
/// event and the answer (a lost membership during an incremental round):
/// what it marks given up is what the holder says, never more.
#[derive(Debug, Clone, Copy)]
pub enum Released<'a> {
    /// Every partition it held.
    All,
    /// Just these.
    Only(&'a [TopicPartition]),
}

/// What the holder of the partitions must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// Nothing new.
    Continue,
    /// A generation's assignment: consume these partitions (maybe none).
    Assigned(Vec<TopicPartition>),
    /// A rebalance: give up every partition (commit first), then call
    /// [`KafkaGroupMember::released`].
    Revoke,
    /// An incremental rebalance: give up these partitions only (commit
    /// first), then call [`KafkaGroupMember::released`].
    RevokeSome(Vec<TopicPartition>),
    /// The member is out of the group for good: stop and report this.
    Failed(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Joining a generation; nothing held.
    Joining,
    /// The generation's assignment is the holder's.
    Assigned,
    /// A rebalance started: waiting for the holder to give up its partitions.
    Revoking,
    /// Final.
    Failed,
}

struct Status {
    state: State,
    /// The partitions of the current generation, as assigned.
    assignment: Vec<TopicPartition>,
    /// What the latest assignment added, for the holder to take.
    added: Vec<TopicPartition>,
    /// What the latest assignment moved away, for the holder to give up
    /// (incremental rebalances).
    moved: Vec<TopicPartition>,
    /// A cooperative rejoin is under way: the coordinator keeps a member
    /// whose JoinGroup waits, so the partitions stay vouched for (until a
    /// join attempt fails).
    rejoining: bool,
    /// The partition set changed: join again so the leader assigns it.
    rejoin: bool,
    /// Counts assignments; the holder has seen up to `handed_out`.
    assignments: u64,
    handed_out: u64,
    liveness: Liveness,
    /// The partition set last read, sorted.
    partitions: Vec<String>,
}

impl MemberStatus for Status {
    fn liveness(&mut self) -> &mut Liveness {
        &mut self.liveness
    }

    fn failed(&self) -> bool {
        self.state == State::Failed
    }

    fn set_failed(&mut self) {
        self.state = State::Failed;
    }

    fn holder_must_act(&self) -> bool {
        matches!(self.state, State::Failed | State::Revoking)
            || (self.state == State::Assigned && self.handed_out != self.assignments)
    }
}

impl Status {
    /// The holder gave up `released`.
    fn released(&mut self, released: Released<'_>) {
        match released {
            Released::All => {
                self.moved.clear();
                if self.state == State::Revoking {
                    self.state = State::Joining;
                    self.assignment.clear();
                }
            }
            Released::Only(partitions) => {
                self.moved.retain(|p| !partitions.contains(p));
                if self.moved.is_empty() {
                    // The moved partitions reach their new owner in the next round.
                    self.rejoin = true;
                }
            }
        }
    }

    /// A member joining to split `partitions` (sorted), holding nothing.
    fn joining(partitions: Vec<String>) -> Status {
        Status {
            state: State::Joining,
            assignment: Vec::new(),
            added: Vec::new(),
            moved: Vec::new(),
            rejoining: false,
            rejoin: false,
            assignments: 0,
            handed_out: 0,
            liveness: Liveness::new(),
            partitions,
        }
    }

    /// A generation's assignment: what the holder must give up (moved, in
    /// an incremental round) and take (added). What the previous
    /// assignment added and the holder was not handed yet was never the
    /// holder's: there is nothing to give up, and it is handed out still
    /// if it stays.
    fn take_assignment(&mut self, assignment: Vec<TopicPartition>) {
        let before = std::mem::replace(&mut self.assignment, assignment);
        let pending = if self.handed_out == self.assignments {
            Vec::new()
        } else {
            std::mem::take(&mut self.added)
        };
        let holders: Vec<&TopicPartition> = before.iter().filter(|p| !pending.contains(p)).collect();
        self.moved = holders
            .iter()
            .filter(|p| !self.assignment.contains(p))
            .map(|p| (*p).clone())
            .collect();
        self.added = self
            .assignment
            .iter()
            .filter(|p| !holders.contains(p))
            .cloned()
            .collect();
        self.state = State::Assigned;
        self.rejoining = false;
        self.assignments += 1;
    }
}

type Shared = SharedStatus<Status>;

/// Whether the holder has partitions to give up before the next join.
fn revoke_pending(shared: &Shared) -> bool {
    let status = shared.lock();
    status.state == State::Revoking || (status.state == State::Assigned && !status.moved.is_empty())
}

/// A member of one group. Dropping it without [`KafkaGroupMember::stop`]
/// ends its task without leaving: the coordinator removes the member after
/// the session timeout.
pub struct KafkaGroupMember {
    shared: Arc<Shared>,
    task: MemberTask,
}

impl KafkaGroupMember {
    /// Starts joining `settings.group_id` on `cluster` (a client of the
    /// member's own) to split `partitions` (`<topic>-<partition>` names,
    /// watched for changes); the assignment comes as a [`MemberEvent`].
    pub fn start(
        cluster: KafkaCluster,
        settings: GroupMemberSettings,
        partitions: Vec<String>,
    ) -> Result<KafkaGroupMember> {
        if assignors::assign(&settings.assignor, &[], &BTreeMap::new()).is_none() {
            return Err(Error::configuration(format!(
                "partition_assignment_strategy {:?} is not one of {}",
                settings.assignor,
                assignors::ASSIGNOR_NAMES.join(", ")
            )));
        }
        let mut partitions = partitions;
        partitions.sort();
        let status = Status::joining(partitions);
        let shared = Arc::new(Shared::new(status, settings.session_timeout));
        let task = engine::runtime()?.spawn(run(Arc::clone(&shared), cluster, settings));
        Ok(KafkaGroupMember {
            shared,
            task: MemberTask::new(task),
        })
    }

    /// The generation the member is in, which its consumer's commits carry.
    pub fn generation(&self) -> Arc<MemberGeneration> {
        Arc::clone(&self.shared.generation)
    }

    /// What the holder must do now; an `Assigned` is given once per
    /// generation. Each call counts as the holder's sign of life at `now`
    /// (a time it read just before) for `max_poll_interval`.
    /// With `Continue`, whether the holder may hand out messages at `now`
    /// too, under the same lock ([`Self::may_deliver_at`]): the question a
    /// holder asks before every message.
    /// A `Vouch::Until` stands for later questions while
    /// [`Self::vouch_stands`] says so.
    pub fn event(&self, now: Instant) -> (MemberEvent, Vouch) {
        let (mut status, failure) = self.shared.polled(now);
        if let Some(error) = failure {
            return (MemberEvent::Failed(error), Vouch::No);
        }
        let event = match status.state {
            State::Revoking => MemberEvent::Revoke,
            State::Assigned if !status.moved.is_empty() => MemberEvent::RevokeSome(status.moved.clone()),
            // Not a counted change: the answer it turns from `Assigned`
            // to `Continue` was not a standing one.
            State::Assigned if status.handed_out != status.assignments => {
                status.handed_out = status.assignments;
                MemberEvent::Assigned(std::mem::take(&mut status.added))
            }
            _ => MemberEvent::Continue,
        };
        if !matches!(event, MemberEvent::Continue) || !self.vouches(&status, now) {
            return (event, Vouch::No);
        }
        // While rejoining, the answer does not rest on a confirmation (see `vouches`).
        let confirmed_at = (!status.rejoining).then_some(status.liveness.confirmed_at);
        let vouch = self.shared.standing(&status, now, confirmed_at);
        (event, vouch)
    }

    /// Whether `standing`, from [`Self::event`], still stands at `now` (a
    /// time the holder read just before): then [`Self::event`] would
    /// answer `Continue` and vouch for `now`. No lock.
    pub fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        self.shared.vouch_stands(standing, now)
    }

    /// The holder gave up `released` after a `Revoke` or `RevokeSome`: the
    /// member joins again once it holds nothing it must give up. A round
    /// lost while the holder gave up some partitions leaves it `Revoking`,
    /// so the holder is asked for the rest.
    pub fn released(&self, released: Released<'_>) {
        self.shared.update(|status| status.released(released));
    }

    /// Whether the holder may hand out messages at `now` (a time it read
    /// just before): an assignment is held and the coordinator confirmed
    /// the membership recently.
    pub fn may_deliver_at(&self, now: Instant) -> bool {
        self.vouches(&self.shared.lock(), now)
    }

    fn vouches(&self, status: &Status, now: Instant) -> bool {
        status.state == State::Assigned && (status.rejoining || self.shared.trusted(status.liveness.confirmed_at, now))
    }

    /// Whether the holder may commit: not once the member failed (the
    /// coordinator checks the generation of every other commit).
    pub fn may_commit(&self) -> Result<()> {
        self.shared.may_commit()
    }

    /// How to wake the holder while it waits for messages rather than in
    /// [`Self::wait`]: called whenever an event comes for it.
    pub(crate) fn wake_holder_with(&self, waker: HolderWaker) {
        self.shared.wake_holder_with(waker);
    }

    /// Waits up to `timeout` for the state to change; returns at once when
    /// there is something to do.
    pub fn wait(&self, timeout: Duration) {
        self.shared.wait(timeout, |status| (status.state, status.assignments));
    }

    /// The partition set read again; a change makes the member join again
    /// so that the leader assigns the new set.
    pub fn update_partitions(&self, mut partitions: Vec<String>) {
        partitions.sort();
        self.shared.update(|status| {
            if status.partitions != partitions {
                status.partitions = partitions;
                status.rejoin = true;
            }
        });
    }

    /// Leaves the group (LeaveGroup, except for a static member, which the
    /// coordinator keeps for the session timeout as the Java client does)
    /// within `timeout`. The holder must have committed and given up its
    /// partitions. Stopping twice is harmless.
    pub fn stop(&self, timeout: Duration) -> Result<()> {
        self.shared.stop(&self.task, timeout)
    }
}

/// Why heartbeating ended.
enum AfterHeartbeats {
    /// Asked to leave.
    Leave,
    /// A rebalance: join again (giving up the partitions first, unless
    /// the rebalance is incremental).
    Rejoin,
    /// The group moved on without this member (unknown member, old
    /// generation): its partitions may be another's, give them all up.
    Lost,
}

/// The member's identity on the wire between generations.
struct Identity {
    member_id: String,
}

/// The member task: joins, heartbeats, rejoins after each rebalance, until
/// asked to leave or out of the group for good; then leaves and fails the
/// shared status, so the holder stops.
async fn run(shared: Arc<Shared>, cluster: KafkaCluster, settings: GroupMemberSettings) {
    let coordinator = GroupCoordinator::new(&settings.group_id);
    let mut identity = Identity {
        member_id: String::new(),
    };
    let outcome = membership(&shared, &cluster, &coordinator, &settings, &mut identity).await;
    if !identity.member_id.is_empty() && settings.group_instance_id.is_none() {
        let _ = leave(&cluster, &coordinator, &settings, &identity.member_id).await;
    }
    shared.end(outcome);
}

async fn membership(
    shared: &Shared,
    cluster: &KafkaCluster,
    coordinator: &GroupCoordinator,
    settings: &GroupMemberSettings,
    identity: &mut Identity,
) -> Result<()> {
    loop {
        // The holder gives its partitions up (all of them, or those an
        // incremental round moved) before the member joins again.
        while revoke_pending(shared) {
            if shared.leaving() {
                return Ok(());
            }
            if let Some(error) = shared.poll_overdue(settings.max_poll_interval) {
                return Err(error);
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
        if shared.leaving() {
            return Ok(());
        }
        if shared.lock().state != State::Assigned {
            shared.generation.set(None);
        }
        shared.update(|status| status.rejoin = false);
        // A JoinGroup waits for the whole rebalance: leaving must not wait for it.
        let joined = tokio::select! {
            joined = join_and_sync(shared, cluster, coordinator, settings, identity) => joined?,
            () = shared.until_leaving(STATUS_POLL) => return Ok(()),
        };
        let Some((generation, assignment)) = joined else {
            // No JoinGroup waits at the coordinator now: the partitions are
            // vouched for only by the last answered request again.
            shared.update(|status| status.rejoining = false);
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        };
        shared.generation.set(Some(generation));
        shared.update(|status| status.take_assignment(assignment));
        let cooperative = assignors::is_cooperative(&settings.assignor);
        match heartbeats(shared, cluster, coordinator, settings, identity).await? {
            AfterHeartbeats::Leave => return Ok(()),
            // Incremental: keep consuming while joining again.
            AfterHeartbeats::Rejoin if cooperative => shared.update(|status| status.rejoining = true),
            AfterHeartbeats::Rejoin | AfterHeartbeats::Lost => shared.update(|status| status.state = State::Revoking),
        };
    }
}

/// A broker refusal as the member reads it.
enum Refusal {
    /// Join again at once (the member id changed).
    Now,
    /// Join again after a pause.
    Later,
    /// Out of the group for good.
    Fatal(Error),
}

/// What a refusal of a group request means for the member; forgets the
/// member id or the coordinator as the code says.
fn refusal(code: i16, context: &str, coordinator: &GroupCoordinator, identity: &mut Identity) -> Refusal {
    match ResponseError::try_from_code(code) {
        Some(ResponseError::UnknownMemberId) => {
            identity.member_id.clear();
            Refusal::Now
        }
        Some(ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration) => Refusal::Now,
        Some(
            ResponseError::NotCoordinator
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::CoordinatorLoadInProgress,
        ) => {
            coordinator.forget();
            Refusal::Later
        }
        _ => Refusal::Fatal(Error::from_kafka(code, context).with_code(ErrorCode::ConsumerGroup)),
    }
}

/// The coordinator's connection; `None` (after a pause) when it cannot be
/// reached now.
pub(crate) async fn coordinator_connection(
    cluster: &KafkaCluster,
    coordinator: &GroupCoordinator,
) -> Result<Option<Arc<BrokerConnection>>> {
    let deadline = tokio::time::Instant::now().into_std() + cluster.options().request_timeout;
    match coordinator.connection(cluster, deadline).await {
        Ok(connection) => Ok(Some(connection)),
        Err(error) if retriable_transport(&error) => {
            coordinator.forget();
            Ok(None)
        }
        Err(error) => Err(error.with_code(ErrorCode::ConsumerGroup)),
    }
}

pub(crate) fn retriable_transport(error: &Error) -> bool {
    matches!(
        error.code(),
        ErrorCode::Transport | ErrorCode::RequestTimedOut | ErrorCode::TimedOut | ErrorCode::KafkaUnavailable
    ) || error.kafka_code().is_some_and(|code| {
        matches!(
            ResponseError::try_from_code(code),
            Some(
                ResponseError::NotCoordinator
                    | ResponseError::CoordinatorNotAvailable
                    | ResponseError::CoordinatorLoadInProgress
            )
        )
    })
}

/// One JoinGroup and SyncGroup round; `None` when it must be tried again.
async fn join_and_sync(
    shared: &Shared,
    cluster: &KafkaCluster,
    coordinator: &GroupCoordinator,
    settings: &GroupMemberSettings,
    identity: &mut Identity,
) -> Result<Option<(Generation, Vec<TopicPartition>)>> {
    loop {
        let Some(connection) = coordinator_connection(cluster, coordinator).await? else {
            return Ok(None);
        };
        let version = connection.versions().version_for::<JoinGroupRequest>()?;
        let owned = shared.lock().assignment.clone();
        let request = join_request(settings, &identity.member_id, &owned, version)?;
        let sent = Instant::now();
        let response = match connection
            .send_within(&request, settings.max_poll_interval + JOIN_MARGIN)
            .await
        {
            Ok((response, _)) => response,
            Err(error) if retriable_transport(&error) => {
                coordinator.forget();
                return Ok(None);
            }
            Err(error) => return Err(error.with_code(ErrorCode::ConsumerGroup)),
        };
        if ResponseError::try_from_code(response.error_code) == Some(ResponseError::MemberIdRequired) {
            // Kafka 2.2+: the member id comes first, then the real join.
            identity.member_id = response.member_id.to_string();
            continue;
        }
        if response.error_code != 0 {
            return match refusal(response.error_code, "JoinGroup", coordinator, identity) {
                Refusal::Now => continue,
                Refusal::Later => Ok(None),
                Refusal::Fatal(error) => Err(error),
            };
        }
        shared.confirm(sent);
        identity.member_id = response.member_id.to_string();
        let generation = Generation {
            generation_id: response.generation_id,
            member_id: identity.member_id.clone(),
            group_instance_id: settings.group_instance_id.clone(),
        };
        let assignments = if response.leader == response.member_id {
            leader_assignments(cluster, settings, &response).await?
        } else {
            Vec::new()
        };
        let protocol_name = response.protocol_name.clone();
        let version = connection.versions().version_for::<SyncGroupRequest>()?;
        let mut sync = SyncGroupRequest::default()
            .with_group_id(group_id(&settings.group_id))
            .with_generation_id(generation.generation_id)
            .with_member_id(StrBytes::from_string(identity.member_id.clone()))
            .with_group_instance_id(None)
            .with_protocol_type(None)
            .with_protocol_name(None)
            .with_assignments(assignments);
        if version >= 3 {
            sync = sync.with_group_instance_id(settings.group_instance_id.clone().map(StrBytes::from_string));
        }
        if version >= 5 {
            sync = sync
                .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
                .with_protocol_name(protocol_name);
        }
        let sent = Instant::now();
        let answer = match connection
            .send_within_undecoded(&sync, settings.max_poll_interval + JOIN_MARGIN)
            .await
            .and_then(|(body, version)| decode_sync_answer(body, version))
        {
            Ok(answer) => answer,
            Err(error) if retriable_transport(&error) => {
                coordinator.forget();
                return Ok(None);
            }
            Err(error) => return Err(error.with_code(ErrorCode::ConsumerGroup)),
        };
        if ResponseError::try_from_code(answer.error_code) == Some(ResponseError::InvalidRequest) {
            // librdkafka's mock ends a generation's sync as soon as the
            // leader's assignment names every member, and refuses a
            // follower's SyncGroup that comes after (docs/protocol-notes.md):
            // join again, as librdkafka's members do.
            return Ok(None);
        }
        if answer.error_code != 0 {
            return match refusal(answer.error_code, "SyncGroup", coordinator, identity) {
                Refusal::Now => continue,
                Refusal::Later => Ok(None),
                Refusal::Fatal(error) => Err(error),
            };
        }
        shared.confirm(sent);
        return Ok(Some((generation, decode_assignment(answer.assignment)?)));
    }
}

/// A SyncGroup answer. librdkafka's mock brokers write a refusal's
/// assignment as null bytes, which the field does not allow and a strict
/// decode refuses (docs/protocol-notes.md): then the refusal is read from
/// the error code, after the throttle time from v1 on.
fn decode_sync_answer(body: Bytes, version: i16) -> Result<SyncGroupResponse> {
    decode_response::<SyncGroupRequest>(body.clone(), version).or_else(|error| {
        let mut fields = body;
        if version >= 1 && fields.remaining() >= 4 {
            fields.advance(4);
        }
        match (fields.remaining() >= 2).then(|| fields.get_i16()) {
            Some(code) if code != 0 => Ok(SyncGroupResponse::default().with_error_code(code)),
            _ => Err(error),
        }
    })
}

fn join_request(
    settings: &GroupMemberSettings,
    member_id: &str,
    owned: &[TopicPartition],
    version: i16,
) -> Result<JoinGroupRequest> {
    let protocol = JoinGroupRequestProtocol::default()
        .with_name(StrBytes::from_string(settings.assignor.clone()))
        .with_metadata(encode_subscription(&settings.topics, owned)?);
    let mut request = JoinGroupRequest::default()
        .with_group_id(group_id(&settings.group_id))
        .with_session_timeout_ms(millis(settings.session_timeout))
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_group_instance_id(None)
        .with_reason(None)
        .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
        .with_protocols(vec![protocol]);
    if version >= 1 {
        request = request.with_rebalance_timeout_ms(millis(settings.max_poll_interval));
    }
    if version >= 5 {
        request = request.with_group_instance_id(settings.group_instance_id.clone().map(StrBytes::from_string));
    } else if settings.group_instance_id.is_some() {
        return Err(Error::new(
            ErrorCode::UnsupportedVersion,
            "group_instance_id needs JoinGroup v5 (Kafka 2.3), which the coordinator does not offer",
        ));
    }
    Ok(request)
}

pub(crate) fn millis(duration: Duration) -> i32 {
    duration.as_millis().min(i32::MAX as u128) as i32
}

/// The leader's work: every member's subscription, the partition counts
/// of the topics subscribed to, the assignor's split, encoded.
async fn leader_assignments(
    cluster: &KafkaCluster,
    settings: &GroupMemberSettings,
    response: &JoinGroupResponse,
) -> Result<Vec<SyncGroupRequestAssignment>> {
    let members = response
        .members
        .iter()
        .map(|member| {
            let (topics, owned) = decode_subscription(member.metadata.clone())?;
            Ok(MemberSubscription {
                member_id: member.member_id.to_string(),
                group_instance_id: member.group_instance_id.as_ref().map(|id| id.to_string()),
                topics,
                owned,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let topics: BTreeSet<String> = members.iter().flat_map(|m| m.topics.iter().cloned()).collect();
    let topics: Vec<String> = topics.into_iter().collect();
    let metadata = cluster.fetch_metadata(Some(&topics)).await.map_err(|e| {
        e.with_code(ErrorCode::ConsumerGroup)
            .context("the leader reading partition counts")
    })?;
    let counts: BTreeMap<String, i32> = metadata
        .topic_partitions()
        .into_iter()
        .filter(|(topic, _)| topics.contains(topic))
        .map(|(topic, partitions)| (topic, partitions.len() as i32))
        .collect();
    let assignor = response
        .protocol_name
        .as_ref()
        .map_or(settings.assignor.clone(), |name| name.to_string());
    let split = assignors::assign(&assignor, &members, &counts).ok_or_else(|| {
        Error::new(
            ErrorCode::ConsumerGroup,
            format!("the group chose assignor {assignor:?}, which this member does not run"),
        )
    })?;
    split
        .into_iter()
        .map(|(member_id, partitions)| {
            Ok(SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_string(member_id))
                .with_assignment(encode_assignment(&partitions)?))
        })
        .collect()
}

/// Heartbeats every `heartbeat_interval` until a rebalance, a leave or a
/// fatal refusal; also leaves (as an error) when the holder stopped asking.
async fn heartbeats(
    shared: &Shared,
    cluster: &KafkaCluster,
    coordinator: &GroupCoordinator,
    settings: &GroupMemberSettings,
    identity: &mut Identity,
) -> Result<AfterHeartbeats> {
    let generation = shared
        .generation
        .current()
        .map_or(-1, |generation| generation.generation_id);
    let mut next_beat = tokio::time::Instant::now() + settings.heartbeat_interval;
    loop {
        if shared.leaving() {
            return Ok(AfterHeartbeats::Leave);
        }
        if let Some(error) = shared.poll_overdue(settings.max_poll_interval) {
            return Err(error);
        }
        if shared.lock().rejoin {
            return Ok(AfterHeartbeats::Rejoin);
        }
        if tokio::time::Instant::now() < next_beat {
            tokio::time::sleep(STATUS_POLL).await;
            continue;
        }
        next_beat = tokio::time::Instant::now() + settings.heartbeat_interval;
        let Some(connection) = coordinator_connection(cluster, coordinator).await? else {
            continue;
        };
        let version = connection.versions().version_for::<HeartbeatRequest>()?;
        let mut request = HeartbeatRequest::default()
            .with_group_id(group_id(&settings.group_id))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(identity.member_id.clone()))
            .with_group_instance_id(None);
        if version >= 3 {
            request = request.with_group_instance_id(settings.group_instance_id.clone().map(StrBytes::from_string));
        }
        let sent = Instant::now();
        let code = match connection.send(&request).await {
            Ok((response, _)) => response.error_code,
            Err(error) if retriable_transport(&error) => {
                coordinator.forget();
                continue;
            }
            Err(error) => return Err(error.with_code(ErrorCode::ConsumerGroup)),
        };
        if code == 0 {
            shared.confirm(sent);
            continue;
        }
        if ResponseError::try_from_code(code) == Some(ResponseError::RebalanceInProgress) {
            // Still a member: the partitions are ours until we rejoin.
            shared.confirm(sent);
        }
        let lost = matches!(
            ResponseError::try_from_code(code),
            Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration)
        );
        match refusal(code, "Heartbeat", coordinator, identity) {
            Refusal::Now if lost => return Ok(AfterHeartbeats::Lost),
            Refusal::Now => return Ok(AfterHeartbeats::Rejoin),
            Refusal::Later => continue,
            Refusal::Fatal(error) => return Err(error),
        }
    }
}

/// Leaves the group so that it rebalances at once.
async fn leave(
    cluster: &KafkaCluster,
    coordinator: &GroupCoordinator,
    settings: &GroupMemberSettings,
    member_id: &str,
) -> Result<()> {
    // A connection of its own: the pooled one may still carry the
    // JoinGroup abandoned when the member was asked to leave.
    let deadline = Instant::now() + cluster.options().request_timeout;
    let connection = coordinator.new_connection(cluster, deadline).await?;
    let version = connection.versions().version_for::<LeaveGroupRequest>()?;
    let member_id = StrBytes::from_string(member_id.to_string());
    let request = LeaveGroupRequest::default().with_group_id(group_id(&settings.group_id));
    // v3 leaves as a list of members (batch leave of static members).
    let request = if version >= 3 {
        request.with_members(vec![MemberIdentity::default()
            .with_member_id(member_id)
            .with_group_instance_id(None)
            .with_reason(None)])
    } else {
        request.with_member_id(member_id)
    };
    connection.send(&request).await?;
    Ok(())
}

/// A subscription as the Java client and librdkafka read it: the version,
/// then the `ConsumerProtocolSubscription` body at that version, with the
/// partitions the member holds (which incremental rebalances rely on).
fn encode_subscription(topics: &[String], owned: &[TopicPartition]) -> Result<Bytes> {
    let owned = by_topic(owned.iter().map(|p| (p.topic.as_str(), p.partition)))
        .into_iter()
        .map(|(topic, partitions)| {
            OwnedTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions)
        })
        .collect();
    let subscription = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| StrBytes::from_string(t.clone())).collect())
        .with_user_data(None)
        .with_owned_partitions(owned);
    encode_versioned(&subscription, SUBSCRIPTION_VERSION)
}

/// The topics and owned partitions of a member's subscription, of
/// whatever version it wrote.
fn decode_subscription(bytes: Bytes) -> Result<(Vec<String>, Partitions)> {
    let subscription: ConsumerProtocolSubscription = decode_versioned(bytes, "subscription")?;
    let owned = subscription
        .owned_partitions
        .iter()
        .flat_map(|topic| topic.partitions.iter().map(|p| (topic.topic.0.to_string(), *p)))
        .collect();
    Ok((subscription.topics.iter().map(|t| t.to_string()).collect(), owned))
}

/// Partition numbers grouped by topic.
fn by_topic<'a>(partitions: impl Iterator<Item = (&'a str, i32)>) -> BTreeMap<&'a str, Vec<i32>> {
    let mut grouped: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        grouped.entry(topic).or_default().push(partition);
    }
    grouped
}

fn encode_assignment(partitions: &[(String, i32)]) -> Result<Bytes> {
    let assignment = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            by_topic(partitions.iter().map(|(topic, partition)| (topic.as_str(), *partition)))
                .into_iter()
                .map(|(topic, partitions)| {
                    AssignedTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_user_data(None);
    encode_versioned(&assignment, ASSIGNMENT_VERSION)
}

/// This member's partitions in a SyncGroup answer (empty: none).
fn decode_assignment(bytes: Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let assignment: ConsumerProtocolAssignment = decode_versioned(bytes, "assignment")?;
    let mut partitions = Vec::new();
    for topic in &assignment.assigned_partitions {
        let name = Topic::new(&topic.topic.0)?;
        partitions.extend(
            topic
                .partitions
                .iter()
                .map(|partition| TopicPartition::new(name.clone(), *partition)),
        );
    }
    partitions.sort();
    Ok(partitions)
}

fn encode_versioned<T: Encodable>(body: &T, version: i16) -> Result<Bytes> {
    let mut buffer = BytesMut::new();
    buffer.put_i16(version);
    body.encode(&mut buffer, version)
        .map_err(|e| Error::new(ErrorCode::Internal, format!("encoding a consumer protocol body: {e}")))?;
    Ok(buffer.freeze())
}

/// Reads the leading version and the body at that version; a version newer
/// than the codec knows is read as the newest it knows (later versions
/// only append fields), and what follows is ignored.
fn decode_versioned<T: Decodable + Message>(mut bytes: Bytes, what: &str) -> Result<T> {
    let malformed = |why: String| Error::new(ErrorCode::Protocol, format!("a member's {what}: {why}"));
    if bytes.remaining() < 2 {
        return Err(malformed("shorter than its version".into()));
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(malformed(format!("version {version}")));
    }
    T::decode(&mut bytes, version.min(T::VERSIONS.max)).map_err(|e| malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders(partitions: &[i32]) -> Vec<TopicPartition> {
        let topic = Topic::new("orders").unwrap();
        partitions
            .iter()
            .map(|p| TopicPartition::new(topic.clone(), *p))
            .collect()
    }

    #[test]
    fn an_incremental_round_moves_only_what_the_holder_was_handed() {
        let mut status = Status::joining(Vec::new());
        status.take_assignment(orders(&[0, 1, 2, 3]));
        status.handed_out = status.assignments;
        status.take_assignment(orders(&[0, 1, 4]));
        assert_eq!(status.moved, orders(&[2, 3]));
        assert_eq!(status.added, orders(&[4]));
    }

    #[test]
    fn a_round_lost_while_the_holder_gives_some_up_asks_for_the_rest() {
        let mut status = Status::joining(Vec::new());
        status.take_assignment(orders(&[0, 1, 2, 3]));
        status.handed_out = status.assignments;
        status.take_assignment(orders(&[0, 1]));
        assert_eq!(status.moved, orders(&[2, 3]));
        // The membership is lost while the holder gives 2 and 3 up.
        status.state = State::Revoking;
        status.released(Released::Only(&orders(&[2, 3])));
        assert_eq!(
            status.state,
            State::Revoking,
            "0 and 1 are still the holder's to give up"
        );
        status.released(Released::All);
        assert_eq!(status.state, State::Joining);
        assert!(status.assignment.is_empty());
    }

    #[test]
    fn an_assignment_the_holder_was_not_handed_is_not_given_up() {
        let mut status = Status::joining(Vec::new());
        status.take_assignment(orders(&[0, 1]));
        status.handed_out = status.assignments;
        status.take_assignment(orders(&[0, 1, 2, 3]));
        // A rebalance before the holder asked for 2 and 3.
        status.take_assignment(orders(&[1, 3, 4]));
        assert_eq!(status.moved, orders(&[0]), "only what the holder was handed");
        assert_eq!(status.added, orders(&[3, 4]), "3 is still to be handed out, 2 never");
    }

    #[test]
    fn a_subscription_reads_back_its_topics() {
        let topics = vec!["a".to_string(), "b".to_string()];
        let owned = [
            TopicPartition::new(Topic::new("b").unwrap(), 3),
            TopicPartition::new(Topic::new("a").unwrap(), 1),
        ];
        let bytes = encode_subscription(&topics, &owned).unwrap();
        assert_eq!(&bytes[..2], &SUBSCRIPTION_VERSION.to_be_bytes());
        let (read, owned) = decode_subscription(bytes).unwrap();
        assert_eq!(read, topics);
        assert_eq!(owned, [("a".to_string(), 1), ("b".to_string(), 3)]);
    }

    #[test]
    fn a_librdkafka_v3_subscription_is_read() {
        // What librdkafka 2.x writes: version 3 with owned partitions,
        // generation and rack.
        let body = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("orders")])
            .with_user_data(None)
            .with_generation_id(7)
            .with_rack_id(None);
        let bytes = encode_versioned(&body, 3).unwrap();
        assert_eq!(decode_subscription(bytes).unwrap().0, ["orders"]);
    }

    #[test]
    fn an_assignment_reads_back_sorted() {
        let bytes = encode_assignment(&[("t".into(), 2), ("s".into(), 0), ("t".into(), 0)]).unwrap();
        let read: Vec<String> = decode_assignment(bytes)
            .unwrap()
            .iter()
            .map(|p| format!("{}-{}", p.topic.as_str(), p.partition))
            .collect();
        assert_eq!(read, ["s-0", "t-0", "t-2"]);
    }

    #[test]
    fn a_sync_refusal_with_null_assignment_bytes_reads_as_its_error_code() {
        // throttle_time_ms, error_code REBALANCE_IN_PROGRESS (27), bytes length -1.
        let body = Bytes::from_static(&[0, 0, 0, 0, 0, 27, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_sync_answer(body, 3).unwrap().error_code, 27);
        let garbage = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_sync_answer(garbage, 3).unwrap_err().code(), ErrorCode::Protocol);
    }

    #[test]
    fn an_empty_assignment_is_no_partitions_and_garbage_is_an_error() {
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
        assert_eq!(
            decode_assignment(Bytes::from_static(&[0])).unwrap_err().code(),
            ErrorCode::Protocol
        );
    }
}
