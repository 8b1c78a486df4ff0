//! Consumers (docs/configuration.md, docs/consumer-groups.md): the consumer core every consumer of the
//! library stands on — the simple consumer of one topic's partitions, the
//! plain consumer of every partition of some topics, and the balanced
//! groups of `groups/`, which assign and revoke partitions at run time.
//!
//! A [`Consumer`] owns its fetcher (`fetcher`), its offset tracker
//! (`tracker`) and its group's offset store. Messages are handed out on
//! the caller's thread from what the fetcher queued; task_done marks them
//! processed; commits (explicit, automatic by count or time, and on close)
//! store each partition's position up to the first message not done.
//! Automatic commits run on the engine, one at a time, so task_done never
//! waits for a broker; explicit commits wait for their answer.

pub(crate) mod config;
pub(crate) mod fetch_plan;
pub(crate) mod fetcher;
pub(crate) mod message;
pub(crate) mod tracker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::engine::{self, TaskSet};
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::coordinator::MemberGeneration;
use crate::kafka::fetch::FetchLimits;
use crate::kafka::KafkaCluster;
use crate::offsets::storage::OffsetStore;
use crate::sync::Locking;
use crate::wakeup::{Readiness, Wakeup};

pub use crate::topic_partition::{Topic, TopicPartition};
pub use config::{ConsumerConfig, KafkaGroupOptions, OffsetReset, CONSUMER_OPTIONS};
use fetcher::{Chunk, FetchObserver, FetchSettings, Fetcher, Ready};
pub use message::Message;
use tracker::OffsetTracker;

/// Wait before fetching a partition again after an error the application saw.
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest wait before fetching a partition again after a leader move.
const MIN_RETRY_BACKOFF: Duration = Duration::from_millis(50);

/// Decides whether a consumer may commit now. A balanced group's consumer
/// gets one from its group: commits go only while the group's partitioner
/// vouches that the partitions are still this member's
/// (docs/consumer-groups.md, "Losing ZooKeeper").
pub(crate) trait CommitGate: Send + Sync {
    /// `Ok` to commit; otherwise the error the commit fails with.
    fn may_commit(&self) -> Result<()>;
}

/// Which partitions a consumer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// The simple consumer: some partitions of one topic (`None`: all).
    Topic {
        /// The topic.
        topic: String,
        /// The partitions, or every partition.
        partitions: Option<Vec<i32>>,
    },
    /// The plain consumer: every partition of each topic.
    Topics(Vec<String>),
    /// A balanced group's consumer: nothing until partitions are assigned
    /// ([`Consumer::assign`]).
    Assigned,
}

const NEW: u8 = 0;
const CONNECTED: u8 = 1;
const CLOSED: u8 = 2;

/// Assignment numbers, unique in the process: a message carries its
/// partition's, so that it never counts for another assignment or consumer.
static NEXT_ASSIGNMENT: AtomicU64 = AtomicU64::new(1);

/// The chunk messages are handed out from, with its partition's tracker slot.
struct CurrentChunk {
    chunk: Chunk,
    slot: usize,
}

/// What the application thread and the auto-committer share.
struct ConsumerState {
    tracker: OffsetTracker,
    current: Option<CurrentChunk>,
    /// An error a fetch met while a batch was being taken: the next call returns it.
    failure: Option<Error>,
}

impl ConsumerState {
    /// Drops the chunk being handed out if it belongs to `partition`.
    fn drop_current(&mut self, partition: &TopicPartition) {
        if self
            .current
            .as_ref()
            .is_some_and(|current| current.chunk.partition == *partition)
        {
            self.current = None;
        }
    }
}

struct ConsumerShared {
    config: ConsumerConfig,
    cluster: Arc<KafkaCluster>,
    store: OffsetStore,
    state: Mutex<ConsumerState>,
    /// One commit at a time, so that an older position never lands after a newer one.
    commit_lock: tokio::sync::Mutex<()>,
    /// Wakes the auto-committer before its interval ends.
    commit_now: Notify,
    /// Asked before every commit that has something to store.
    commit_gate: OnceLock<Arc<dyn CommitGate>>,
}

impl ConsumerShared {
    fn lock(&self) -> MutexGuard<'_, ConsumerState> {
        self.state.locked()
    }

    /// Commits the positions of `only` (`None`: every partition) that
    /// differ from what the store holds.
    async fn commit(&self, only: Option<&[TopicPartition]>) -> Result<()> {
        let _one_at_a_time = self.commit_lock.lock().await;
        let offsets = self.lock().tracker.uncommitted(only);
        if offsets.is_empty() {
            return Ok(());
        }
        if let Some(gate) = self.commit_gate.get() {
            gate.may_commit()?;
        }
        self.store.commit(&self.cluster, &offsets).await?;
        self.lock().tracker.committed(&offsets);
        Ok(())
    }
}

/// A consumer of a fixed set of partitions (or, for groups, of whatever is
/// assigned to it). Usable from several threads at once.
pub struct Consumer {
    shared: Arc<ConsumerShared>,
    subscription: Subscription,
    fetch_observer: Option<Arc<dyn FetchObserver>>,
    fetcher: OnceLock<Fetcher>,
    auto_committer: Mutex<Option<AbortHandle>>,
    /// The consumer's engine tasks (the fetcher, the auto-committer), from `connect` on.
    tasks: OnceLock<TaskSet>,
    lifecycle: AtomicU8,
    /// Ends a blocked `get_message` early (docs/c-abi.md, "Wakeups").
    wakeup: Wakeup,
    /// Readable while fetched messages wait (docs/c-abi.md, "Ready descriptors").
    readiness: Arc<Readiness>,
}

impl Consumer {
    /// A consumer of `subscription` with `config`; nothing connects before
    /// [`Consumer::connect`]. Topic names are checked here, their existence
    /// at connect.
    pub fn new(subscription: Subscription, config: ConsumerConfig) -> Result<Consumer> {
        match &subscription {
            Subscription::Topic { topic, partitions } => {
                Topic::new(topic)?;
                if partitions.as_ref().is_some_and(|p| p.iter().any(|p| *p < 0)) {
                    return Err(Error::invalid_argument("partition ids are never negative"));
                }
            }
            Subscription::Assigned => {}
            Subscription::Topics(topics) => {
                if topics.is_empty() {
                    return Err(Error::invalid_argument("no topic to consume"));
                }
                for topic in topics {
                    Topic::new(topic)?;
                }
            }
        }
        if config.fetch_wait_max >= config.client.request_timeout {
            return Err(Error::configuration(format!(
                "configuration key \"fetch_wait_max_ms\": {:?} must be shorter than request_timeout_ms ({:?})",
                config.fetch_wait_max, config.client.request_timeout
            )));
        }
        let store = OffsetStore::new(
            config.offset_storage,
            config.group_id(),
            config.cluster(),
            &config.client,
        )?;
        let cluster = Arc::new(KafkaCluster::new(
            config.cluster().broker_list().to_vec(),
            config.client.clone(),
        ));
        Ok(Consumer {
            shared: Arc::new(ConsumerShared {
                config,
                cluster,
                store,
                state: Mutex::new(ConsumerState {
                    tracker: OffsetTracker::new(),
                    current: None,
                    failure: None,
                }),
                commit_lock: tokio::sync::Mutex::new(()),
                commit_now: Notify::new(),
                commit_gate: OnceLock::new(),
            }),
            subscription,
            fetch_observer: None,
            fetcher: OnceLock::new(),
            auto_committer: Mutex::new(None),
            tasks: OnceLock::new(),
            lifecycle: AtomicU8::new(NEW),
            wakeup: Wakeup::new()?,
            readiness: Arc::new(Readiness::new()?),
        })
    }

    /// Tells `observer` of every fetch and of the errors fetches meet
    /// (set before [`Consumer::connect`]).
    pub fn with_fetch_observer(mut self, observer: Arc<dyn FetchObserver>) -> Consumer {
        self.fetch_observer = Some(observer);
        self
    }

    /// Makes every later commit with something to store ask `gate` first
    /// (a group's partitioner, once it started); a refused commit fails
    /// with the gate's error and stores nothing. Set once; later calls are
    /// ignored.
    pub(crate) fn set_commit_gate(&self, gate: Arc<dyn CommitGate>) {
        let _ = self.shared.commit_gate.set(gate);
    }

    /// Makes every later Kafka commit carry `member`'s generation (the
    /// consumer of a Kafka group member, docs/consumer-groups.md).
    pub(crate) fn commit_as_member(&self, member: Arc<MemberGeneration>) {
        self.shared.store.commit_as_member(member);
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.shared.config
    }

    /// The client of the consumer's cluster, for lookups that share its
    /// connections and metadata.
    pub(crate) fn cluster(&self) -> &KafkaCluster {
        &self.shared.cluster
    }

    /// Looks the subscribed partitions up (an unknown topic is
    /// `UnknownTopic`, an unknown partition `UnknownPartitions`), finds
    /// where each starts (the group's committed offset, else
    /// `auto_offset_reset`) and starts fetching. Once only.
    pub fn connect(&self) -> Result<()> {
        match self.lifecycle.load(Ordering::Acquire) {
            NEW => {}
            CONNECTED => return Err(Error::new(ErrorCode::WrongState, "the consumer is connected already")),
            _ => return Err(closed()),
        }
        let partitions = engine::block_on(self.subscribed_partitions())??;
        let settings = self.fetch_settings();
        let runtime = engine::runtime()?;
        let tasks = self.tasks.get_or_init(|| TaskSet::new(&runtime));
        let fetcher = Fetcher::start(
            Arc::clone(&self.shared.cluster),
            settings,
            tasks,
            Arc::clone(&self.readiness),
        );
        if let Some(notifier) = self.wakeup.notify_on_request(fetcher.waker()) {
            tasks.spawn(notifier);
        }
        self.start_partitions(&fetcher, &partitions)?;
        if self.fetcher.set(fetcher).is_err() {
            return Err(Error::new(ErrorCode::WrongState, "the consumer is connected already"));
        }
        if self.shared.config.auto_commit_enable {
            let task = tasks.spawn(auto_commit(Arc::clone(&self.shared)));
            *self.auto_committer.locked() = Some(task);
        }
        // Close is final (docs/c-abi.md): a close that ran while this
        // connect looked the partitions up wins, and what the connect
        // started is stopped again here.
        if self
            .lifecycle
            .compare_exchange(NEW, CONNECTED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            self.stop_tasks();
            return Err(closed());
        }
        Ok(())
    }

    /// The next message: from what is fetched already, else waiting for a
    /// fetch if `block`, up to `timeout` (`None`: no limit). Nothing within
    /// the time is `ConsumerTimeout`; an error a fetch met (other than leader
    /// moves and lost brokers, which are retried) is returned once, in its
    /// place among the messages.
    pub fn get_message(&self, block: bool, timeout: Option<Duration>) -> Result<Message> {
        let mut taken = None;
        self.get_messages(block, timeout, 1, |message| taken = Some(message))?;
        Ok(taken.expect("get_messages succeeds with a message"))
    }

    /// Like [`Consumer::get_message`], for up to `max` messages (at least
    /// one): waits as it does for the first, then takes what else is
    /// fetched already, without waiting, and gives each to `put`, in order.
    /// Returns how many. An error a fetch met after some messages waits for
    /// the next call.
    pub fn get_messages(
        &self,
        block: bool,
        timeout: Option<Duration>,
        max: usize,
        mut put: impl FnMut(Message),
    ) -> Result<usize> {
        let fetcher = self.fetcher()?;
        // The clock is read only when there is something to wait for.
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            let taken = self.take_ready(fetcher, max, false, &mut put)?;
            if taken > 0 {
                return Ok(taken);
            }
            let until = *deadline.get_or_insert_with(|| timeout.map(|timeout| Instant::now() + timeout));
            if !block || !fetcher.wait(until, &self.wakeup) {
                if self.lifecycle.load(Ordering::Acquire) == CLOSED {
                    return Err(closed());
                }
                let taken = self.take_ready(fetcher, max, false, &mut put)?;
                if taken > 0 {
                    return Ok(taken);
                }
                self.wakeup.take()?;
                return Err(Error::new(
                    ErrorCode::ConsumerTimeout,
                    format!("no message within {}", describe_wait(block, timeout)),
                ));
            }
        }
    }

    /// Up to `max` messages fetched already, without waiting and without
    /// an error: one a fetch met waits for the next call. Returns how many.
    pub(crate) fn take_fetched(&self, max: usize, mut put: impl FnMut(Message)) -> Result<usize> {
        self.take_ready(self.fetcher()?, max, true, &mut put)
    }

    /// The bytes of fetched messages waiting in the consumer's queue for the
    /// application, as `queued_max_messages_kbytes` counts them (records,
    /// keys, values, headers); 0 before `connect`. What the application
    /// took already is not counted.
    pub fn queued_bytes(&self) -> usize {
        self.fetcher.get().map_or(0, Fetcher::queued_bytes)
    }

    /// Ends a blocked [`Consumer::get_message`] (or the next one) early, as
    /// if its time ran out: a group's member has an event for the thread
    /// that waits for messages.
    pub(crate) fn interrupt_wait(&self) {
        if let Some(fetcher) = self.fetcher.get() {
            fetcher.interrupt();
        }
    }

    /// What ends a blocked [`Consumer::get_message`] early with `WokenUp`.
    pub(crate) fn wakeup(&self) -> &Wakeup {
        &self.wakeup
    }

    /// A descriptor readable while fetched messages (or a fetch error) wait
    /// to be taken, and once the consumer is closed; owned by the consumer.
    pub(crate) fn ready_fd(&self) -> std::os::fd::RawFd {
        self.readiness.fd()
    }

    /// [`Consumer::get_message`] waiting up to `consumer_timeout_ms`.
    pub fn next(&self) -> Result<Message> {
        self.get_message(true, self.shared.config.consumer_timeout)
    }

    /// Hands up to `max` ready messages to `put` under one lock; returns
    /// how many. An error a fetch met is returned when it comes first
    /// (unless `defer_errors`), else kept for the next call.
    fn take_ready(
        &self,
        fetcher: &Fetcher,
        max: usize,
        defer_errors: bool,
        put: &mut impl FnMut(Message),
    ) -> Result<usize> {
        let mut state = self.shared.lock();
        let state = &mut *state;
        if !defer_errors {
            if let Some(error) = state.failure.take() {
                return Err(error);
            }
        } else if state.failure.is_some() {
            return Ok(0);
        }
        let mut taken = 0;
        while taken < max {
            if let Some(CurrentChunk { chunk, slot }) = state.current.as_mut() {
                if let Some(record) = chunk.records.next_record() {
                    let message = Message::from_record(&chunk.partition, chunk.assignment, *slot, record);
                    state.tracker.delivered(*slot, chunk.assignment, message.offset);
                    put(message);
                    taken += 1;
                    continue;
                }
                state.tracker.passed(*slot, chunk.assignment, chunk.next_offset);
                state.current = None;
            }
            match fetcher.take() {
                None => break,
                Some(Ready::Failure(error)) => {
                    if taken == 0 && !defer_errors {
                        return Err(error);
                    }
                    state.failure = Some(error);
                    break;
                }
                Some(Ready::Chunk(chunk)) => {
                    let Some(slot) = state.tracker.slot_of(&chunk.partition, chunk.assignment) else {
                        continue;
                    };
                    if let Some(position) = chunk.reset_to {
                        state.tracker.reset(slot, chunk.assignment, position);
                    }
                    state.current = Some(CurrentChunk { chunk, slot });
                }
            }
        }
        Ok(taken)
    }

    /// Marks `message` processed, in any order. After
    /// `auto_commit_interval_messages` such calls an automatic commit starts
    /// (on the engine, no sooner than [`COUNTED_COMMIT_SPACING`] after the
    /// previous one; this call does not wait for it). A message of a
    /// partition no longer assigned is ignored.
    pub fn task_done(&self, message: &Message) -> Result<()> {
        self.fetcher()?;
        let threshold = self.shared.config.auto_commit_interval_messages;
        let mut state = self.shared.lock();
        state.tracker.done(message.slot, message.assignment, message.offset);
        if self.shared.config.auto_commit_enable && threshold > 0 && state.tracker.done_count() >= threshold {
            state.tracker.take_done_count();
            self.shared.commit_now.notify_one();
        }
        Ok(())
    }

    /// Commits every partition's position (up to its first message not
    /// done) and waits for the store's answer: `OffsetCommitError` when it
    /// refuses. A wakeup ends the wait with `WokenUp` (docs/c-abi.md,
    /// "Wakeups"); the commit may still land.
    pub fn commit(&self) -> Result<()> {
        self.fetcher()?;
        self.commit_until_woken(None)
    }

    /// Commits the positions of `partitions` only; a wakeup does not end
    /// it (a group commits so while it gives partitions up).
    pub fn commit_partitions(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.fetcher()?;
        engine::block_on(self.shared.commit(Some(partitions)))?
    }

    /// [`Consumer::commit_partitions`] for the application: a wakeup ends
    /// the wait as in [`Consumer::commit`].
    pub fn commit_partitions_until_woken(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.fetcher()?;
        self.commit_until_woken(Some(partitions))
    }

    /// Marks every delivered message of `message`'s partition up to it
    /// processed, and commits that partition; a wakeup ends the wait as in
    /// [`Consumer::commit`].
    pub fn commit_message(&self, message: &Message) -> Result<()> {
        self.fetcher()?;
        let partition = message.topic_partition();
        let current = self
            .shared
            .lock()
            .tracker
            .done_through(message.slot, message.assignment, message.offset);
        if !current {
            return Err(Error::new(
                ErrorCode::WrongState,
                format!("{partition} is no longer assigned to this consumer"),
            ));
        }
        self.commit_until_woken(Some(&[partition]))
    }

    /// Commits and waits for the answer unless a wakeup comes first. The
    /// commit is dropped where it stands then: a request already written
    /// may still land, and the positions stay uncommitted here, so the
    /// next commit sends them again.
    fn commit_until_woken(&self, only: Option<&[TopicPartition]>) -> Result<()> {
        engine::block_on(self.wakeup.or_woken(self.shared.commit(only)))??
    }

    /// The partitions being consumed, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        let mut partitions: Vec<TopicPartition> = self.shared.lock().tracker.partitions().cloned().collect();
        partitions.sort();
        partitions
    }

    /// The position each consumed partition would commit now.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        let state = self.shared.lock();
        state
            .tracker
            .partitions()
            .filter_map(|partition| Some((partition.clone(), state.tracker.position(partition)?)))
            .collect()
    }

    /// Starts consuming `partitions` too (a group's new partitions): each
    /// from the group's committed offset, else `auto_offset_reset`.
    pub fn assign(&self, partitions: &[TopicPartition]) -> Result<()> {
        let fetcher = self.fetcher()?;
        self.start_partitions(fetcher, partitions)
    }

    /// Stops consuming `partitions` (a group giving them up): what was
    /// fetched for them is dropped and their messages' task_done no longer
    /// counts. Commit them first ([`Consumer::commit_partitions`]).
    pub fn revoke(&self, partitions: &[TopicPartition]) -> Result<()> {
        let fetcher = self.fetcher()?;
        let mut state = self.shared.lock();
        for partition in partitions {
            fetcher.revoke(partition);
            state.tracker.forget(partition);
            state.drop_current(partition);
        }
        Ok(())
    }

    /// Stops fetching and, with `auto_commit_enable`, commits. Later calls
    /// (other than close and free) are `ClosedHandle`; a thread waiting in
    /// [`Consumer::get_message`] returns at once. Closing twice is harmless.
    /// Close is final: a [`Consumer::connect`] running meanwhile returns
    /// `ClosedHandle` and leaves nothing running.
    pub fn close(&self) -> Result<()> {
        let was = self.lifecycle.swap(CLOSED, Ordering::AcqRel);
        self.stop_tasks();
        if was == CONNECTED && self.shared.config.auto_commit_enable {
            engine::block_on(self.shared.commit(None))??;
        }
        Ok(())
    }

    /// Stops the auto-committer and the fetcher, if they were started.
    fn stop_tasks(&self) {
        if let Some(task) = self.auto_committer.locked().take() {
            task.abort();
        }
        if let Some(fetcher) = self.fetcher.get() {
            fetcher.stop();
        }
    }

    fn fetcher(&self) -> Result<&Fetcher> {
        match self.lifecycle.load(Ordering::Acquire) {
            CONNECTED => Ok(self.fetcher.get().expect("a connected consumer has a fetcher")),
            NEW => Err(Error::new(ErrorCode::WrongState, "the consumer is not connected yet")),
            _ => Err(closed()),
        }
    }

    fn fetch_settings(&self) -> FetchSettings {
        let config = &self.shared.config;
        let response_room = i32::try_from(config.client.max_response_bytes).unwrap_or(i32::MAX);
        FetchSettings {
            limits: FetchLimits {
                max_wait: config.fetch_wait_max,
                min_bytes: config.fetch_min_bytes,
                // Room for the response's framing around the records; a
                // partition's full share always fits.
                max_bytes: config
                    .fetch_max_bytes
                    .min(response_room.saturating_sub(64 * 1024))
                    .max(config.fetch_message_max_bytes),
                partition_max_bytes: config.fetch_message_max_bytes,
                max_inflated: config.client.max_response_bytes,
            },
            reset: config.auto_offset_reset,
            retry_backoff: config.client.reconnect_backoff.max(MIN_RETRY_BACKOFF),
            failure_backoff: FAILURE_BACKOFF,
            observer: self.fetch_observer.clone(),
            max_queued_bytes: config.queued_max_bytes,
        }
    }

    /// The partitions the subscription names, checked against metadata of
    /// every topic (never asking for the named topics alone, which brokers
    /// that auto-create topics would create).
    async fn subscribed_partitions(&self) -> Result<Vec<TopicPartition>> {
        if self.subscription == Subscription::Assigned {
            return Ok(Vec::new());
        }
        let metadata = self.shared.cluster.fetch_metadata(None).await?;
        let existing = metadata.topic_partitions();
        let known = |topic: &str| -> Result<&Vec<i32>> {
            existing.get(topic).ok_or_else(|| {
                Error::new(
                    ErrorCode::UnknownTopic,
                    format!(
                        "topic {topic:?} does not exist in Kafka cluster {}",
                        self.shared.config.cluster().name()
                    ),
                )
            })
        };
        let mut partitions = Vec::new();
        let wanted: Vec<(&str, Option<&Vec<i32>>)> = match &self.subscription {
            Subscription::Topic { topic, partitions } => vec![(topic, partitions.as_ref())],
            Subscription::Topics(topics) => topics.iter().map(|t| (t.as_str(), None)).collect(),
            Subscription::Assigned => Vec::new(),
        };
        for (topic, chosen) in wanted {
            let all = known(topic)?;
            let ids: Vec<i32> = match chosen {
                None => all.clone(),
                Some(chosen) => {
                    let unknown: Vec<i32> = chosen.iter().filter(|p| !all.contains(p)).copied().collect();
                    if !unknown.is_empty() {
                        return Err(Error::new(
                            ErrorCode::UnknownPartitions,
                            format!("partitions {unknown:?} of topic {topic:?} do not exist (it has {all:?})"),
                        ));
                    }
                    chosen.iter().copied().collect::<BTreeSet<_>>().into_iter().collect()
                }
            };
            let topic = Topic::new(topic)?;
            partitions.extend(ids.into_iter().map(|id| TopicPartition::new(topic.clone(), id)));
        }
        Ok(partitions)
    }

    /// Finds each partition's start and hands it to the tracker and the fetcher.
    fn start_partitions(&self, fetcher: &Fetcher, partitions: &[TopicPartition]) -> Result<()> {
        let starts = engine::block_on(self.start_positions(partitions))??;
        let mut state = self.shared.lock();
        let mut assigned = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let (position, committed) = starts[partition];
            let assignment = NEXT_ASSIGNMENT.fetch_add(1, Ordering::Relaxed);
            state.drop_current(partition);
            state.tracker.track(partition.clone(), assignment, position, committed);
            assigned.push((partition.clone(), assignment, position));
        }
        fetcher.assign(assigned);
        Ok(())
    }

    /// (start position, committed offset) per partition.
    async fn start_positions(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, (i64, Option<i64>)>> {
        let committed = self.shared.store.fetch(&self.shared.cluster, partitions).await?;
        let timestamp = self.shared.config.auto_offset_reset.list_offsets_timestamp();
        let mut without: BTreeMap<&Topic, Vec<i32>> = BTreeMap::new();
        for (key, offset) in &committed {
            if offset.is_none() {
                without.entry(&key.topic).or_default().push(key.partition);
            }
        }
        let mut reset: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for (topic, ids) in without {
            for (partition, offset) in self
                .shared
                .cluster
                .list_offsets(topic.as_str(), &ids, timestamp)
                .await?
            {
                reset.insert(TopicPartition::new(topic.clone(), partition), offset);
            }
        }
        Ok(committed
            .into_iter()
            .map(|(key, offset)| {
                let position = offset.unwrap_or_else(|| reset[&key]);
                (key, (position, offset))
            })
            .collect())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(task) = self.auto_committer.locked().take() {
            task.abort();
        }
    }
}

/// Commits every `auto_commit_interval_ms`, and when task_done counts say
/// so. A failed commit is tried again at the next occasion: its offsets stay
/// uncommitted until one succeeds (and an explicit commit or close reports
/// the failure if it lasts).
async fn auto_commit(shared: Arc<ConsumerShared>) {
    let period = shared.config.auto_commit_interval;
    pace_commits(period, COUNTED_COMMIT_SPACING, &shared.commit_now, || async {
        let _ = shared.commit(None).await;
    })
    .await;
}

/// The least time from the start of one automatic commit to the start of
/// one that task_done counts ask for (docs/offsets.md). Without it an
/// application faster than `auto_commit_interval_messages` per commit
/// round trip commits back to back: against a local broker about one
/// commit per 500 messages, each waking the engine's threads several times
/// (BENCHMARKS.md, "The group's commits").
const COUNTED_COMMIT_SPACING: Duration = Duration::from_millis(10);

/// Runs `commit` every `period`, and when `counted` is notified, but then
/// no sooner than `spacing` after the previous commit started; one commit
/// at a time. Never returns.
async fn pace_commits<F, C>(period: Duration, spacing: Duration, counted: &Notify, mut commit: C)
where
    C: FnMut() -> F,
    F: std::future::Future<Output = ()>,
{
    let mut last_started: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = counted.notified() => {
                if let Some(last_started) = last_started {
                    tokio::time::sleep_until(last_started + spacing).await;
                }
            }
        }
        last_started = Some(tokio::time::Instant::now());
        commit().await;
    }
}

fn closed() -> Error {
    Error::new(ErrorCode::ClosedHandle, "the consumer is closed")
}

fn describe_wait(block: bool, timeout: Option<Duration>) -> String {
    match (block, timeout) {
        (false, _) => "what is fetched already (not blocking)".to_string(),
        (true, Some(timeout)) => format!("{} ms", timeout.as_millis()),
        (true, None) => "the wait".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn commits_asked_for_by_count_are_spaced() {
        let runtime = engine::runtime().unwrap();
        let counted = Arc::new(Notify::new());
        let commits = Arc::new(AtomicUsize::new(0));
        let spacing = Duration::from_millis(20);
        let pacer = {
            let (counted, commits) = (Arc::clone(&counted), Arc::clone(&commits));
            runtime.spawn(async move {
                pace_commits(Duration::from_secs(3600), spacing, &counted, || {
                    commits.fetch_add(1, Ordering::Relaxed);
                    std::future::ready(())
                })
                .await
            })
        };
        // An application far faster than the spacing asks all the time.
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(200) {
            counted.notify_one();
            std::thread::sleep(Duration::from_micros(50));
        }
        let made = commits.load(Ordering::Relaxed);
        let elapsed = started.elapsed();
        // A loaded machine only makes the commits later, never more.
        let most = (elapsed.as_millis() / spacing.as_millis()) as usize + 1;
        assert!(
            made <= most,
            "{made} commits in {elapsed:?}: at most one per {spacing:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while commits.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(commits.load(Ordering::Relaxed) > 0, "the commits asked for start");
        pacer.abort();
    }
}
