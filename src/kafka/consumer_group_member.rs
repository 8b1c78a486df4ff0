//! A member of a consumer group balanced by Kafka's next-generation
//! consumer group protocol (KIP-848, `group_protocol=kafka_consumer`;
//! docs/consumer-groups.md, "The next-generation protocol"; wire details
//! in docs/protocol-notes.md): one request, ConsumerGroupHeartbeat, joins
//! (member epoch 0), heartbeats at the interval the coordinator gives,
//! carries the subscription and the partitions the member owns, and leaves
//! (epoch −1, a static member −2). The coordinator computes the split
//! (`group_remote_assignor`, or its default) and sends each member its
//! target assignment by topic id.
//!
//! Owns one engine task, the member id (generated here, KIP-1082), the
//! member epoch ([`MemberGeneration`], which the member's commits carry as
//! their generation) and the reconciliation of the target assignment:
//! partitions no longer assigned are given up first (the holder commits
//! and runs its pre-rebalance callback), then the new ones are taken, and
//! the next heartbeat acknowledges the assignment now owned. As with the
//! classic member ([`crate::kafka::group_member`], whose coordinator
//! lookup, retry rules and [`MemberEvent`]s this member shares), the task
//! never calls the holder: it changes the shared status, and the holder
//! asks for events on its own thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedTopic;
use kafka_protocol::messages::consumer_group_heartbeat_response::Assignment;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::coordinator::{group_id, Generation, GroupCoordinator, MemberGeneration};
use crate::kafka::group_member::{
    coordinator_connection, millis, retriable_transport, GroupMemberSettings, MemberEvent, Released,
};
use crate::kafka::member_status::{HolderWaker, Liveness, MemberStatus, MemberTask, SharedStatus};
use crate::kafka::{topic_name, BrokerConnection, KafkaCluster};
use crate::topic_partition::{Topic, TopicPartition};
use crate::vouch::{StandingVouch, Vouch};

/// The server-side assignors `group_remote_assignor` may name.
pub const SERVER_ASSIGNORS: &[&str] = &["uniform", "range"];
/// How often the task looks at the shared status between heartbeats.
const STATUS_POLL: Duration = Duration::from_millis(20);
/// Pause before trying again after a coordinator could not be reached.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// The member epoch that leaves the group; a static member's keeps its
/// place for the session timeout.
const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Joining (epoch 0) or reconciling a first assignment: nothing held.
    Joining,
    /// In the group with an assignment (maybe empty) the holder has.
    Assigned,
    /// Final.
    Failed,
}

struct Status {
    state: State,
    /// What the holder owns now, sorted.
    held: Vec<TopicPartition>,
    /// Taken in the latest reconciliation, for the holder to acquire.
    added: Vec<TopicPartition>,
    /// For the holder to give up before the new assignment is acknowledged.
    revoking: Vec<TopicPartition>,
    /// The membership is lost: the holder gives everything up.
    revoke_all: bool,
    /// Counts reconciliations; the holder has seen up to `handed_out`.
    assignments: u64,
    handed_out: u64,
    liveness: Liveness,
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
        self.state == State::Failed
            || self.revoke_all
            || !self.revoking.is_empty()
            || (self.state == State::Assigned && self.handed_out != self.assignments)
    }
}

impl Status {
    /// The holder gave up `released`.
    fn released(&mut self, released: Released<'_>) {
        match released {
            Released::All => {
                self.revoke_all = false;
                self.revoking.clear();
                self.held.clear();
                self.state = State::Joining;
            }
            Released::Only(partitions) => {
                self.revoking.retain(|p| !partitions.contains(p));
                self.held.retain(|p| !partitions.contains(p));
                if self.revoke_all && self.held.is_empty() {
                    self.revoke_all = false;
                    self.state = State::Joining;
                }
            }
        }
    }

    /// Out of the group (fenced, or unknown to the coordinator): every
    /// partition the holder has is to be given up.
    fn lost(&mut self) {
        self.revoking.clear();
        self.forget_pending(|_| false);
        self.revoke_all = !self.held.is_empty();
        if !self.revoke_all {
            self.state = State::Joining;
        }
    }

    /// A member joining, holding nothing.
    fn joining() -> Status {
        Status {
            state: State::Joining,
            held: Vec::new(),
            added: Vec::new(),
            revoking: Vec::new(),
            revoke_all: false,
            assignments: 0,
            handed_out: 0,
            liveness: Liveness::new(),
        }
    }

    /// Forgets the partitions of an assignment not handed to the holder
    /// yet that `keep` rejects: they were never the holder's, so there is
    /// nothing to give up, and handing them out later would make the
    /// holder consume partitions the coordinator gave to another member.
    /// True when it forgot any.
    fn forget_pending(&mut self, keep: impl Fn(&TopicPartition) -> bool) -> bool {
        if self.handed_out == self.assignments {
            return false;
        }
        let (kept, forgotten): (Vec<_>, Vec<_>) = std::mem::take(&mut self.added).into_iter().partition(|p| keep(p));
        self.held.retain(|p| !forgotten.contains(p));
        self.added = kept;
        !forgotten.is_empty()
    }
}

type Shared = SharedStatus<Status>;

/// Whether the holder still has partitions to give up.
fn revoke_pending(shared: &Shared) -> bool {
    let status = shared.lock();
    status.revoke_all || !status.revoking.is_empty()
}

/// A member of one group under the consumer protocol. Dropping it without
/// [`ConsumerGroupMember::stop`] ends its task without leaving: the
/// coordinator removes the member after the session timeout.
pub struct ConsumerGroupMember {
    shared: Arc<Shared>,
    task: MemberTask,
}

impl ConsumerGroupMember {
    /// Starts joining `settings.group_id` on `cluster` (a client of the
    /// member's own); `settings.assignor` names the server-side assignor
    /// (empty: the coordinator's default). The assignment comes as a
    /// [`MemberEvent`].
    pub fn start(cluster: KafkaCluster, settings: GroupMemberSettings) -> Result<ConsumerGroupMember> {
        if !settings.assignor.is_empty() && !SERVER_ASSIGNORS.contains(&settings.assignor.as_str()) {
            return Err(Error::configuration(format!(
                "group_remote_assignor {:?} is not one of {}",
                settings.assignor,
                SERVER_ASSIGNORS.join(", ")
            )));
        }
        let status = Status::joining();
        let shared = Arc::new(Shared::new(status, settings.session_timeout));
        let task = engine::runtime()?.spawn(run(Arc::clone(&shared), cluster, settings));
        Ok(ConsumerGroupMember {
            shared,
            task: MemberTask::new(task),
        })
    }

    /// The member epoch, which its consumer's commits carry.
    pub fn generation(&self) -> Arc<MemberGeneration> {
        Arc::clone(&self.shared.generation)
    }

    /// What the holder must do now; each call is its sign of life at
    /// `now` (a time it read just before) for `max_poll_interval`.
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
            _ if status.revoke_all => MemberEvent::Revoke,
            _ if !status.revoking.is_empty() => MemberEvent::RevokeSome(status.revoking.clone()),
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
        let confirmed_at = status.liveness.confirmed_at;
        let vouch = self.shared.standing(&status, now, Some(confirmed_at));
        (event, vouch)
    }

    /// Whether `standing`, from [`Self::event`], still stands at `now` (a
    /// time the holder read just before): then [`Self::event`] would
    /// answer `Continue` and vouch for `now`. No lock.
    pub fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        self.shared.vouch_stands(standing, now)
    }

    /// The holder gave up `released` after a `Revoke` or `RevokeSome`. A
    /// fencing while the holder gave up some partitions leaves the rest
    /// to give up, so the holder is asked for them.
    pub fn released(&self, released: Released<'_>) {
        self.shared.update(|status| status.released(released));
    }

    /// Whether the holder may hand out messages at `now` (a time it read
    /// just before): it holds an assignment and the coordinator accepted a
    /// heartbeat recently.
    pub fn may_deliver_at(&self, now: Instant) -> bool {
        self.vouches(&self.shared.lock(), now)
    }

    fn vouches(&self, status: &Status, now: Instant) -> bool {
        status.state == State::Assigned && !status.revoke_all && self.shared.trusted(status.liveness.confirmed_at, now)
    }

    /// Whether the holder may commit: not once the member failed (the
    /// coordinator checks the member epoch of every other commit).
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
        self.shared.wait(timeout, |status| {
            (
                status.state,
                status.assignments,
                status.revoking.len(),
                status.revoke_all,
            )
        });
    }

    /// Leaves the group (epoch −1; −2 for a static member) within
    /// `timeout`. The holder must have committed and given up its
    /// partitions. Stopping twice is harmless.
    pub fn stop(&self, timeout: Duration) -> Result<()> {
        self.shared.stop(&self.task, timeout)
    }
}

/// The member's place in the group between heartbeats.
struct Membership {
    member_id: String,
    epoch: i32,
    interval: Duration,
    /// The latest target assignment not yet reconciled.
    target: Option<Vec<TopicPartition>>,
    /// Topic names by id, for reading assignments.
    names: BTreeMap<Uuid, String>,
}

/// The member task: heartbeats and reconciles until asked to leave or out
/// of the group for good; then leaves and fails the shared status, so the
/// holder stops.
async fn run(shared: Arc<Shared>, cluster: KafkaCluster, settings: GroupMemberSettings) {
    let coordinator = GroupCoordinator::new(&settings.group_id);
    let mut membership = Membership {
        member_id: Uuid::new_v4().to_string(),
        epoch: 0,
        interval: settings.heartbeat_interval,
        target: None,
        names: BTreeMap::new(),
    };
    let outcome = heartbeats(&shared, &cluster, &coordinator, &settings, &mut membership).await;
    if membership.epoch > 0 {
        let epoch = match settings.group_instance_id {
            Some(_) => STATIC_LEAVE_EPOCH,
            None => LEAVE_EPOCH,
        };
        let leave = async {
            let connection = coordinator_connection(&cluster, &coordinator).await?;
            if let Some(connection) = connection {
                let request = heartbeat_request(&settings, &membership.member_id, epoch, None);
                connection.send(&request).await?;
            }
            Ok::<(), Error>(())
        };
        let _ = leave.await;
    }
    shared.end(outcome);
}

async fn heartbeats(
    shared: &Shared,
    cluster: &KafkaCluster,
    coordinator: &GroupCoordinator,
    settings: &GroupMemberSettings,
    membership: &mut Membership,
) -> Result<()> {
    let mut next_beat = tokio::time::Instant::now();
    // After a fencing the member joins again on a connection of its own,
    // closed after the answer: librdkafka's mock remembers per member the
    // last assignment it sent and leaves out of its answer one that is the
    // same, also to a member it fenced itself and kept (its assignment is
    // lost on our side); a closed connection clears that memory, so the
    // next heartbeat brings the whole assignment. Only after a fencing,
    // when the member holds nothing: the closed connection also makes the
    // mock forget what the member owns (docs/protocol-notes.md).
    let mut rejoin_apart = false;
    loop {
        if shared.leaving() {
            return Ok(());
        }
        if let Some(error) = shared.poll_overdue(settings.max_poll_interval) {
            return Err(error);
        }
        if reconcile(shared, membership) {
            // Acknowledge what is owned now at once.
            next_beat = tokio::time::Instant::now();
        }
        if tokio::time::Instant::now() < next_beat {
            tokio::time::sleep(STATUS_POLL).await;
            continue;
        }
        next_beat = tokio::time::Instant::now() + membership.interval;
        let Some(pooled) = coordinator_connection(cluster, coordinator).await? else {
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        };
        let apart = if rejoin_apart {
            let deadline = Instant::now() + cluster.options().request_timeout;
            match coordinator.new_connection(cluster, deadline).await {
                Ok(connection) => Some(connection),
                Err(error) if retriable_transport(&error) => {
                    coordinator.forget();
                    next_beat = tokio::time::Instant::now() + RETRY_PAUSE;
                    continue;
                }
                Err(error) => return Err(error.with_code(ErrorCode::ConsumerGroup)),
            }
        } else {
            None
        };
        let connection: &BrokerConnection = apart.as_ref().unwrap_or(&pooled);
        connection.versions().version_for::<ConsumerGroupHeartbeatRequest>().map_err(|_| {
            Error::new(
                ErrorCode::ConsumerGroup,
                format!(
                    "group_protocol=kafka_consumer is not supported by the broker: the coordinator {} does not offer ConsumerGroupHeartbeat (API key 68, KIP-848)",
                    connection.address()
                ),
            )
        })?;
        let owned = shared.lock().held.clone();
        let request = heartbeat_request(
            settings,
            &membership.member_id,
            membership.epoch,
            Some(owned_topics(&owned, &membership.names)),
        );
        let sent = Instant::now();
        let response = match connection.send(&request).await {
            Ok((response, _)) => response,
            Err(error) if retriable_transport(&error) => {
                coordinator.forget();
                continue;
            }
            Err(error) => return Err(error.with_code(ErrorCode::ConsumerGroup)),
        };
        match ResponseError::try_from_code(response.error_code) {
            None if response.error_code == 0 => {}
            Some(ResponseError::FencedMemberEpoch | ResponseError::UnknownMemberId) => {
                // Out of the group: give everything up, then join again.
                shared.generation.set(None);
                membership.epoch = 0;
                membership.target = None;
                rejoin_apart = true;
                shared.update(Status::lost);
                while revoke_pending(shared) && !shared.leaving() {
                    if let Some(error) = shared.poll_overdue(settings.max_poll_interval) {
                        return Err(error);
                    }
                    tokio::time::sleep(STATUS_POLL).await;
                }
                next_beat = tokio::time::Instant::now();
                continue;
            }
            Some(
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ) => {
                coordinator.forget();
                next_beat = tokio::time::Instant::now() + RETRY_PAUSE;
                continue;
            }
            _ => {
                let detail = response
                    .error_message
                    .as_ref()
                    .map_or(String::new(), |m| format!(": {m}"));
                return Err(
                    Error::from_kafka(response.error_code, format!("ConsumerGroupHeartbeat{detail}"))
                        .with_code(ErrorCode::ConsumerGroup),
                );
            }
        }
        shared.confirm(sent);
        rejoin_apart = false;
        if response.heartbeat_interval_ms > 0 {
            membership.interval = Duration::from_millis(response.heartbeat_interval_ms as u64);
        }
        if let Some(id) = response.member_id.as_ref().filter(|id| !id.is_empty()) {
            membership.member_id = id.to_string();
        }
        if response.member_epoch != membership.epoch {
            membership.epoch = response.member_epoch;
            shared.generation.set(Some(Generation {
                generation_id: membership.epoch,
                member_id: membership.member_id.clone(),
                group_instance_id: settings.group_instance_id.clone(),
            }));
        }
        if let Some(assignment) = response.assignment {
            membership.target = Some(assigned(connection, settings, &assignment, &mut membership.names).await?);
        }
    }
}

/// Where a reconciliation stands.
enum Reconciled {
    /// The holder is still giving partitions up.
    Waiting,
    /// The target is what the holder owns already (sent again after a
    /// rejoin apart): nothing to take, nothing to tell.
    Unchanged,
    /// The holder owns the target now; the coordinator must hear of it.
    Owned,
}

/// Moves the holder towards the target assignment: first what it must
/// give up, then (once it did) what it takes. True when the holder now
/// owns a new assignment that the coordinator must hear of.
fn reconcile(shared: &Shared, membership: &mut Membership) -> bool {
    let Some(target) = &membership.target else {
        return false;
    };
    let reconciled = shared.update(|status| {
        if status.revoke_all || !status.revoking.is_empty() {
            return Reconciled::Waiting;
        }
        let forgotten = status.forget_pending(|p| target.contains(p));
        if status.state == State::Assigned && status.held == *target {
            return if forgotten {
                Reconciled::Owned
            } else {
                Reconciled::Unchanged
            };
        }
        let revoke: Vec<TopicPartition> = status.held.iter().filter(|p| !target.contains(p)).cloned().collect();
        if !revoke.is_empty() {
            status.revoking = revoke;
            return Reconciled::Waiting;
        }
        let mut added = if status.handed_out == status.assignments {
            Vec::new()
        } else {
            std::mem::take(&mut status.added)
        };
        added.extend(target.iter().filter(|p| !status.held.contains(p)).cloned());
        added.sort();
        status.added = added;
        status.held = target.clone();
        status.state = State::Assigned;
        status.assignments += 1;
        Reconciled::Owned
    });
    match reconciled {
        Some(Reconciled::Owned) => {
            membership.target = None;
            true
        }
        Some(Reconciled::Unchanged) => {
            membership.target = None;
            false
        }
        Some(Reconciled::Waiting) | None => false,
    }
}

/// A heartbeat; `owned` (the partitions owned, by topic id) makes it a
/// full one with the subscription, `None` a leave.
fn heartbeat_request(
    settings: &GroupMemberSettings,
    member_id: &str,
    epoch: i32,
    owned: Option<Vec<OwnedTopic>>,
) -> ConsumerGroupHeartbeatRequest {
    let joined = owned.is_some();
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group_id(&settings.group_id))
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_member_epoch(epoch)
        .with_instance_id(settings.group_instance_id.clone().map(StrBytes::from_string))
        .with_rack_id(None)
        .with_rebalance_timeout_ms(millis(settings.max_poll_interval))
        // The full subscription on every heartbeat, which the protocol
        // allows: no state to lose across a coordinator move. librdkafka's
        // mock requires the regex alongside the names (docs/protocol-notes.md).
        .with_subscribed_topic_names(joined.then(|| settings.topics.iter().map(|t| topic_name(t)).collect()))
        .with_subscribed_topic_regex(joined.then(|| StrBytes::from_static_str("")))
        .with_server_assignor(
            Some(settings.assignor.clone())
                .filter(|a| joined && !a.is_empty())
                .map(StrBytes::from_string),
        )
        .with_topic_partitions(owned)
}

/// The owned partitions by topic id, as the heartbeat carries them.
fn owned_topics(owned: &[TopicPartition], names: &BTreeMap<Uuid, String>) -> Vec<OwnedTopic> {
    names
        .iter()
        .filter_map(|(id, name)| {
            let partitions: Vec<i32> = owned
                .iter()
                .filter(|p| p.topic.as_str() == name)
                .map(|p| p.partition)
                .collect();
            (!partitions.is_empty()).then(|| OwnedTopic::default().with_topic_id(*id).with_partitions(partitions))
        })
        .collect()
}

/// The partitions of an assignment, by name, sorted; topic ids not known
/// yet are looked up in the coordinator's metadata.
async fn assigned(
    connection: &BrokerConnection,
    settings: &GroupMemberSettings,
    assignment: &Assignment,
    names: &mut BTreeMap<Uuid, String>,
) -> Result<Vec<TopicPartition>> {
    if assignment
        .topic_partitions
        .iter()
        .any(|t| !names.contains_key(&t.topic_id))
    {
        let version = connection.versions().version_for::<MetadataRequest>()?;
        let request = MetadataRequest::default().with_topics(Some(
            settings
                .topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect(),
        ));
        let request = if version >= 4 {
            request.with_allow_auto_topic_creation(false)
        } else {
            request
        };
        let (response, _) = connection.send(&request).await?;
        for topic in &response.topics {
            if let Some(name) = &topic.name {
                if !topic.topic_id.is_nil() {
                    names.insert(topic.topic_id, name.to_string());
                }
            }
        }
    }
    let mut partitions = Vec::new();
    for topic in &assignment.topic_partitions {
        let name = names.get(&topic.topic_id).ok_or_else(|| {
            Error::new(
                ErrorCode::ConsumerGroup,
                format!(
                    "the coordinator assigned topic id {}, which metadata does not name",
                    topic.topic_id
                ),
            )
        })?;
        let name = Topic::new(name)?;
        partitions.extend(topic.partitions.iter().map(|p| TopicPartition::new(name.clone(), *p)));
    }
    partitions.sort();
    Ok(partitions)
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

    fn reconciling(target: &[i32]) -> (Shared, Membership) {
        let status = Status::joining();
        let membership = Membership {
            member_id: "m".into(),
            epoch: 1,
            interval: Duration::from_secs(3),
            target: Some(orders(target)),
            names: BTreeMap::new(),
        };
        (Shared::new(status, Duration::from_secs(45)), membership)
    }

    #[test]
    fn a_standing_answer_ends_when_the_coordinator_moves_a_partition_away() {
        let (shared, mut membership) = reconciling(&[0, 1]);
        assert!(reconcile(&shared, &mut membership));
        let task = crate::engine::runtime().expect("engine").spawn(async {});
        let member = ConsumerGroupMember {
            shared: Arc::new(shared),
            task: MemberTask::new(task),
        };
        let now = Instant::now();
        assert_eq!(member.event(now), (MemberEvent::Assigned(orders(&[0, 1])), Vouch::No));
        let standing = match member.event(now) {
            (MemberEvent::Continue, Vouch::Until(standing)) => standing,
            other => panic!("an assigned member answered {other:?}"),
        };
        assert!(member.vouch_stands(&standing, now));
        membership.target = Some(orders(&[0]));
        assert!(!reconcile(&member.shared, &mut membership));
        assert!(!member.vouch_stands(&standing, now), "stands after a revocation");
        assert_eq!(member.event(now), (MemberEvent::RevokeSome(orders(&[1])), Vouch::No));
    }

    #[test]
    fn the_holder_is_woken_for_its_events_only() {
        let (shared, mut membership) = reconciling(&[0, 1]);
        let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&wakes);
        shared.wake_holder_with(Box::new(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        let woken = || wakes.load(std::sync::atomic::Ordering::SeqCst);
        assert!(reconcile(&shared, &mut membership));
        assert_eq!(woken(), 1, "an assignment to take");
        shared.update(|status| status.handed_out = status.assignments);
        shared.confirm(Instant::now());
        assert_eq!(woken(), 1, "a heartbeat answered leaves the holder waiting");
        shared.update(Status::lost);
        assert_eq!(woken(), 2, "a fencing: everything to give up");
        shared.update(|status| status.released(Released::All));
        assert_eq!(woken(), 2, "nothing left to do");
        shared.fail(Error::new(ErrorCode::ConsumerGroup, "out"));
        assert_eq!(woken(), 3, "the failure");
    }

    #[test]
    fn a_target_shrunk_before_the_holder_took_the_last_one_revokes_nothing() {
        let (shared, mut membership) = reconciling(&[0, 1, 2, 3, 4, 5]);
        assert!(reconcile(&shared, &mut membership));
        // The coordinator moves 3-5 away before the holder asked for them.
        membership.target = Some(orders(&[0, 1, 2]));
        assert!(reconcile(&shared, &mut membership));
        let status = shared.lock();
        assert!(status.revoking.is_empty() && !status.revoke_all);
        assert_eq!(status.added, orders(&[0, 1, 2]), "never 3-5, now another member's");
        assert_eq!(status.held, orders(&[0, 1, 2]));
    }

    #[test]
    fn a_fencing_while_the_holder_gives_some_up_asks_for_the_rest() {
        let (shared, mut membership) = reconciling(&[0, 1, 2, 3]);
        assert!(reconcile(&shared, &mut membership));
        shared.update(|status| status.handed_out = status.assignments);
        membership.target = Some(orders(&[0, 1]));
        assert!(!reconcile(&shared, &mut membership));
        let mut status = shared.lock();
        assert_eq!(status.revoking, orders(&[2, 3]));
        // Fenced while the holder gives 2 and 3 up, which it then reports.
        status.lost();
        status.released(Released::Only(&orders(&[2, 3])));
        assert!(status.revoke_all, "0 and 1 are still the holder's to give up");
        assert_eq!(status.held, orders(&[0, 1]));
        assert_eq!(status.state, State::Assigned);
        status.released(Released::All);
        assert!(!status.revoke_all && status.held.is_empty());
        assert_eq!(status.state, State::Joining);
    }

    #[test]
    fn what_the_holder_took_is_revoked_and_what_it_did_not_is_forgotten() {
        let (shared, mut membership) = reconciling(&[0, 1]);
        assert!(reconcile(&shared, &mut membership));
        shared.update(|status| status.handed_out = status.assignments);
        membership.target = Some(orders(&[0, 1, 2, 3]));
        assert!(reconcile(&shared, &mut membership));
        membership.target = Some(orders(&[1, 3]));
        assert!(
            !reconcile(&shared, &mut membership),
            "waits for the holder to give 0 up"
        );
        let status = shared.lock();
        assert_eq!(status.revoking, orders(&[0]));
        assert_eq!(status.added, orders(&[3]), "2 is forgotten, 3 still to be handed out");
    }

    #[test]
    fn owned_partitions_are_grouped_under_their_topic_ids() {
        let id = Uuid::from_u128(7);
        let names = BTreeMap::from([(id, "orders".to_string()), (Uuid::from_u128(8), "other".to_string())]);
        let orders = Topic::new("orders").unwrap();
        let owned = [TopicPartition::new(orders.clone(), 0), TopicPartition::new(orders, 2)];
        let topics = owned_topics(&owned, &names);
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].topic_id, id);
        assert_eq!(topics[0].partitions, [0, 2]);
    }

    #[test]
    fn a_leave_carries_no_subscription() {
        let settings = GroupMemberSettings {
            group_id: "g".into(),
            topics: vec!["orders".into()],
            assignor: "uniform".into(),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            group_instance_id: None,
        };
        let leave = heartbeat_request(&settings, "m", LEAVE_EPOCH, None);
        assert!(leave.subscribed_topic_names.is_none() && leave.subscribed_topic_regex.is_none());
        assert!(leave.server_assignor.is_none() && leave.topic_partitions.is_none());
        let join = heartbeat_request(&settings, "m", 0, Some(Vec::new()));
        assert_eq!(join.subscribed_topic_names.map(|t| t.len()), Some(1));
        assert_eq!(join.server_assignor.as_deref(), Some("uniform"));
    }
}
