//! The producer (docs/producer.md): Python yelp_kafka's synchronous simple and keyed
//! producers, and an asynchronous batching producer with delivery reports,
//! over one queue and one engine task per producer.
//!
//! Callers' threads enqueue messages (`accumulator`) into batches
//! (`batch`); the engine task
//! (`sender`) sends ready batches to partition leaders and settles them;
//! results come back to callers' threads as synchronous return values or
//! as delivery reports served by `poll`, `flush` and `close`, where metrics
//! are delivered to the responder too.

pub(crate) mod accumulator;
pub(crate) mod batch;
mod buffers;
pub(crate) mod key_partitioner;
pub(crate) mod options;
mod sender;
pub(crate) mod topics;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::config::{ClusterConfig, Config};
use crate::engine::{self, TaskSet};
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::compression::compress;
use crate::kafka::KafkaCluster;
use crate::metrics::{now_ms, MetricsRecorder, MetricsResponder, ProducerMetric};
use crate::sync::{Locking, Waiting};
use crate::topic_partition::TopicPartition;
use crate::wakeup::{Readiness, Wakeup};

pub use accumulator::OutgoingHeader;
use accumulator::{Accumulator, Completion, CompressionJob, OutgoingMessage, SyncWaiter};
pub use accumulator::{DeliveryReport, ReportRun, Reports};
use key_partitioner::partition_for_key;
pub use options::{ProducerOptions, PRODUCER_OPTIONS};
use topics::{TopicCache, TopicEntry};

/// What `poll`, `flush` and `close` hand delivery reports to: every report
/// ready at that moment, in the order they came, moved out of the queue
/// (a flush may call it several times; never with none).
pub type ReportHandler<'a> = &'a mut dyn FnMut(Reports);

/// How long `produce` may wait for queue space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueWait {
    /// Fail at once with `QueueFull`.
    NoWait,
    /// Wait up to this long, then `QueueFull`.
    Upto(Duration),
    /// Wait as long as it takes.
    Forever,
    /// Wait as long as it takes, unless the producer's wakeup ends the
    /// wait with `WokenUp` (a synchronous send).
    UntilWoken,
}

/// Whether a wakeup ends a metadata lookup for a topic the producer has
/// not seen yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// Looked up to the end (an asynchronous produce, which no wakeup ends).
    Whole,
    /// Ended by a wakeup, with `WokenUp` (a synchronous send).
    UntilWoken,
}

/// The most full batches a producer has compressed on the engine's
/// blocking threads at once, however many cores there are: each holds a
/// batch's records uncompressed meanwhile.
const MAX_COMPRESSIONS_AWAY: usize = 4;

/// Gives back a blocking thread's compression slot, also if compressing
/// unwinds.
struct CompressionAwayReturned<'a>(&'a AtomicUsize);

impl Drop for CompressionAwayReturned<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// State shared by callers' threads and the engine task.
pub struct Shared {
    cluster: KafkaCluster,
    options: ProducerOptions,
    state: Mutex<Accumulator>,
    /// Signalled when queue space frees up or messages complete (pairs with `state`).
    space: Condvar,
    wake_sender: Notify,
    reports: Mutex<Reports>,
    /// Signalled when a report is queued (pairs with `reports`).
    reports_ready: Condvar,
    metrics: MetricsRecorder,
    shutdown: AtomicBool,
    closed: AtomicBool,
    refreshing_metadata: AtomicBool,
    topics: TopicCache,
    /// Buffers of encoded record batches, reused from request to request.
    request_buffers: Mutex<buffers::BufferPool>,
    /// Every engine task of the producer: the sender loop, its Produce
    /// requests, metadata refreshes and producer-id requests.
    tasks: TaskSet,
    /// Full batches being compressed on the engine's blocking threads.
    compressions_away: AtomicUsize,
    /// How many may be at once (docs/producer.md, "Compressed as they are
    /// sealed").
    max_compressions_away: usize,
    /// Ends a blocked `poll` or `flush` early (docs/c-abi.md, "Wakeups").
    wakeup: Wakeup,
    /// Readable while delivery reports wait (set and cleared under `reports`).
    readiness: Readiness,
}

impl Shared {
    /// Wakes the threads waiting in `poll` and `flush`, each under the lock
    /// its wait pairs with, so that none between its check and its wait
    /// misses it.
    fn wake_waiters(&self) {
        drop(self.reports.locked());
        self.reports_ready.notify_all();
        drop(self.state.locked());
        self.space.notify_all();
    }

    /// Hands a batch this thread's append sealed full to one of the
    /// engine's blocking threads while fewer than `max_compressions_away`
    /// are compressing, so that the producing thread goes on copying
    /// messages; else compresses it here, which bounds how many full
    /// batches wait uncompressed (docs/producer.md, "Compressed as they are
    /// sealed").
    fn compress_sealed_away_or_here(shared: &Arc<Shared>, job: CompressionJob) {
        let away = shared.compressions_away.fetch_add(1, Ordering::AcqRel);
        if away >= shared.max_compressions_away {
            shared.compressions_away.fetch_sub(1, Ordering::AcqRel);
            shared.compress_sealed(job);
            return;
        }
        let compressor = Arc::clone(shared);
        shared.tasks.spawn_blocking(move || {
            let _returned = CompressionAwayReturned(&compressor.compressions_away);
            compressor.compress_sealed(job);
        });
    }

    /// Compresses the records of a batch an append sealed full, on the
    /// producing thread or a blocking thread, with the queue's lock let
    /// go: the sender never waits on it. Queued,
    /// the batch then holds its records compressed, and its segments are
    /// written again at once (docs/producer.md, "Compressed as they are
    /// sealed").
    fn compress_sealed(&self, job: CompressionJob) {
        let codec = self.options.compression;
        let appended: usize = job.segments.iter().map(Bytes::len).sum();
        let mut buffer = self.request_buffers.locked().take(64 + appended / 3);
        // Copied out at their size: the pooled buffer's room is the
        // request buffers' to reuse, not the queue's to keep.
        let records = compress(&job.segments, &mut buffer, codec)
            .ok()
            .map(|()| Bytes::copy_from_slice(&buffer));
        self.request_buffers.locked().give(buffer.freeze());
        self.state
            .locked()
            .compression_finished(job, codec.compression, records);
        self.wake_sender.notify_one();
    }
}

/// A Kafka producer for one cluster.
pub struct Producer {
    shared: Arc<Shared>,
    /// Keeps the engine's runtime alive as long as the producer.
    _runtime: Arc<Runtime>,
    sender: AbortHandle,
    /// Wakes `poll` and `flush` after a wakeup request.
    notifier: Option<AbortHandle>,
}

impl Producer {
    /// A producer for `cluster` configured by `config` (client and producer
    /// options). Nothing connects until the first message.
    pub fn new(
        cluster: &ClusterConfig,
        config: &Config,
        responder: Option<Box<dyn MetricsResponder>>,
    ) -> Result<Producer> {
        Producer::with_options(cluster, ProducerOptions::from_config(config)?, responder)
    }

    /// A producer for `cluster` with options already read.
    pub fn with_options(
        cluster: &ClusterConfig,
        options: ProducerOptions,
        responder: Option<Box<dyn MetricsResponder>>,
    ) -> Result<Producer> {
        let runtime = engine::runtime()?;
        let shared = Arc::new(Shared {
            cluster: KafkaCluster::new(cluster.broker_list().to_vec(), options.client.clone()),
            metrics: MetricsRecorder::new(responder, options.report_metrics),
            options,
            state: Mutex::new(Accumulator::default()),
            space: Condvar::new(),
            wake_sender: Notify::new(),
            reports: Mutex::new(Reports::default()),
            reports_ready: Condvar::new(),
            shutdown: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            refreshing_metadata: AtomicBool::new(false),
            topics: TopicCache::default(),
            request_buffers: Mutex::new(buffers::BufferPool::default()),
            tasks: TaskSet::new(&runtime),
            compressions_away: AtomicUsize::new(0),
            max_compressions_away: std::thread::available_parallelism()
                .map_or(1, |cores| cores.get() - 1)
                .clamp(1, MAX_COMPRESSIONS_AWAY),
            wakeup: Wakeup::new()?,
            readiness: Readiness::new()?,
        });
        let sender = shared.tasks.spawn(sender::run(Arc::clone(&shared)));
        let waiters = Arc::downgrade(&shared);
        let notifier = shared.wakeup.notify_on_request(move || {
            if let Some(shared) = waiters.upgrade() {
                shared.wake_waiters();
            }
        });
        let notifier = notifier.map(|notifier| shared.tasks.spawn(notifier));
        Ok(Producer {
            shared,
            _runtime: runtime,
            sender,
            notifier,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &ProducerOptions {
        &self.shared.options
    }

    /// Sends `values` (without keys; `None` is a null value) to `topic`,
    /// round-robin over its partitions, and returns once the broker
    /// acknowledged every one: their offsets, in order, or the first error.
    pub fn send_messages(&self, topic: &str, values: &[Option<&[u8]>]) -> Result<Vec<i64>> {
        self.check_sending()?;
        let entry = self.topic(topic, Lookup::UntilWoken)?;
        let timestamp = now_ms();
        let routed = values
            .iter()
            .map(|value| {
                (
                    entry.next_round_robin(),
                    OutgoingMessage {
                        key: None,
                        value: *value,
                        headers: &[],
                        timestamp,
                    },
                )
            })
            .collect();
        self.send_and_wait(&entry, routed)
    }

    /// Sends `values` (`None` is a null value, a tombstone) with `key` to
    /// the partition murmur2 picks for the key (as librdkafka's
    /// `murmur2_random` and the Java client do) and returns once the broker
    /// acknowledged every one. Python yelp_kafka's keyed producer takes
    /// `None` as a message, as kafka-python's does.
    pub fn send_keyed_messages(&self, topic: &str, key: &[u8], values: &[Option<&[u8]>]) -> Result<Vec<i64>> {
        self.check_sending()?;
        let entry = self.topic(topic, Lookup::UntilWoken)?;
        let partition = partition_for_key(key, entry.partitions());
        let timestamp = now_ms();
        let routed = values
            .iter()
            .map(|value| {
                (
                    partition,
                    OutgoingMessage {
                        key: Some(key),
                        value: *value,
                        headers: &[],
                        timestamp,
                    },
                )
            })
            .collect();
        self.send_and_wait(&entry, routed)
    }

    /// Queues `messages` and waits for the broker's answer to each. A
    /// wakeup ends the wait with `WokenUp` (docs/c-abi.md, "Wakeups"): the
    /// messages queued by then stay queued and may still be delivered,
    /// those not queued yet never are. Each message's bytes are copied as
    /// it is queued, so nothing of the caller's is read after a return.
    fn send_and_wait(&self, topic: &TopicEntry, messages: Vec<(i32, OutgoingMessage<'_>)>) -> Result<Vec<i64>> {
        for (_, message) in &messages {
            self.check_size(message)?;
        }
        self.shared.wakeup.take()?;
        let waiter = SyncWaiter::new(messages.len());
        for (index, (partition, message)) in messages.into_iter().enumerate() {
            let completion = Completion::Waiter(Arc::clone(&waiter), index);
            self.enqueue(
                topic.partition(partition),
                message,
                completion,
                true,
                QueueWait::UntilWoken,
            )?;
        }
        // The caller waits anyway: its thread sends the batch, which saves
        // the hand-over to the engine task on the way out. A wakeup hands
        // a request under way over to the engine instead of dropping it.
        let mut sending = Box::pin(sender::send_ready_here(Arc::clone(&self.shared)));
        match engine::block_on(self.shared.wakeup.or_woken(&mut sending))? {
            Ok(true) => {}
            Ok(false) => self.shared.wake_sender.notify_one(),
            Err(woken) => {
                self.shared.tasks.spawn(async move {
                    sending.await;
                });
                return Err(woken);
            }
        }
        let result = engine::block_on(self.shared.wakeup.or_woken(waiter.wait()))?;
        self.shared.metrics.deliver();
        result?
    }

    /// Queues one message and returns at once; its delivery report carries
    /// `opaque`. `partition` `None` picks one: by murmur2 of the key, or
    /// round-robin without a key. When the queue is full, `wait` decides.
    pub fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        opaque: usize,
        wait: QueueWait,
    ) -> Result<()> {
        self.produce_with_headers(topic, partition, key, value, &[], opaque, wait)
    }

    /// [`Producer::produce`] with record headers.
    #[allow(clippy::too_many_arguments)]
    pub fn produce_with_headers(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[OutgoingHeader<'_>],
        opaque: usize,
        wait: QueueWait,
    ) -> Result<()> {
        let (entry, partition, message) = self.addressed(topic, partition, key, value, headers, Lookup::Whole)?;
        self.check_size(&message)?;
        self.enqueue(
            entry.partition(partition),
            message,
            Completion::Report(opaque),
            false,
            wait,
        )
    }

    /// Sends one message with record headers, routed as by
    /// [`Producer::produce`], and returns its offset once the broker
    /// acknowledged it.
    pub fn send_with_headers(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[OutgoingHeader<'_>],
    ) -> Result<i64> {
        let (entry, partition, message) = self.addressed(topic, partition, key, value, headers, Lookup::UntilWoken)?;
        let offsets = self.send_and_wait(&entry, vec![(partition, message)])?;
        Ok(offsets[0])
    }

    /// One message with its topic's entry and its partition, checked that
    /// the producer may send.
    fn addressed<'a>(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a [OutgoingHeader<'a>],
        lookup: Lookup,
    ) -> Result<(Arc<TopicEntry>, i32, OutgoingMessage<'a>)> {
        self.check_sending()?;
        let entry = self.topic(topic, lookup)?;
        let partition = route(&entry, partition, key)?;
        let message = OutgoingMessage {
            key,
            value,
            headers,
            timestamp: now_ms(),
        };
        Ok((entry, partition, message))
    }

    /// A closed producer refuses every call at once, before a topic lookup
    /// that could wait for unreachable brokers.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        Ok(())
    }

    /// Refuses a new message when the producer is closed, or when its
    /// sender task failed: nothing would ever send it. Serving reports
    /// (`poll`, `flush`, `close`) goes on, so the failed messages still
    /// reach the application.
    fn check_sending(&self) -> Result<()> {
        self.check_open()?;
        if self.shared.shutdown.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorCode::Internal,
                "the producer's sender task failed; create a new producer",
            ));
        }
        Ok(())
    }

    fn check_size(&self, message: &OutgoingMessage<'_>) -> Result<()> {
        if message.size() > self.shared.options.message_max_bytes {
            return Err(Error::invalid_argument(format!(
                "message of {} bytes is larger than message_max_bytes ({})",
                message.size(),
                self.shared.options.message_max_bytes
            )));
        }
        Ok(())
    }

    fn enqueue(
        &self,
        partition: &TopicPartition,
        message: OutgoingMessage<'_>,
        completion: Completion,
        urgent: bool,
        wait: QueueWait,
    ) -> Result<()> {
        let shared = &self.shared;
        let deadline = match wait {
            QueueWait::Upto(limit) => Some(Instant::now() + limit),
            _ => None,
        };
        let size = message.size();
        let mut state = shared.state.locked();
        loop {
            if shared.closed.load(Ordering::Acquire) {
                return Err(closed_error());
            }
            let has_room = state.queued_messages < shared.options.queue_max_messages
                && (state.queued_messages == 0 || state.queued_bytes + size <= shared.options.queue_max_bytes);
            if has_room {
                break;
            }
            if !state.queue_pressed {
                // The sender stops lingering (Accumulator::queue_pressed).
                state.queue_pressed = true;
                shared.wake_sender.notify_one();
            }
            let full = || {
                Error::new(
                    ErrorCode::QueueFull,
                    format!(
                        "{} messages ({} bytes) are queued (queue_max_messages {}, queue_max_bytes {})",
                        state.queued_messages,
                        state.queued_bytes,
                        shared.options.queue_max_messages,
                        shared.options.queue_max_bytes
                    ),
                )
            };
            if wait == QueueWait::NoWait {
                return Err(full());
            }
            if wait == QueueWait::UntilWoken {
                // The notifier wakes `space` under this lock after a request.
                shared.wakeup.take()?;
            }
            // Messages this caller already queued (a synchronous send's
            // first ones) must not wait for the sender's next timer.
            shared.wake_sender.notify_one();
            state = match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(full());
                    }
                    shared.space.wait_timeout_locked(state, deadline - now).0
                }
                None => shared.space.wait_locked(state),
            };
        }
        let appended = state.append(partition, message, completion, urgent, &shared.options);
        drop(state);
        if appended.sender_should_look && !urgent {
            shared.wake_sender.notify_one();
        }
        for job in appended.to_compress {
            Shared::compress_sealed_away_or_here(shared, job);
        }
        Ok(())
    }

    /// What the producer knows of `topic`: from its cache while the
    /// metadata is unchanged, else from cached metadata, else from a lookup
    /// that `lookup` says whether a wakeup ends.
    fn topic(&self, topic: &str, lookup: Lookup) -> Result<Arc<TopicEntry>> {
        if topic.is_empty() {
            return Err(Error::invalid_argument("topic is empty"));
        }
        let cluster = &self.shared.cluster;
        // The generation is read before the metadata: an entry may then be
        // newer than its tag, never older.
        let generation = cluster.metadata_generation();
        if let Some(entry) = self.shared.topics.get(topic, generation) {
            return Ok(entry);
        }
        let partitions = |metadata: &crate::kafka::ClusterMetadata| {
            metadata
                .topics
                .get(topic)
                .filter(|t| t.error_code == 0 && !t.partitions.is_empty())
                .map(|t| t.partitions.len())
        };
        if let Some(count) = partitions(&cluster.cached_metadata()) {
            return self.shared.topics.insert(topic, count, generation);
        }
        let started = Instant::now();
        let generation = cluster.metadata_generation();
        let wanted = [topic.to_string()];
        let fetching = cluster.fetch_metadata(Some(&wanted));
        let fetched = match lookup {
            Lookup::Whole => engine::block_on(fetching)?,
            Lookup::UntilWoken => engine::block_on(self.shared.wakeup.or_woken(fetching))??,
        };
        self.shared
            .metrics
            .record_duration(ProducerMetric::MetadataRequestTimer as usize, started.elapsed());
        let metadata = fetched.inspect_err(|_| {
            self.shared
                .metrics
                .record(ProducerMetric::ProduceExceptionCount as usize, 1.0)
        })?;
        if let Some(count) = partitions(&metadata) {
            return self.shared.topics.insert(topic, count, generation);
        }
        metadata.checked_topic(topic)?;
        Err(Error::new(
            ErrorCode::LeaderNotAvailable,
            format!("topic {topic:?} has no partitions yet"),
        ))
    }

    /// Serves delivery reports: waits up to `timeout` for the first one, then
    /// hands every queued report to `handler` on this thread. Returns how many.
    pub fn poll(&self, timeout: Duration, handler: ReportHandler<'_>) -> Result<usize> {
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        let mut reports = self.shared.reports.locked();
        while reports.is_empty() {
            // A close from another thread ends the wait: no report can
            // come after it that close does not serve itself.
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(closed_error());
            }
            self.shared.wakeup.take()?;
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            reports = self.shared.reports_ready.wait_timeout_locked(reports, deadline - now).0;
        }
        let served = self.serve(reports, handler);
        self.shared.metrics.deliver();
        Ok(served)
    }

    /// Wakes the threads waiting in `poll`, taking the reports lock so a
    /// poller between its closed check and its wait cannot miss the wakeup.
    fn wake_pollers(&self) {
        let _reports = self.shared.reports.locked();
        self.shared.reports_ready.notify_all();
    }

    /// Hands the queued reports to `handler`, the queue taken whole so that
    /// no report is copied on the way.
    fn serve(&self, mut reports: MutexGuard<'_, Reports>, handler: ReportHandler<'_>) -> usize {
        let served = std::mem::take(&mut *reports);
        self.shared.readiness.clear();
        drop(reports);
        let count = served.len();
        if count > 0 {
            handler(served);
        }
        count
    }

    /// Sends everything queued now and waits up to `timeout` until every
    /// message is delivered or failed, serving delivery reports meanwhile.
    /// `TimedOut` names how many messages are still undelivered.
    pub fn flush(&self, timeout: Duration, handler: ReportHandler<'_>) -> Result<()> {
        self.check_open()?;
        self.flush_queued(timeout, handler, true)
    }

    /// Flushes; a wakeup ends it early when `interruptible` (not in close,
    /// which the application asked to wait). The batches go out without
    /// their linger only once the queue is found non-empty and no wakeup
    /// pending: a wakeup pending when a flush with messages to wait for
    /// starts ends it however fast the brokers answer.
    fn flush_queued(&self, timeout: Duration, handler: ReportHandler<'_>, interruptible: bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut flushing = None;
        let result = loop {
            self.serve(self.shared.reports.locked(), handler);
            let mut state = self.shared.state.locked();
            if state.queued_messages == 0 {
                break Ok(());
            }
            if interruptible {
                if let Err(woken) = self.shared.wakeup.take() {
                    break Err(woken);
                }
            }
            if flushing.is_none() {
                flushing = Some(Flushing::start(&self.shared, &mut state));
                self.shared.wake_sender.notify_one();
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(Error::new(
                    ErrorCode::TimedOut,
                    format!("{} messages not delivered within {timeout:?}", state.queued_messages),
                ));
            }
            let pause = (deadline - now).min(Duration::from_millis(20));
            drop(self.shared.space.wait_timeout_locked(state, pause));
        };
        drop(flushing);
        self.serve(self.shared.reports.locked(), handler);
        self.shared.metrics.deliver();
        result
    }

    /// Stops taking messages, flushes for up to `timeout` (not at all for
    /// zero), then fails what is left. Every message gets its delivery
    /// report (through `handler`) except those still awaiting a broker's
    /// answer. Returns how many messages were not delivered (failed at
    /// close or still unanswered). Closing a closed producer is
    /// `ClosedHandle`.
    pub fn close(&self, timeout: Duration, handler: ReportHandler<'_>) -> Result<usize> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Err(closed_error());
        }
        self.shared.space.notify_all();
        self.wake_pollers();
        // With no time to wait for answers, nothing more is handed to the
        // sender: a batch sent now would end unanswered, without a report,
        // where failing it here reports every message.
        if !timeout.is_zero() {
            let _ = self.flush_queued(timeout, handler, false);
        }
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake_sender.notify_one();
        let unsent = self.shared.state.locked().drain_unsent();
        let mut undelivered = 0;
        for batch in unsent {
            undelivered += batch.len();
            let error = Error::new(
                ErrorCode::ClosedHandle,
                "the producer was closed before the message was sent",
            );
            self.shared.finish_batch(batch, Err(error), false);
        }
        undelivered += self.shared.state.locked().queued_messages;
        self.serve(self.shared.reports.locked(), handler);
        self.shared.metrics.deliver();
        Ok(undelivered)
    }

    /// Makes a blocked [`Producer::poll`] or [`Producer::flush`] return
    /// `WokenUp` at once (or the next one, when none is blocked).
    /// Async-signal-safe.
    pub fn wakeup(&self) {
        self.shared.wakeup.request();
    }

    /// A descriptor readable while delivery reports wait to be served;
    /// owned by the producer.
    pub fn ready_fd(&self) -> std::os::fd::RawFd {
        self.shared.readiness.fd()
    }

    /// Messages produced and not yet delivered or failed.
    pub fn queued_messages(&self) -> usize {
        self.shared.state.locked().queued_messages
    }
}

/// The partition a message goes to: `partition` when given (and known),
/// else murmur2 of the key, else the topic's next round-robin partition.
fn route(entry: &TopicEntry, partition: Option<i32>, key: Option<&[u8]>) -> Result<i32> {
    match (partition, key) {
        (Some(p), _) if p >= 0 && (p as usize) < entry.partitions() => Ok(p),
        (Some(p), _) => Err(Error::new(
            ErrorCode::UnknownTopicOrPartition,
            format!(
                "topic {:?} has {} partitions, not partition {p}",
                entry.name.as_str(),
                entry.partitions()
            ),
        )),
        (None, Some(key)) => Ok(partition_for_key(key, entry.partitions())),
        (None, None) => Ok(entry.next_round_robin()),
    }
}

fn closed_error() -> Error {
    Error::new(ErrorCode::ClosedHandle, "the producer is closed")
}

/// A flush in progress: batches go out without linger until it ends, also
/// when a report handler panics.
struct Flushing<'a>(&'a Shared);

impl Flushing<'_> {
    /// Starts a flush; `state` is `shared`'s, locked by the caller.
    fn start<'a>(shared: &'a Shared, state: &mut Accumulator) -> Flushing<'a> {
        state.flushing += 1;
        Flushing(shared)
    }
}

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        self.0.state.locked().flushing -= 1;
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake_sender.notify_one();
        self.shared.space.notify_all();
        self.sender.abort();
        if let Some(notifier) = &self.notifier {
            notifier.abort();
        }
        self.shared.metrics.release();
    }
}
