//! Fetching for one consumer: an engine task that keeps one fetch in flight
//! per broker, for the assigned partitions that broker leads, while the
//! application works on what earlier fetches brought.
//!
//! Which partitions join the next fetch is
//! [`fetch_plan`](crate::consumer::fetch_plan)'s decision: a
//! partition with no fetch in flight and fewer than
//! [`QUEUE_DEPTH`](crate::consumer::fetch_plan::QUEUE_DEPTH) chunks waiting in the queue
//! (each bounded by `fetch_message_max_bytes`, the whole fetch by
//! `fetch_max_bytes`), so the application takes one chunk while the next is
//! ready and a third is on its way; a broker is asked again only once
//! enough of its partitions have room ([`refill_due`]), and taking a chunk
//! wakes this task only then. Fetches to different brokers run in
//! parallel and decode on engine threads. Leader moves reroute a partition
//! after a metadata refresh; an out-of-range offset follows the reset
//! policy; errors the application must see are queued in order with the
//! chunks. Partitions can be assigned and revoked at any time: each
//! assignment has a number, and what an older assignment fetched is
//! dropped. Owns the queue the application takes from and nothing else:
//! offsets to commit belong to the tracker.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};

use crate::consumer::config::OffsetReset;
use crate::consumer::fetch_plan::{plan_fetches, refill_due, FetchPlan, PartitionFetch};
use crate::engine::TaskSet;
use crate::error::{Error, ErrorCode};
use crate::kafka::cluster::is_stale_leader;
use crate::kafka::fetch::{FetchLimits, FetchPosition, Records};
use crate::kafka::KafkaCluster;
use crate::sync::{Locking, Waiting};
use crate::topic_partition::TopicPartition;
use crate::wakeup::{Readiness, Wakeup};

/// Told of every fetch request and of the errors fetches meet, on an
/// engine thread (a consumer group turns them into metrics).
pub trait FetchObserver: Send + Sync {
    /// A fetch request was answered (or failed) after `elapsed`.
    fn fetched(&self, elapsed: Duration);
    /// A ListOffsets request (the reset policy) took `elapsed`.
    fn offsets_listed(&self, elapsed: Duration);
    /// A fetch met `error`, for the whole request or one partition.
    fn failed(&self, error: &Error);
}

/// How the fetcher fetches and what it does after errors.
#[derive(Clone)]
pub struct FetchSettings {
    /// Byte and wait limits of each fetch.
    pub limits: FetchLimits,
    /// Where to go after an out-of-range offset.
    pub reset: OffsetReset,
    /// Wait before fetching a partition again after a leader move or a lost broker.
    pub retry_backoff: Duration,
    /// Wait before fetching a partition again after an error the application saw.
    pub failure_backoff: Duration,
    /// Told of fetches and their errors, if anyone listens.
    pub observer: Option<Arc<dyn FetchObserver>>,
    /// Bytes of messages the queue may hold before no fetch starts
    /// (`queued_max_messages_kbytes`); fetches out already still land.
    pub max_queued_bytes: usize,
}

/// Messages of one partition from one fetch, in offset order.
pub struct Chunk {
    /// Their partition.
    pub partition: TopicPartition,
    /// The assignment they were fetched for.
    pub assignment: u64,
    /// Set when the reset policy moved the partition to this offset first.
    pub reset_to: Option<i64>,
    /// The offset after what this fetch covered: past its messages, and
    /// past control records and compacted offsets after them.
    pub next_offset: i64,
    /// The records, made messages one at a time as the application takes
    /// them ([`Message::from_record`](crate::consumer::Message)).
    pub records: Records,
    /// What the records held when queued ([`Records::held_bytes`]).
    held_bytes: usize,
}

/// What the application takes from the queue.
pub enum Ready {
    /// Messages.
    Chunk(Chunk),
    /// An error a fetch met, reported once.
    Failure(Error),
}

#[derive(Default)]
struct FetchState {
    partitions: HashMap<TopicPartition, PartitionFetch>,
    ready: VecDeque<Ready>,
    /// Chunks of messages queued so far: the clock of [`PartitionFetch::served`].
    chunks_queued: u64,
    /// What the chunks in `ready` hold ([`Records::held_bytes`]).
    queued_bytes: usize,
    stopped: bool,
    /// Set by [`Fetcher::interrupt`], taken by the wait it ends.
    interrupted: bool,
}

struct Shared {
    state: Mutex<FetchState>,
    data_ready: Condvar,
    wake: Notify,
    /// Readable while the queue holds something (set and cleared under `state`).
    readiness: Arc<Readiness>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FetchState> {
        self.state.locked()
    }
}

/// The fetching of one consumer. Dropping it stops the engine task.
pub struct Fetcher {
    shared: Arc<Shared>,
    task: AbortHandle,
    max_queued_bytes: usize,
}

impl Fetcher {
    /// Starts fetching from `cluster` (nothing is assigned yet), as a task
    /// of `tasks`.
    /// `readiness` is readable while the queue holds something, and once
    /// the fetcher stopped.
    pub fn start(
        cluster: Arc<KafkaCluster>,
        settings: FetchSettings,
        tasks: &TaskSet,
        readiness: Arc<Readiness>,
    ) -> Fetcher {
        let shared = Arc::new(Shared {
            state: Mutex::new(FetchState::default()),
            data_ready: Condvar::new(),
            wake: Notify::new(),
            readiness,
        });
        let max_queued_bytes = settings.max_queued_bytes;
        let task = tasks.spawn(schedule(Arc::clone(&shared), cluster, settings));
        Fetcher {
            shared,
            task,
            max_queued_bytes,
        }
    }

    /// Fetches each partition from its position on, as its assignment
    /// (replacing an earlier assignment of it), all of them from the same
    /// fetch on: a fetch that went out between two of them would ask for
    /// the first ones alone, and serve them again before the others once.
    pub fn assign(&self, partitions: impl IntoIterator<Item = (TopicPartition, u64, i64)>) {
        let mut state = self.shared.lock();
        for (partition, assignment, position) in partitions {
            state
                .partitions
                .insert(partition, PartitionFetch::new(assignment, position));
        }
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Stops fetching `partition`; what was fetched for it is dropped.
    pub fn revoke(&self, partition: &TopicPartition) {
        let mut state = self.shared.lock();
        state.partitions.remove(partition);
        state
            .ready
            .retain(|ready| !matches!(ready, Ready::Chunk(chunk) if chunk.partition == *partition));
    }

    /// The next chunk or error, if one is ready. Taking a chunk lets its
    /// partition be fetched again while the application works on it.
    pub fn take(&self) -> Option<Ready> {
        let mut state = self.shared.lock();
        let state = &mut *state;
        while let Some(ready) = state.ready.pop_front() {
            let Ready::Chunk(chunk) = &ready else {
                return Some(ready);
            };
            let was_full = state.queued_bytes >= self.max_queued_bytes;
            state.queued_bytes -= chunk.held_bytes;
            let room_made = was_full && state.queued_bytes < self.max_queued_bytes;
            if room_made {
                self.shared.wake.notify_one();
            }
            let Some(fetch) = state
                .partitions
                .get_mut(&chunk.partition)
                .filter(|fetch| fetch.assignment == chunk.assignment)
            else {
                continue;
            };
            fetch.queued -= 1;
            let leader = fetch.leader;
            if !room_made && leader.is_none_or(|leader| refill_due(&state.partitions, leader)) {
                self.shared.wake.notify_one();
            }
            return Some(ready);
        }
        if !state.stopped {
            self.shared.readiness.clear();
        }
        None
    }

    /// Waits until something is ready or `deadline` (`None`: no deadline)
    /// passes. False when nothing came, the fetcher was stopped, `wakeup`
    /// was requested or the wait was interrupted.
    pub fn wait(&self, deadline: Option<Instant>, wakeup: &Wakeup) -> bool {
        let mut state = self.shared.lock();
        loop {
            if state.stopped || wakeup.is_requested() {
                return false;
            }
            if state.interrupted {
                state.interrupted = false;
                return false;
            }
            if !state.ready.is_empty() {
                return true;
            }
            state = match deadline {
                None => self.shared.data_ready.wait_locked(state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.shared.data_ready.wait_timeout_locked(state, deadline - now).0
                }
            };
        }
    }

    /// What wakes the application threads waiting in [`Fetcher::wait`], for
    /// a wakeup's notifier: it takes the queue's lock, so a thread between
    /// its check and its wait cannot miss it.
    pub fn waker(&self) -> impl Fn() + Send + 'static {
        let shared = Arc::clone(&self.shared);
        move || {
            let _state = shared.lock();
            shared.data_ready.notify_all();
        }
    }

    /// What the queued chunks hold ([`Records::held_bytes`]).
    pub fn queued_bytes(&self) -> usize {
        self.shared.lock().queued_bytes
    }

    /// Ends the current [`Fetcher::wait`] early as if its time ran out, or
    /// the next one if none waits now: a group's member has an event for
    /// the thread that waits.
    pub fn interrupt(&self) {
        self.shared.lock().interrupted = true;
        self.shared.data_ready.notify_all();
    }

    /// Stops fetching and wakes every waiting application thread.
    pub fn stop(&self) {
        let mut state = self.shared.lock();
        state.stopped = true;
        // An event loop waiting on the descriptor learns of the close.
        self.shared.readiness.set();
        drop(state);
        self.shared.data_ready.notify_all();
        self.shared.wake.notify_one();
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.stop();
        self.task.abort();
    }
}

/// What became of one partition in one fetch.
enum PartitionOutcome {
    Fetched {
        records: Records,
        next_offset: i64,
        high_watermark: i64,
    },
    Reset {
        position: i64,
    },
    Retry,
    Failed(Error),
}

/// The partitions one job was about, with their assignment numbers.
type JobPartitions = Vec<(TopicPartition, u64)>;

enum JobOutcome {
    Fetched {
        broker: i32,
        outcomes: Vec<(TopicPartition, u64, PartitionOutcome)>,
    },
    MetadataRefreshed,
}

struct Scheduler {
    shared: Arc<Shared>,
    cluster: Arc<KafkaCluster>,
    settings: FetchSettings,
    jobs: JoinSet<JobOutcome>,
    /// What each running job is about, to recover its partitions if it panics.
    running: HashMap<tokio::task::Id, (Option<i32>, JobPartitions)>,
    busy_brokers: HashSet<i32>,
    refreshing: bool,
}

async fn schedule(shared: Arc<Shared>, cluster: Arc<KafkaCluster>, settings: FetchSettings) {
    let _unwinding = ReportPanic(Arc::clone(&shared));
    let mut scheduler = Scheduler {
        shared,
        cluster,
        settings,
        jobs: JoinSet::new(),
        running: HashMap::new(),
        busy_brokers: HashSet::new(),
        refreshing: false,
    };
    loop {
        let Some(next_retry) = scheduler.plan() else {
            return;
        };
        let retry = async {
            match next_retry {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = scheduler.shared.wake.notified() => {}
            Some(joined) = scheduler.jobs.join_next_with_id() => scheduler.finish(joined),
            _ = retry => {}
        }
    }
}

/// Tells the application when the fetcher task unwinds from a panic: an
/// `Internal` error in the queue wakes a waiting thread at once instead of
/// at its deadline. (Fetch jobs that panic are the scheduler's to report,
/// [`Scheduler::finish`].)
struct ReportPanic(Arc<Shared>);

impl Drop for ReportPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let error = Error::new(ErrorCode::Internal, "the fetcher task failed; nothing more is fetched");
            self.0.lock().ready.push_back(Ready::Failure(error));
            self.0.readiness.set();
            self.0.data_ready.notify_all();
        }
    }
}

impl Scheduler {
    /// Starts a fetch for each broker without one, with every partition it
    /// leads that is ready to be fetched. Returns when a partition waiting
    /// out a backoff is due, or `None` once stopped.
    fn plan(&mut self) -> Option<Option<Instant>> {
        let metadata = self.cluster.cached_metadata();
        let FetchPlan {
            by_leader,
            leaderless,
            next_retry,
        } = {
            let mut state = self.shared.lock();
            if state.stopped {
                return None;
            }
            // A full queue starts no fetch until the application takes a
            // chunk ([`Fetcher::take`] wakes the task then); an empty one
            // always does, however small the limit.
            if state.queued_bytes >= self.settings.max_queued_bytes && !state.ready.is_empty() {
                return Some(None);
            }
            plan_fetches(
                &mut state.partitions,
                &metadata,
                &self.busy_brokers,
                self.settings.retry_backoff,
                Instant::now(),
            )
        };
        for (broker, partitions) in by_leader {
            self.busy_brokers.insert(broker);
            let about = partitions.iter().map(|(p, a, _)| (p.clone(), *a)).collect();
            let job = fetch_job(Arc::clone(&self.cluster), self.settings.clone(), broker, partitions);
            let id = self.jobs.spawn(job).id();
            self.running.insert(id, (Some(broker), about));
        }
        if !leaderless.is_empty() && !self.refreshing {
            self.refreshing = true;
            let cluster = Arc::clone(&self.cluster);
            let topics: Vec<String> = leaderless.into_iter().collect();
            let id = self
                .jobs
                .spawn(async move {
                    // A failed refresh is tried again when the partitions' backoff ends.
                    let _ = cluster.fetch_metadata(Some(&topics)).await;
                    JobOutcome::MetadataRefreshed
                })
                .id();
            self.running.insert(id, (None, Vec::new()));
        }
        Some(next_retry)
    }

    fn finish(&mut self, joined: std::result::Result<(tokio::task::Id, JobOutcome), tokio::task::JoinError>) {
        match joined {
            Ok((id, outcome)) => {
                self.running.remove(&id);
                match outcome {
                    JobOutcome::MetadataRefreshed => self.refreshing = false,
                    JobOutcome::Fetched { broker, outcomes } => {
                        self.busy_brokers.remove(&broker);
                        self.apply(outcomes);
                    }
                }
            }
            Err(failure) => {
                let (broker, partitions) = self.running.remove(&failure.id()).unwrap_or_default();
                match broker {
                    Some(broker) => {
                        self.busy_brokers.remove(&broker);
                    }
                    None => self.refreshing = false,
                }
                let error = Error::new(ErrorCode::Internal, format!("a fetch task failed: {failure}"));
                let outcomes = partitions
                    .into_iter()
                    .map(|(partition, assignment)| (partition, assignment, PartitionOutcome::Failed(error.clone())))
                    .collect();
                self.apply(outcomes);
            }
        }
    }

    fn apply(&self, outcomes: Vec<(TopicPartition, u64, PartitionOutcome)>) {
        let now = Instant::now();
        let mut pushed = false;
        let mut state = self.shared.lock();
        let state = &mut *state;
        let mut reported: Vec<Error> = Vec::new();
        for (partition, assignment, outcome) in outcomes {
            let Some(fetch) = state
                .partitions
                .get_mut(&partition)
                .filter(|fetch| fetch.assignment == assignment)
            else {
                continue;
            };
            fetch.in_flight = false;
            let previous = fetch.position;
            let (records, reset_to) = match outcome {
                PartitionOutcome::Fetched {
                    records,
                    next_offset,
                    high_watermark,
                } => {
                    fetch.position = next_offset;
                    fetch.caught_up = next_offset >= high_watermark;
                    (records, None)
                }
                PartitionOutcome::Reset { position } => {
                    fetch.position = position;
                    fetch.caught_up = false;
                    (Records::default(), Some(position))
                }
                PartitionOutcome::Retry => {
                    fetch.retry_at = Some(now + self.settings.retry_backoff);
                    continue;
                }
                PartitionOutcome::Failed(error) => {
                    fetch.retry_at = Some(now + self.settings.failure_backoff);
                    // One report per error, not one per partition of the fetch.
                    if !reported.contains(&error) {
                        reported.push(error);
                    }
                    continue;
                }
            };
            // Nothing to hand out and nothing passed: no chunk. A chunk
            // without messages still tells the tracker that the position
            // moved (past control records, or by the reset policy).
            let holds_messages = !records.is_empty();
            if !holds_messages && reset_to.is_none() && fetch.position == previous {
                continue;
            }
            if holds_messages {
                state.chunks_queued += 1;
                fetch.served = state.chunks_queued;
            }
            fetch.queued += 1;
            let held_bytes = records.held_bytes();
            state.queued_bytes += held_bytes;
            state.ready.push_back(Ready::Chunk(Chunk {
                partition,
                assignment,
                reset_to,
                next_offset: fetch.position,
                records,
                held_bytes,
            }));
            pushed = true;
        }
        for error in reported {
            state.ready.push_back(Ready::Failure(error));
            pushed = true;
        }
        if pushed {
            self.shared.readiness.set();
            self.shared.data_ready.notify_all();
        }
    }
}

/// One fetch from `broker`, decoded; out-of-range partitions are moved by
/// the reset policy, and a stale leader refreshes metadata before the
/// partitions are tried again.
async fn fetch_job(
    cluster: Arc<KafkaCluster>,
    settings: FetchSettings,
    broker: i32,
    partitions: Vec<(TopicPartition, u64, i64)>,
) -> JobOutcome {
    let positions: Vec<FetchPosition> = partitions
        .iter()
        .map(|(partition, _, offset)| FetchPosition {
            partition: partition.clone(),
            offset: *offset,
        })
        .collect();
    let started = Instant::now();
    let answered = cluster.fetch_from(broker, &positions, &settings.limits).await;
    if let Some(observer) = &settings.observer {
        observer.fetched(started.elapsed());
        if let Err(error) = &answered {
            observer.failed(error);
        }
    }
    let mut answered = match answered {
        Ok(answered) => answered,
        Err(error) => {
            let quiet = quietly_retried(&error);
            if quiet && is_stale_leader(&error) {
                let _ = cluster.fetch_metadata(Some(&topics_of(&positions))).await;
            }
            let outcome = |error: &Error| {
                if quiet {
                    PartitionOutcome::Retry
                } else {
                    PartitionOutcome::Failed(error.clone())
                }
            };
            return JobOutcome::Fetched {
                broker,
                outcomes: partitions
                    .into_iter()
                    .map(|(p, a, _)| (p, a, outcome(&error)))
                    .collect(),
            };
        }
    };
    let mut refresh = false;
    let mut outcomes = Vec::with_capacity(partitions.len());
    for (partition, assignment, offset) in partitions {
        let result = answered
            .iter()
            .position(|fetched| fetched.partition == partition)
            .map(|index| answered.swap_remove(index).result)
            .unwrap_or_else(|| Err(Error::new(ErrorCode::Protocol, format!("no answer for {partition}"))));
        if let (Err(error), Some(observer)) = (&result, &settings.observer) {
            observer.failed(error);
        }
        let outcome = match result {
            Ok(fetched) => PartitionOutcome::Fetched {
                next_offset: fetched.next_offset,
                high_watermark: fetched.high_watermark,
                records: fetched.into_records(),
            },
            Err(error) if error.code() == ErrorCode::OffsetOutOfRange => {
                let started = Instant::now();
                let reset = reset_position(&cluster, &partition, settings.reset, offset).await;
                if let Some(observer) = &settings.observer {
                    observer.offsets_listed(started.elapsed());
                }
                reset
            }
            Err(error) if quietly_retried(&error) => {
                refresh |= is_stale_leader(&error) || error.code() == ErrorCode::UnknownTopicOrPartition;
                PartitionOutcome::Retry
            }
            Err(error) => PartitionOutcome::Failed(error),
        };
        outcomes.push((partition, assignment, outcome));
    }
    if refresh {
        let _ = cluster.fetch_metadata(Some(&topics_of(&positions))).await;
    }
    JobOutcome::Fetched { broker, outcomes }
}

/// The topics of `positions`, each once: what a metadata refresh asks about.
fn topics_of(positions: &[FetchPosition]) -> Vec<String> {
    positions
        .iter()
        .map(|position| position.partition.topic.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Errors that a later fetch may well not meet (leader moved, broker lost
/// or slow, topic being created): retried after a backoff without telling
/// the application, as librdkafka does.
fn quietly_retried(error: &Error) -> bool {
    is_stale_leader(error)
        || matches!(
            error.code(),
            ErrorCode::RequestTimedOut | ErrorCode::KafkaUnavailable | ErrorCode::UnknownTopicOrPartition
        )
        || (error.code() == ErrorCode::Broker && error.is_retriable())
}

async fn reset_position(
    cluster: &KafkaCluster,
    partition: &TopicPartition,
    reset: OffsetReset,
    offset: i64,
) -> PartitionOutcome {
    let timestamp = reset.list_offsets_timestamp();
    match cluster
        .list_offsets(partition.topic.as_str(), &[partition.partition], timestamp)
        .await
    {
        Ok(found) => match found.get(&partition.partition) {
            Some(position) => PartitionOutcome::Reset { position: *position },
            None => PartitionOutcome::Retry,
        },
        Err(error) if quietly_retried(&error) => PartitionOutcome::Retry,
        Err(error) => PartitionOutcome::Failed(error.context(format!(
            "offset {offset} of {partition} is out of range and the reset failed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientOptions;
    use crate::engine;

    /// A fetcher with nothing assigned, whose broker nobody listens on.
    fn idle_fetcher(tasks: &TaskSet) -> Fetcher {
        let cluster = Arc::new(KafkaCluster::new(vec!["127.0.0.1:1".into()], ClientOptions::default()));
        let settings = FetchSettings {
            limits: FetchLimits {
                max_wait: Duration::from_millis(100),
                min_bytes: 1,
                max_bytes: 1 << 20,
                partition_max_bytes: 1 << 20,
                max_inflated: 1 << 20,
            },
            reset: OffsetReset::Smallest,
            retry_backoff: Duration::from_millis(100),
            failure_backoff: Duration::from_millis(100),
            observer: None,
            max_queued_bytes: 1 << 20,
        };
        Fetcher::start(cluster, settings, tasks, Arc::new(Readiness::new().unwrap()))
    }

    #[test]
    fn an_interrupt_ends_one_wait_without_a_deadline() {
        let tasks = TaskSet::new(&engine::runtime().unwrap());
        let fetcher = Arc::new(idle_fetcher(&tasks));
        let (returned, waited) = std::sync::mpsc::channel();
        let waiting = Arc::clone(&fetcher);
        std::thread::spawn(move || {
            let wakeup = Wakeup::new().unwrap();
            let _ = returned.send(waiting.wait(None, &wakeup));
        });
        std::thread::sleep(Duration::from_millis(50));
        fetcher.interrupt();
        let ready = waited
            .recv_timeout(Duration::from_secs(10))
            .expect("the interrupted wait returned");
        assert!(!ready, "nothing was fetched");
        // Taken by the wait it ended: the next one waits out its time.
        let started = Instant::now();
        let wakeup = Wakeup::new().unwrap();
        assert!(!fetcher.wait(Some(started + Duration::from_millis(200)), &wakeup));
        assert!(started.elapsed() >= Duration::from_millis(200));
        fetcher.stop();
    }
}
