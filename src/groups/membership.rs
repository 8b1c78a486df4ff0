//! What the three consumer groups share as members of one group: the
//! checks on their topics, the [`Balancer`] that tells a member its
//! partitions and when they change (the ZooKeeper set partitioner, a
//! member of Kafka's classic group protocol, or of its next-generation
//! protocol, by `group_protocol`), how a
//! member joins the ZooKeeper party (the set partitioner's settings), and
//! the partition set they split, named `<topic>-<partition>` as Python
//! yelp_kafka names it.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::consumer::{CommitGate, ConsumerConfig};
use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::consumer_group_member::ConsumerGroupMember;
use crate::kafka::coordinator::MemberGeneration;
pub(crate) use crate::kafka::group_member::Released;
use crate::kafka::group_member::{GroupMemberSettings, KafkaGroupMember, MemberEvent};
use crate::kafka::member_status::HolderWaker;
use crate::kafka::KafkaCluster;
use crate::set_partitioner::{layout, Instruction, SetPartitioner, SetPartitionerSettings};
use crate::topic_partition::{Topic, TopicPartition};
pub(crate) use crate::vouch::{StandingVouch, Vouch};

/// How often the partition set is read from Kafka again.
pub const PARTITIONS_REFRESH: Duration = Duration::from_secs(120);

/// Checks the topics of a group: at least one, each a valid name.
pub(crate) fn check_group_topics(topics: &[String]) -> Result<()> {
    if topics.is_empty() {
        return Err(Error::invalid_argument("a consumer group needs at least one topic"));
    }
    for topic in topics {
        Topic::new(topic)?;
    }
    Ok(())
}

/// How a member of `config`'s group for `topics` joins the party as `identifier`.
pub(crate) fn partitioner_settings(
    config: &ConsumerConfig,
    topics: &[String],
    identifier: &str,
) -> SetPartitionerSettings {
    SetPartitionerSettings {
        zookeeper_hosts: config.cluster().zookeeper_connect_hosts(),
        group_path: layout::group_path(
            config.cluster().zookeeper_chroot(),
            config.group_id(),
            topics,
            config.use_group_sha,
        ),
        identifier: identifier.to_string(),
        cooldown: config.partitioner_cooldown,
        session_timeout: config.zookeeper_session_timeout,
        connect_timeout: config.zookeeper_connect_timeout,
    }
}

/// The partition set of `topics`, `<topic>-<partition>`, from Kafka
/// metadata; topics Kafka does not know are left out, and no partition at
/// all is a `PartitionerError`.
pub(crate) fn partition_set(cluster: &KafkaCluster, topics: &[String]) -> Result<Vec<String>> {
    let existing: BTreeMap<String, Vec<i32>> = engine::block_on(cluster.fetch_metadata(None))?
        .map_err(|e| e.with_code(ErrorCode::Partitioner).context("reading the partition set"))?
        .topic_partitions();
    let partitions: Vec<String> = topics
        .iter()
        .filter_map(|topic| existing.get(topic).map(|ids| (topic, ids)))
        .flat_map(|(topic, ids)| ids.iter().map(move |id| layout::partition_name(topic, *id)))
        .collect();
    if partitions.is_empty() {
        return Err(Error::new(
            ErrorCode::Partitioner,
            format!("no partitions found for topics {topics:?}"),
        ));
    }
    Ok(partitions)
}

/// The partition a partition name stands for.
pub(crate) fn partition_of(name: &str) -> Result<TopicPartition> {
    let (topic, partition) = layout::parse_partition_name(name)
        .ok_or_else(|| Error::new(ErrorCode::Partitioner, format!("{name:?} is not <topic>-<partition>")))?;
    Ok(TopicPartition::new(Topic::new(topic)?, partition))
}

/// What the holder of a member's partitions must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing new.
    Continue,
    /// Consume these partitions too (maybe none); after a release, these
    /// are all the member holds.
    Acquire(Vec<TopicPartition>),
    /// Give up every partition (commit first), then call [`Balancer::released`].
    Release,
    /// Give up only these partitions (commit first), then call
    /// [`Balancer::released`]: an incremental rebalance.
    ReleaseSome(Vec<TopicPartition>),
    /// Stop consuming at once and report this error; the balancer is done.
    Fail(Error),
}

/// What a group member follows to know its partitions: it tells the
/// holder, on the holder's own thread, what to acquire and when to give
/// everything up, and vouches (or not) for the partitions held. The
/// holder does everything in response — callbacks, commits, assigning and
/// revoking — itself (docs/consumer-groups.md).
pub(crate) trait Balancer: Send + Sync {
    /// What the holder must do at `now`, a time it read just before (a
    /// member of Kafka's group counts the call as the holder's sign of
    /// life then), and with `Continue` whether it may hand out messages
    /// then ([`Balancer::may_deliver_at`]), both under one lock: the
    /// question the holder asks before every message. An `Acquire` is
    /// given once per acquisition. A `Vouch::Until` answers the same
    /// question for later times too, for as long as
    /// [`Balancer::vouch_stands`] says so: a holder may keep it and ask
    /// that instead, until it no longer holds.
    fn step_vouched(&self, now: Instant) -> (Step, Vouch);
    /// [`Balancer::step_vouched`] without the answer about handing out.
    fn step(&self, now: Instant) -> Step {
        self.step_vouched(now).0
    }
    /// Whether `standing`, from this balancer's `Vouch::Until`, still
    /// stands at `now`, a time the holder read just before: then
    /// [`Balancer::step_vouched`] would answer `Continue` and vouch for
    /// `now`, so the holder may hand out messages without asking it. When
    /// not, the holder asks [`Balancer::step_vouched`] again. Checked
    /// without a lock ([`crate::vouch::ChangeCount`]). A member of Kafka's
    /// group lets a standing answer stand for a few milliseconds at most,
    /// since the holder's questions under its lock are its sign of life
    /// ([`crate::kafka::member_status::SIGN_OF_LIFE_LAG`]).
    fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool;
    /// The holder gave up `released` after a `Step::Release` or a
    /// `Step::ReleaseSome`.
    fn released(&self, released: Released<'_>);
    /// Whether the holder may hand out messages at `now`, a time the
    /// holder read just before (so that one clock read serves its other
    /// checks too).
    fn may_deliver_at(&self, now: Instant) -> bool;
    /// Whether the holder may hand out messages now.
    fn may_deliver(&self) -> bool {
        self.may_deliver_at(Instant::now())
    }
    /// Whether the holder may commit now; the error a commit fails with when not.
    fn may_commit(&self) -> Result<()>;
    /// Waits up to `timeout` for something to do.
    fn wait(&self, timeout: Duration);
    /// How to wake the holder while it waits for messages rather than in
    /// [`Balancer::wait`], so that it gives partitions up as soon as asked.
    /// The ZooKeeper partitioner takes none: a holder learns of its
    /// instructions on its next attempt, within the group's internal
    /// timeout, and hands out nothing it does not vouch for meanwhile.
    fn wake_holder_with(&self, _waker: HolderWaker) {}
    /// The partition set read from Kafka again.
    fn update_partitions(&self, partitions: Vec<String>) -> Result<()>;
    /// Leaves the group within `timeout`; stopping twice is harmless.
    fn stop(&self, timeout: Duration) -> Result<()>;
    /// The code a failure of the balancer reaches the application with:
    /// `PartitionerError` for ZooKeeper, `ConsumerGroupError` for Kafka.
    fn failure_code(&self) -> ErrorCode;
    /// The generation the member's commits must carry (Kafka's group
    /// protocol); `None` when commits need none (ZooKeeper).
    fn generation(&self) -> Option<Arc<MemberGeneration>>;
}

impl Balancer for SetPartitioner {
    fn step_vouched(&self, now: Instant) -> (Step, Vouch) {
        let (instruction, vouched) = SetPartitioner::instruction_vouched(self, now);
        let step = match instruction {
            Instruction::Continue => Step::Continue,
            Instruction::Acquire(names) => match names.iter().map(|name| partition_of(name)).collect() {
                Ok(partitions) => Step::Acquire(partitions),
                Err(error) => Step::Fail(error),
            },
            Instruction::Release => Step::Release,
            Instruction::Fail(error) => Step::Fail(error),
        };
        (step, vouched)
    }

    fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        SetPartitioner::vouch_stands(self, standing, now)
    }

    /// The partitioner only ever asks for every partition.
    fn released(&self, _: Released<'_>) {
        SetPartitioner::released(self)
    }

    fn may_deliver_at(&self, now: Instant) -> bool {
        SetPartitioner::may_deliver_at(self, now)
    }

    fn may_commit(&self) -> Result<()> {
        SetPartitioner::may_commit(self)
    }

    fn wait(&self, timeout: Duration) {
        SetPartitioner::wait(self, timeout)
    }

    fn update_partitions(&self, partitions: Vec<String>) -> Result<()> {
        SetPartitioner::update_partitions(self, partitions)
    }

    fn stop(&self, timeout: Duration) -> Result<()> {
        SetPartitioner::stop(self, timeout)
    }

    fn failure_code(&self) -> ErrorCode {
        ErrorCode::Partitioner
    }

    fn generation(&self) -> Option<Arc<MemberGeneration>> {
        None
    }
}

/// Both Kafka members tell their holder the same events.
impl From<MemberEvent> for Step {
    fn from(event: MemberEvent) -> Step {
        match event {
            MemberEvent::Continue => Step::Continue,
            MemberEvent::Assigned(partitions) => Step::Acquire(partitions),
            MemberEvent::Revoke => Step::Release,
            MemberEvent::RevokeSome(partitions) => Step::ReleaseSome(partitions),
            MemberEvent::Failed(error) => Step::Fail(error),
        }
    }
}

impl Balancer for KafkaGroupMember {
    fn step_vouched(&self, now: Instant) -> (Step, Vouch) {
        let (event, vouch) = self.event(now);
        (event.into(), vouch)
    }

    fn released(&self, released: Released<'_>) {
        KafkaGroupMember::released(self, released)
    }

    fn may_deliver_at(&self, now: Instant) -> bool {
        KafkaGroupMember::may_deliver_at(self, now)
    }

    fn may_commit(&self) -> Result<()> {
        KafkaGroupMember::may_commit(self)
    }

    fn wait(&self, timeout: Duration) {
        KafkaGroupMember::wait(self, timeout)
    }

    fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        KafkaGroupMember::vouch_stands(self, standing, now)
    }

    fn wake_holder_with(&self, waker: HolderWaker) {
        KafkaGroupMember::wake_holder_with(self, waker)
    }

    fn update_partitions(&self, partitions: Vec<String>) -> Result<()> {
        KafkaGroupMember::update_partitions(self, partitions);
        Ok(())
    }

    fn stop(&self, timeout: Duration) -> Result<()> {
        KafkaGroupMember::stop(self, timeout)
    }

    fn failure_code(&self) -> ErrorCode {
        ErrorCode::ConsumerGroup
    }

    fn generation(&self) -> Option<Arc<MemberGeneration>> {
        Some(KafkaGroupMember::generation(self))
    }
}

impl Balancer for ConsumerGroupMember {
    fn step_vouched(&self, now: Instant) -> (Step, Vouch) {
        let (event, vouch) = self.event(now);
        (event.into(), vouch)
    }

    fn released(&self, released: Released<'_>) {
        ConsumerGroupMember::released(self, released)
    }

    fn may_deliver_at(&self, now: Instant) -> bool {
        ConsumerGroupMember::may_deliver_at(self, now)
    }

    fn may_commit(&self) -> Result<()> {
        ConsumerGroupMember::may_commit(self)
    }

    fn wait(&self, timeout: Duration) {
        ConsumerGroupMember::wait(self, timeout)
    }

    fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        ConsumerGroupMember::vouch_stands(self, standing, now)
    }

    fn wake_holder_with(&self, waker: HolderWaker) {
        ConsumerGroupMember::wake_holder_with(self, waker)
    }

    /// The coordinator watches the subscribed topics' partitions itself.
    fn update_partitions(&self, _partitions: Vec<String>) -> Result<()> {
        Ok(())
    }

    fn stop(&self, timeout: Duration) -> Result<()> {
        ConsumerGroupMember::stop(self, timeout)
    }

    fn failure_code(&self) -> ErrorCode {
        ErrorCode::ConsumerGroup
    }

    fn generation(&self) -> Option<Arc<MemberGeneration>> {
        Some(ConsumerGroupMember::generation(self))
    }
}

/// Joins `config`'s group for `topics` to split `partitions`, by the
/// group protocol the configuration names: the ZooKeeper party as
/// `identifier`, or Kafka's group protocols, classic or next-generation
/// (then the member's consumers must commit with [`Balancer::generation`]).
pub(crate) fn join_group(
    config: &ConsumerConfig,
    topics: &[String],
    identifier: &str,
    partitions: Vec<String>,
) -> Result<Arc<dyn Balancer>> {
    let Some(options) = &config.kafka_group else {
        let settings = partitioner_settings(config, topics, identifier);
        return Ok(Arc::new(SetPartitioner::start(settings, partitions)?));
    };
    let settings = GroupMemberSettings {
        group_id: config.group_id().to_string(),
        topics: topics.to_vec(),
        assignor: options.assignor.clone(),
        session_timeout: options.session_timeout,
        heartbeat_interval: options.heartbeat_interval,
        max_poll_interval: options.max_poll_interval,
        group_instance_id: options.group_instance_id.clone(),
    };
    let cluster = KafkaCluster::new(config.cluster().broker_list().to_vec(), config.client.clone());
    if options.consumer_protocol {
        return Ok(Arc::new(ConsumerGroupMember::start(cluster, settings)?));
    }
    Ok(Arc::new(KafkaGroupMember::start(cluster, settings, partitions)?))
}

/// A member's consumers commit, and a multiprocessing group's thread
/// workers take messages, only while its balancer vouches for the
/// partitions (docs/consumer-groups.md, "Losing ZooKeeper"). Holds the
/// balancer weakly: a consumer that outlives its group (a fenced worker
/// thread) must not keep the session, and its locks, alive.
pub(crate) struct PartitionerGate(Weak<dyn Balancer>);

impl PartitionerGate {
    /// The gate of `balancer`.
    pub(crate) fn new(balancer: &Arc<dyn Balancer>) -> Arc<PartitionerGate> {
        Arc::new(PartitionerGate(Arc::downgrade(balancer)))
    }

    /// Whether a message may be handed to the application now
    /// ([`Balancer::may_deliver`]); never once the group left.
    pub(crate) fn may_deliver(&self) -> bool {
        self.0.upgrade().is_some_and(|balancer| balancer.may_deliver())
    }
}

impl CommitGate for PartitionerGate {
    fn may_commit(&self) -> Result<()> {
        match self.0.upgrade() {
            Some(balancer) => balancer.may_commit(),
            None => Err(Error::new(
                ErrorCode::Partitioner,
                "not committing: the group left its party, the partitions may be another member's",
            )),
        }
    }
}
