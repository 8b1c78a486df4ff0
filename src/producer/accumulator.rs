//! The producer's queue: messages waiting per partition, sealed into batches
//! by size (and then, with a codec, compressed by the producing thread off
//! the lock), released to the sender by linger, urgency or flush, and the
//! accounting that bounds it.
//!
//! One batch per partition is in flight at a time, so a retried batch is
//! always sent before the batches behind it and order per partition holds
//! through leader moves and broker failures.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use tokio::sync::Notify;

use crate::backoff::{backoff_over, look_again_at};
use crate::error::Error;
use crate::kafka::metadata::ClusterMetadata;
use crate::producer::batch::{Batch, SegmentPool, SEGMENT_BYTES};
use crate::producer::topics::NameMap;
use crate::producer::ProducerOptions;
use crate::sync::Locking;
use crate::topic_partition::{Topic, TopicPartition};

/// A record header as the caller hands it over: name and value (`None`:
/// a null value).
pub type OutgoingHeader<'a> = (&'a str, Option<&'a [u8]>);

/// A message as the caller hands it over; its bytes are copied into the
/// batch, so the caller's buffers are free as soon as `append` returns.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingMessage<'a> {
    /// Key, if any.
    pub key: Option<&'a [u8]>,
    /// Value, if any (None is a null value).
    pub value: Option<&'a [u8]>,
    /// Headers, in order (usually none).
    pub headers: &'a [OutgoingHeader<'a>],
    /// Creation time, ms since the epoch.
    pub timestamp: i64,
}

impl OutgoingMessage<'_> {
    /// Bytes the message counts for in batch and queue limits: key, value,
    /// and each header's name and value.
    pub fn size(&self) -> usize {
        self.key.map_or(0, <[u8]>::len)
            + self.value.map_or(0, <[u8]>::len)
            + self
                .headers
                .iter()
                .map(|(name, value)| name.len() + value.map_or(0, <[u8]>::len))
                .sum::<usize>()
    }
}

/// Who learns of a message's fate.
#[derive(Debug, Clone)]
pub enum Completion {
    /// An asynchronous message: a delivery report with the caller's opaque value.
    Report(usize),
    /// Message `index` of a synchronous call waiting on `SyncWaiter`.
    Waiter(Arc<SyncWaiter>, usize),
}

/// A synchronous send waiting for all its messages. The wait is a future,
/// so that the caller's wakeup can end it (docs/c-abi.md, "Wakeups"); the
/// messages then complete into a waiter nobody waits on any more.
#[derive(Debug)]
pub struct SyncWaiter {
    state: Mutex<SyncState>,
    done: Notify,
}

#[derive(Debug)]
struct SyncState {
    remaining: usize,
    first_error: Option<Error>,
    offsets: Vec<i64>,
}

impl SyncWaiter {
    /// A waiter for `count` messages.
    pub fn new(count: usize) -> Arc<SyncWaiter> {
        Arc::new(SyncWaiter {
            state: Mutex::new(SyncState {
                remaining: count,
                first_error: None,
                offsets: vec![-1; count],
            }),
            done: Notify::new(),
        })
    }

    fn complete(&self, index: usize, outcome: &Result<i64, Error>) {
        let mut state = self.state.locked();
        match outcome {
            Ok(offset) => state.offsets[index] = *offset,
            Err(error) => {
                state.first_error.get_or_insert_with(|| error.clone());
            }
        }
        state.remaining -= 1;
        if state.remaining == 0 {
            // Kept as a permit when the waiter is between its check and
            // its wait.
            self.done.notify_one();
        }
    }

    /// Waits until every message is done; the offsets, or the first error.
    pub async fn wait(&self) -> Result<Vec<i64>, Error> {
        loop {
            {
                let mut state = self.state.locked();
                if state.remaining == 0 {
                    return match state.first_error.take() {
                        Some(error) => Err(error),
                        None => Ok(std::mem::take(&mut state.offsets)),
                    };
                }
            }
            self.done.notified().await;
        }
    }
}

/// The delivery reports of one settled batch: its messages that asked for
/// a report, all of one partition and one outcome. Kept per batch rather
/// than per message, so that settling a batch clones its topic's shared
/// name once, not once per message on a count that the thread serving
/// the reports then counts down again (BENCHMARKS.md, "Reports kept per
/// batch").
#[derive(Debug)]
pub struct ReportRun {
    topic: Topic,
    partition: i32,
    /// The batch's base offset (−1 when unknown), or why it failed.
    outcome: Result<i64, Error>,
    /// Each reported message's place in the batch, and its opaque value.
    messages: Vec<(u32, usize)>,
}

impl ReportRun {
    /// The topic of every report of the run.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// The partition of every report of the run.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Why every message of the run failed, if it did.
    pub fn error(&self) -> Option<&Error> {
        self.outcome.as_ref().err()
    }

    /// Each report's opaque value and offset (−1 when unknown, as with
    /// acks=0, or on failure), in order.
    pub fn reports(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        let base = *self.outcome.as_ref().unwrap_or(&-1);
        self.messages
            .iter()
            .map(move |&(index, opaque)| (opaque, message_offset(base, index as usize)))
    }
}

/// The offset of the message at `index` of a batch whose base offset is
/// `base` (−1, unknown, for every message when the base is).
fn message_offset(base: i64, index: usize) -> i64 {
    if base < 0 {
        -1
    } else {
        base + index as i64
    }
}

/// Delivery reports as `poll`, `flush` and `close` hand them over: runs of
/// one batch each, in the order the batches settled.
#[derive(Debug, Default)]
pub struct Reports {
    /// Never an empty run.
    runs: Vec<ReportRun>,
}

impl Reports {
    /// How many reports there are.
    pub fn len(&self) -> usize {
        self.runs.iter().map(|run| run.messages.len()).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs, in order.
    pub fn runs(&self) -> &[ReportRun] {
        &self.runs
    }

    /// Adds `later`'s reports after these.
    pub fn append(&mut self, mut later: Reports) {
        self.runs.append(&mut later.runs);
    }
}

/// One [`DeliveryReport`] per message, each with its own copy of the topic.
impl IntoIterator for Reports {
    type Item = DeliveryReport;
    type IntoIter = std::vec::IntoIter<DeliveryReport>;

    fn into_iter(self) -> Self::IntoIter {
        let mut reports = Vec::with_capacity(self.len());
        for run in &self.runs {
            reports.extend(run.reports().map(|(opaque, offset)| DeliveryReport {
                opaque,
                topic: run.topic.clone(),
                partition: run.partition,
                offset,
                error: run.error().cloned(),
            }));
        }
        reports.into_iter()
    }
}

/// What became of one asynchronous message.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    /// The caller's opaque value.
    pub opaque: usize,
    /// Topic.
    pub topic: Topic,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition (−1 when unknown, as with acks=0).
    pub offset: i64,
    /// Why delivery failed, if it did.
    pub error: Option<Error>,
}

#[derive(Debug, Default)]
struct PartitionQueue {
    /// Sealed batches, oldest (or retried) first.
    sealed: VecDeque<Batch>,
    /// The batch still taking messages.
    open: Option<Batch>,
    /// A synchronous caller waits: send without linger.
    urgent: bool,
    in_flight: bool,
    backoff_until: Option<Instant>,
    next_sequence: i32,
    /// The bytes the last sealed batch reached: the next one's first
    /// segment is no larger (see [`first_segment`]).
    last_batch_bytes: usize,
}

impl PartitionQueue {
    /// Seals the open batch, remembering how large it grew.
    fn seal_open(&mut self) {
        let batch = self.open.take().expect("open batch exists");
        self.last_batch_bytes = batch.bytes;
        self.sealed.push_back(batch.seal());
    }

    /// Seals the open batch because it is full; with a codec, takes its
    /// segments out for the producing thread to compress under a new
    /// ticket from `tickets`.
    fn seal_full(&mut self, codec: Compression, tickets: &mut u64) -> Option<CompressionJob> {
        self.seal_open();
        if codec == Compression::None {
            return None;
        }
        let batch = self.sealed.back_mut().expect("sealed above");
        *tickets += 1;
        Some(CompressionJob {
            partition: batch.partition.clone(),
            ticket: *tickets,
            segments: batch.start_compression(*tickets),
        })
    }
}

/// What an append asks of its caller.
#[derive(Debug, Default)]
pub struct Appended {
    /// The sender should look again: a batch was sealed, or a new one
    /// started its linger.
    pub sender_should_look: bool,
    /// Batches the append sealed full, for the caller to compress once it
    /// has let go of the queue (docs/producer.md, "Compressed as they are
    /// sealed").
    pub to_compress: Vec<CompressionJob>,
}

/// The records of a batch sealed full, out of the queue to be compressed;
/// the batch waits in its partition's queue, unsent, until
/// [`Accumulator::compression_finished`].
#[derive(Debug)]
pub struct CompressionJob {
    partition: TopicPartition,
    ticket: u64,
    /// The batch's segments, its records as appended.
    pub segments: Vec<Bytes>,
}

/// What the sender should do now.
#[derive(Debug, Default)]
pub struct SendPlan {
    /// Batches to send, grouped by leader node id.
    pub requests: BTreeMap<i32, Vec<Batch>>,
    /// Topics whose leaders are unknown.
    pub refresh_topics: BTreeSet<Topic>,
    /// Batches that ran out of time, with the reason.
    pub expired: Vec<(Batch, Error)>,
    /// The earliest moment something becomes ready.
    pub next_wakeup: Option<Instant>,
    /// An idempotent batch waits for a producer id and none is asked for
    /// yet: the sender must send one InitProducerId.
    pub needs_producer_id: bool,
}

/// The capacity of the first segment of a new batch of `queue`: a whole
/// segment, or less when the partition's last batch was smaller, so that
/// a partition that sees a message now and then does not keep a segment
/// per batch. A batch's later segments are whole ones.
fn first_segment(queue: &PartitionQueue) -> usize {
    match queue.last_batch_bytes {
        0 => SEGMENT_BYTES,
        last => last.min(SEGMENT_BYTES),
    }
}

/// Every partition's queue and the counts that bound them.
#[derive(Debug, Default)]
pub struct Accumulator {
    partitions: NameMap<TopicPartition, PartitionQueue>,
    /// Messages produced and not yet completed.
    pub queued_messages: usize,
    /// Their bytes.
    pub queued_bytes: usize,
    in_flight_per_broker: HashMap<i32, usize>,
    /// Callers flushing now: send everything without linger.
    pub flushing: usize,
    /// A message found the queue full since the queue last drained to
    /// half its limits: batches go out without linger meanwhile, since
    /// holding them only keeps the producer waiting for room
    /// (docs/producer.md, "The bounded queue and back-pressure").
    pub queue_pressed: bool,
    /// Idempotence: the producer id and epoch in use.
    producer_id: Option<(i64, i16)>,
    /// Idempotence: an InitProducerId request is out. Decided under the
    /// same lock as `producer_id`, so one request is out at a time and a
    /// late second answer never replaces the id batches already carry.
    producer_id_requested: bool,
    /// Settled batches' segments.
    segments: SegmentPool,
    /// The last ticket a batch out being compressed was given.
    compression_tickets: u64,
}

impl Accumulator {
    /// Appends a message; seals the open batch when it would grow past the
    /// size limit.
    pub fn append(
        &mut self,
        partition: &TopicPartition,
        message: OutgoingMessage<'_>,
        completion: Completion,
        urgent: bool,
        options: &ProducerOptions,
    ) -> Appended {
        let size = message.size();
        let queue = match self.partitions.get_mut(partition) {
            Some(queue) => queue,
            None => self.partitions.entry(partition.clone()).or_default(),
        };
        // The codec of batches this append seals for its caller to
        // compress; none leaves them to the sender.
        let codec = if options.compress_on_produce {
            options.compression.compression
        } else {
            Compression::None
        };
        let mut to_compress = Vec::new();
        let mut sender_should_look = false;
        if let Some(open) = &queue.open {
            if !open.is_empty() && open.bytes + size > options.batch_size_bytes {
                to_compress.extend(queue.seal_full(codec, &mut self.compression_tickets));
                sender_should_look = true;
            }
        }
        sender_should_look |= queue.open.is_none();
        if queue.open.is_none() {
            queue.open = Some(Batch::new(
                partition.clone(),
                Instant::now(),
                self.segments.take(first_segment(queue)),
            ));
        }
        let open = queue.open.as_mut().expect("opened above");
        open.push(message, &mut self.segments);
        open.completions.push(completion);
        if open.bytes >= options.batch_size_bytes {
            to_compress.extend(queue.seal_full(codec, &mut self.compression_tickets));
            sender_should_look = true;
        }
        queue.urgent |= urgent;
        self.queued_messages += 1;
        self.queued_bytes += size;
        Appended {
            sender_should_look,
            to_compress,
        }
    }

    /// The producing thread compressed `job`'s records with `compression`
    /// (`None`: compressing failed). The batch keeps them in place of its
    /// segments, which are written again, and may be sent; one that failed
    /// gets its segments back, for the sender to compress. A batch that
    /// left the queue meanwhile (expired, or failed on close) needs
    /// neither.
    pub fn compression_finished(&mut self, job: CompressionJob, compression: Compression, records: Option<Bytes>) {
        let batch = self
            .partitions
            .get_mut(&job.partition)
            .and_then(|queue| queue.sealed.iter_mut().find(|batch| batch.compresses_under(job.ticket)));
        match (batch, records) {
            (Some(batch), None) => batch.restore_segments(job.segments),
            (Some(batch), Some(records)) => {
                batch.compressed_into(compression, records);
                self.recycle_segments(job.segments);
            }
            (None, _) => self.recycle_segments(job.segments),
        }
    }

    /// Takes what is ready to send. A batch is ready when it is sealed, or
    /// its linger passed, or a caller is waiting for it, or everything is
    /// being flushed, or the queue is pressed — and its partition has
    /// nothing in flight, is not backing off, and its leader is known and
    /// below the in-flight limit.
    pub fn plan(&mut self, metadata: &ClusterMetadata, options: &ProducerOptions, now: Instant) -> SendPlan {
        let mut plan = SendPlan::default();
        let mut requests: BTreeMap<i32, Vec<Batch>> = BTreeMap::new();
        let mut expired = Vec::new();
        let mut refresh = BTreeSet::new();
        let mut needs_producer_id = false;
        for queue in self.partitions.values_mut() {
            expire_old_batches(queue, options, now, &mut expired);
        }
        self.queue_pressed &=
            self.queued_messages * 2 > options.queue_max_messages || self.queued_bytes * 2 > options.queue_max_bytes;
        // Before any batch below takes a sequence: an expired batch that
        // had one leaves a gap the broker would refuse.
        for (batch, _) in &expired {
            self.sequence_abandoned(batch);
        }
        for (partition, queue) in self.partitions.iter_mut() {
            if queue.in_flight {
                continue;
            }
            if !backoff_over(&mut queue.backoff_until, now, &mut plan.next_wakeup) {
                continue;
            }
            // The producing thread wakes the sender once it is compressed;
            // the batches behind it wait too, to keep their order.
            if queue.sealed.front().is_some_and(Batch::is_compressing) {
                continue;
            }
            if queue.sealed.is_empty() {
                let Some(open) = &queue.open else { continue };
                let due = open.created + options.linger;
                if queue.urgent || self.flushing > 0 || self.queue_pressed || due <= now {
                    queue.seal_open();
                } else {
                    look_again_at(&mut plan.next_wakeup, due);
                    continue;
                }
            }
            queue.urgent = false;
            if options.enable_idempotence && self.producer_id.is_none() {
                needs_producer_id |= !self.producer_id_requested;
                continue;
            }
            let Some(leader) = metadata.leader(partition.topic.as_str(), partition.partition) else {
                refresh.insert(partition.topic.clone());
                continue;
            };
            let in_flight = self.in_flight_per_broker.get(&leader).copied().unwrap_or(0);
            let joins_request = requests.contains_key(&leader);
            if !joins_request && in_flight >= options.max_in_flight_per_broker {
                continue;
            }
            let mut batch = queue.sealed.pop_front().expect("a sealed batch is there");
            if options.enable_idempotence && batch.sequence.is_none() {
                let (producer_id, epoch) = self.producer_id.expect("checked above");
                batch.sequence = Some((producer_id, epoch, queue.next_sequence));
                queue.next_sequence = queue.next_sequence.wrapping_add(batch.len() as i32) & i32::MAX;
            }
            queue.in_flight = true;
            requests.entry(leader).or_default().push(batch);
        }
        for leader in requests.keys() {
            *self.in_flight_per_broker.entry(*leader).or_default() += 1;
        }
        plan.requests = requests;
        plan.expired = expired;
        plan.refresh_topics = refresh;
        self.producer_id_requested |= needs_producer_id;
        plan.needs_producer_id = needs_producer_id;
        plan
    }

    /// A request to `leader` ended; its batches are no longer in flight.
    pub fn request_done(&mut self, leader: i32) {
        if let Some(count) = self.in_flight_per_broker.get_mut(&leader) {
            *count = count.saturating_sub(1);
        }
    }

    /// Puts a batch back at the head of its partition to be sent again after `backoff_until`.
    pub fn retry(&mut self, batch: Batch, backoff_until: Instant) {
        let queue = self.partitions.entry(batch.partition.clone()).or_default();
        queue.in_flight = false;
        queue.backoff_until = Some(backoff_until);
        queue.sealed.push_front(batch);
    }

    /// A batch was delivered or failed for good: its messages leave the
    /// queue, and if it was in flight its partition may send the next one.
    pub fn batch_finished(&mut self, batch: Batch, was_in_flight: bool) {
        if was_in_flight {
            if let Some(queue) = self.partitions.get_mut(&batch.partition) {
                queue.in_flight = false;
            }
        }
        self.queued_messages -= batch.len();
        self.queued_bytes -= batch.bytes;
        self.recycle_segments(batch.into_segments().collect());
    }

    /// Takes back the segments of batches that no longer need them (sent,
    /// and kept encoded for another attempt), to be written again.
    pub fn recycle_segments(&mut self, segments: Vec<Bytes>) {
        for segment in segments {
            self.segments.give(segment);
        }
    }

    /// Idempotence: the answer to the InitProducerId request the last plan
    /// asked for; `None` when it failed, so that the next plan asks again.
    pub fn producer_id_answered(&mut self, identity: Option<(i64, i16)>) {
        self.producer_id_requested = false;
        if identity.is_some() {
            self.producer_id = identity;
        }
    }

    /// Idempotence: `batch` leaves without its sequence being stored — it
    /// failed for good, expired, or the broker lost our producer state. The
    /// partition's later sequences would leave a gap the broker refuses, so
    /// when the batch carried the producer id in use, a new id is fetched
    /// and every partition numbers from 0 again. A batch of an id already
    /// given up changes nothing: that reset is under way.
    pub fn sequence_abandoned(&mut self, batch: &Batch) {
        let Some((producer_id, epoch, _)) = batch.sequence else {
            return;
        };
        if self.producer_id == Some((producer_id, epoch)) {
            self.producer_id = None;
            for queue in self.partitions.values_mut() {
                // Batches waiting for a retry keep their id and sequence:
                // their first attempt may be stored, and only the old id
                // lets the broker recognise the retry as a repeat.
                queue.next_sequence = 0;
            }
        }
    }

    /// Takes every queued batch that is not in flight (on close).
    pub fn drain_unsent(&mut self) -> Vec<Batch> {
        let mut drained = Vec::new();
        for queue in self.partitions.values_mut() {
            drained.extend(queue.sealed.drain(..));
            drained.extend(queue.open.take());
        }
        drained
    }
}

fn expire_old_batches(
    queue: &mut PartitionQueue,
    options: &ProducerOptions,
    now: Instant,
    expired: &mut Vec<(Batch, Error)>,
) {
    let too_old = |batch: &Batch| now.duration_since(batch.created) >= options.delivery_timeout;
    while queue.sealed.front().is_some_and(too_old) {
        let batch = queue.sealed.pop_front().expect("front exists");
        expired.push((batch, delivery_timed_out(options)));
    }
    if queue.sealed.is_empty() && queue.open.as_ref().is_some_and(too_old) {
        expired.push((queue.open.take().expect("open exists"), delivery_timed_out(options)));
    }
}

fn delivery_timed_out(options: &ProducerOptions) -> Error {
    Error::new(
        crate::error::ErrorCode::TimedOut,
        format!(
            "message not delivered within delivery_timeout_ms ({:?})",
            options.delivery_timeout
        ),
    )
}

/// Settles every completion of `batch` with `outcome` (the batch's base
/// offset, or an error). Reports for asynchronous messages go to `reports`,
/// one run for the batch.
pub fn settle(batch: &Batch, outcome: &Result<i64, Error>, reports: &mut Reports) {
    let asked = batch
        .completions
        .iter()
        .filter(|completion| matches!(completion, Completion::Report(_)))
        .count();
    let mut reported = Vec::with_capacity(asked);
    for (index, completion) in batch.completions.iter().enumerate() {
        match completion {
            Completion::Report(opaque) => reported.push((index as u32, *opaque)),
            Completion::Waiter(waiter, slot) => {
                let message_outcome = outcome
                    .as_ref()
                    .map(|base| message_offset(*base, index))
                    .map_err(Clone::clone);
                waiter.complete(*slot, &message_outcome)
            }
        }
    }
    if !reported.is_empty() {
        reports.runs.push(ReportRun {
            topic: batch.partition.topic.clone(),
            partition: batch.partition.partition,
            outcome: outcome.clone(),
            messages: reported,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const TOPIC: &str = "topic";

    /// `partitions` partitions of `TOPIC`, all led by node 1.
    fn metadata(partitions: i32) -> ClusterMetadata {
        let mut metadata = ClusterMetadata::empty();
        let led_by_one = crate::kafka::metadata::PartitionMetadata {
            error_code: 0,
            leader: 1,
        };
        metadata.topics.insert(
            TOPIC.to_string(),
            crate::kafka::metadata::TopicMetadata {
                error_code: 0,
                partitions: (0..partitions).map(|p| (p, led_by_one.clone())).collect(),
            },
        );
        metadata
    }

    /// The producer's options with `settings` over the defaults.
    fn options_with(settings: &[(&str, &str)]) -> ProducerOptions {
        let mut config = crate::config::Config::new();
        for (key, value) in settings {
            config.set(key, value).unwrap();
        }
        ProducerOptions::from_config(&config).unwrap()
    }

    fn idempotent_options() -> ProducerOptions {
        options_with(&[("enable_idempotence", "true"), ("acks", "all")])
    }

    /// An accumulator that already has producer id `id`, epoch 0.
    fn holding_producer_id(id: i64) -> Accumulator {
        let mut accumulator = Accumulator::default();
        accumulator.producer_id_answered(Some((id, 0)));
        accumulator
    }

    /// Queues one message for `partition`: `urgent`, to be sent without
    /// linger, or to wait for its linger.
    fn append_one(accumulator: &mut Accumulator, partition: i32, urgent: bool, options: &ProducerOptions) {
        let message = OutgoingMessage {
            key: None,
            value: Some(b"value"),
            headers: &[],
            timestamp: 0,
        };
        let partition = TopicPartition::new(Topic::new(TOPIC).unwrap(), partition);
        accumulator.append(&partition, message, Completion::Report(0), urgent, options);
    }

    /// The batches `plan` sends, over every leader.
    fn planned(accumulator: &mut Accumulator, options: &ProducerOptions) -> Vec<Batch> {
        let plan = accumulator.plan(&metadata(4), options, Instant::now());
        plan.requests.into_values().flatten().collect()
    }

    #[test]
    fn a_pressed_queue_sends_without_linger_until_it_drains_to_half() {
        let options = options_with(&[("queue_max_messages", "4"), ("linger_ms", "600000")]);
        let mut accumulator = Accumulator::default();
        for partition in 0..4 {
            append_one(&mut accumulator, partition, false, &options);
        }
        assert!(
            planned(&mut accumulator, &options).is_empty(),
            "batches wait for their linger"
        );

        accumulator.queue_pressed = true;
        let mut sent = planned(&mut accumulator, &options);
        assert_eq!(sent.len(), 4, "a pressed queue sends every open batch");

        // Three of four still queued, more than half: the next batch goes too.
        let first = sent.remove(0);
        let partition = first.partition.partition;
        accumulator.batch_finished(first, true);
        accumulator.request_done(1);
        append_one(&mut accumulator, partition, false, &options);
        let again = planned(&mut accumulator, &options);
        assert_eq!(again.len(), 1, "still pressed at 4 of 4 queued");
        assert!(accumulator.queue_pressed);

        // Everything delivered: the next message waits for its linger again.
        for batch in sent.into_iter().chain(again) {
            accumulator.batch_finished(batch, true);
        }
        accumulator.request_done(1);
        append_one(&mut accumulator, 0, false, &options);
        assert!(
            planned(&mut accumulator, &options).is_empty(),
            "drained: lingering again"
        );
        assert!(!accumulator.queue_pressed);
    }

    /// A batch of `TOPIC` partition 3 whose messages complete as `completions`.
    fn settled_batch(completions: Vec<Completion>) -> Batch {
        let mut batch = Batch::new(
            TopicPartition::new(Topic::new(TOPIC).unwrap(), 3),
            Instant::now(),
            bytes::BytesMut::new(),
        );
        batch.completions = completions;
        batch
    }

    /// (opaque, topic, partition, offset, error code) of each report.
    fn flattened(reports: Reports) -> Vec<(usize, String, i32, i64, Option<ErrorCode>)> {
        reports
            .into_iter()
            .map(|r| {
                (
                    r.opaque,
                    r.topic.as_str().to_string(),
                    r.partition,
                    r.offset,
                    r.error.map(|e| e.code()),
                )
            })
            .collect()
    }

    #[test]
    fn a_settled_batch_reports_each_message_that_asked_in_one_run() {
        let waiter = SyncWaiter::new(1);
        let batch = settled_batch(vec![
            Completion::Report(7),
            Completion::Waiter(Arc::clone(&waiter), 0),
            Completion::Report(9),
        ]);
        let mut reports = Reports::default();
        settle(&batch, &Ok(100), &mut reports);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports.runs().len(), 1);
        // The waiter's message sits between the two: offsets count every message.
        assert_eq!(
            flattened(reports),
            [(7, TOPIC.into(), 3, 100, None), (9, TOPIC.into(), 3, 102, None)]
        );
        assert_eq!(crate::engine::block_on(waiter.wait()).unwrap().unwrap(), [101]);

        // acks=0: no offset is known.
        let mut unknown = Reports::default();
        settle(&settled_batch(vec![Completion::Report(1)]), &Ok(-1), &mut unknown);
        assert_eq!(flattened(unknown), [(1, TOPIC.into(), 3, -1, None)]);

        // A batch of sync sends only reports nothing.
        let mut none = Reports::default();
        settle(
            &settled_batch(vec![Completion::Waiter(SyncWaiter::new(1), 0)]),
            &Ok(5),
            &mut none,
        );
        assert!(none.is_empty() && none.runs().is_empty());
    }

    #[test]
    fn a_failed_batch_fails_every_report_and_runs_append_in_order() {
        let mut reports = Reports::default();
        settle(&settled_batch(vec![Completion::Report(1)]), &Ok(40), &mut reports);
        let mut failed = Reports::default();
        let error = Error::new(ErrorCode::TimedOut, "not delivered");
        settle(
            &settled_batch(vec![Completion::Report(2), Completion::Report(3)]),
            &Err(error),
            &mut failed,
        );
        assert_eq!(failed.runs()[0].error().map(Error::message), Some("not delivered"));
        reports.append(failed);
        assert_eq!(reports.len(), 3);
        assert_eq!(
            flattened(reports),
            [
                (1, TOPIC.into(), 3, 40, None),
                (2, TOPIC.into(), 3, -1, Some(ErrorCode::TimedOut)),
                (3, TOPIC.into(), 3, -1, Some(ErrorCode::TimedOut)),
            ]
        );
    }

    /// The batches a plan sends, by partition.
    fn sent(plan: SendPlan) -> HashMap<i32, Batch> {
        plan.requests
            .into_values()
            .flatten()
            .map(|batch| (batch.partition.partition, batch))
            .collect()
    }

    /// A sent batch comes back for another attempt.
    fn retry_now(accumulator: &mut Accumulator, mut batch: Batch, now: Instant) {
        accumulator.request_done(1);
        batch.attempts += 1;
        accumulator.retry(batch, now);
    }

    /// The values of a sent batch, as `kafka-protocol`'s decoder reads its
    /// record batch back.
    fn values_sent(batch: &Batch, options: &ProducerOptions) -> Vec<Vec<u8>> {
        let mut encoded = bytes::BytesMut::new();
        batch.encode(&mut encoded, options.compression).unwrap();
        let sets = crate::kafka::records::decode_data_batches(encoded.freeze(), 1 << 20).unwrap();
        let records = sets.into_iter().flat_map(|set| set.records);
        records.map(|record| record.value.unwrap().to_vec()).collect()
    }

    #[test]
    fn a_batch_compressed_as_sealed_waits_for_it_and_is_sent_before_those_behind_it() {
        let options = options_with(&[("compression", "lz4"), ("batch_size_bytes", "5")]);
        let metadata = metadata(1);
        let partition = TopicPartition::new(Topic::new(TOPIC).unwrap(), 0);
        let mut accumulator = Accumulator::default();
        // Each message fills a batch: each append seals one for its caller
        // to compress.
        let mut jobs: Vec<CompressionJob> = [&b"first"[..], b"second"]
            .into_iter()
            .flat_map(|value| {
                let message = OutgoingMessage {
                    key: None,
                    value: Some(value),
                    headers: &[],
                    timestamp: 0,
                };
                let appended = accumulator.append(&partition, message, Completion::Report(0), false, &options);
                assert!(appended.sender_should_look);
                appended.to_compress
            })
            .collect();
        assert_eq!(jobs.len(), 2);
        let now = Instant::now();
        assert!(accumulator.plan(&metadata, &options, now).requests.is_empty());

        // The second's compression fails (its segments go back, for the
        // sender to compress) before the first's ends: the first is still
        // not sent, and nothing overtakes it.
        let second = jobs.pop().unwrap();
        accumulator.compression_finished(second, Compression::Lz4, None);
        assert!(accumulator.plan(&metadata, &options, now).requests.is_empty());
        let first = jobs.pop().unwrap();
        let mut records = bytes::BytesMut::new();
        crate::kafka::compression::compress(&first.segments, &mut records, options.compression).unwrap();
        accumulator.compression_finished(first, Compression::Lz4, Some(records.freeze()));

        let batch = sent(accumulator.plan(&metadata, &options, now)).remove(&0).unwrap();
        assert_eq!(values_sent(&batch, &options), [b"first"]);
        assert!(
            batch.sent_in_pieces(Compression::Lz4),
            "its header goes before its compressed records"
        );
        accumulator.request_done(1);
        accumulator.batch_finished(batch, true);
        let batch = sent(accumulator.plan(&metadata, &options, now)).remove(&0).unwrap();
        assert_eq!(values_sent(&batch, &options), [b"second"]);
        assert!(!batch.sent_in_pieces(Compression::Lz4), "compressed by the sender");
    }

    #[test]
    fn without_compress_on_produce_a_full_batch_is_left_to_the_sender() {
        let options = options_with(&[
            ("compression", "lz4"),
            ("batch_size_bytes", "5"),
            ("compress_on_produce", "false"),
        ]);
        let partition = TopicPartition::new(Topic::new(TOPIC).unwrap(), 0);
        let mut accumulator = Accumulator::default();
        let message = OutgoingMessage {
            key: None,
            value: Some(b"first"),
            headers: &[],
            timestamp: 0,
        };
        let appended = accumulator.append(&partition, message, Completion::Report(0), false, &options);
        assert!(appended.sender_should_look, "sealed full");
        assert!(appended.to_compress.is_empty(), "nothing for the caller to compress");
        let batch = sent(accumulator.plan(&metadata(1), &options, Instant::now()))
            .remove(&0)
            .unwrap();
        assert_eq!(values_sent(&batch, &options), [b"first"]);
        assert!(!batch.sent_in_pieces(Compression::Lz4), "compressed by the sender");
    }

    #[test]
    fn a_batch_starts_in_a_segment_no_larger_than_its_partitions_last_batch() {
        let mut queue = PartitionQueue::default();
        assert_eq!(first_segment(&queue), SEGMENT_BYTES);
        queue.last_batch_bytes = 300;
        assert_eq!(first_segment(&queue), 300);
        queue.last_batch_bytes = 999_000;
        assert_eq!(first_segment(&queue), SEGMENT_BYTES);
    }

    #[test]
    fn one_producer_id_request_is_out_at_a_time_and_its_answer_is_the_id_batches_carry() {
        let options = idempotent_options();
        let metadata = metadata(1);
        let mut accumulator = Accumulator::default();
        append_one(&mut accumulator, 0, true, &options);

        let now = Instant::now();
        assert!(accumulator.plan(&metadata, &options, now).needs_producer_id);
        let again = accumulator.plan(&metadata, &options, now);
        assert!(!again.needs_producer_id, "a second plan while the first request is out");
        assert!(again.requests.is_empty(), "nothing is sent without a producer id");

        accumulator.producer_id_answered(None);
        assert!(
            accumulator.plan(&metadata, &options, now).needs_producer_id,
            "a failed request is asked again"
        );

        accumulator.producer_id_answered(Some((42, 3)));
        let plan = accumulator.plan(&metadata, &options, now);
        assert!(!plan.needs_producer_id);
        assert_eq!(sent(plan)[&0].sequence, Some((42, 3, 0)));
    }

    #[test]
    fn a_reset_renumbers_new_batches_and_leaves_a_retried_batch_its_id_and_sequence() {
        let options = idempotent_options();
        let metadata = metadata(2);
        let mut accumulator = holding_producer_id(1);
        let now = Instant::now();
        for partition in [0, 1] {
            append_one(&mut accumulator, partition, true, &options);
        }
        let mut first = sent(accumulator.plan(&metadata, &options, now));
        let (retried, lost) = (first.remove(&0).unwrap(), first.remove(&1).unwrap());
        assert_eq!(retried.sequence, Some((1, 0, 0)));
        // Partition 0's answer is unknown (a timeout): it waits for a retry.
        // Partition 1's broker lost our producer state.
        retry_now(&mut accumulator, retried, now);
        accumulator.sequence_abandoned(&lost);
        accumulator.batch_finished(lost, true);
        append_one(&mut accumulator, 1, true, &options);

        assert!(accumulator.plan(&metadata, &options, now).needs_producer_id);
        accumulator.producer_id_answered(Some((2, 0)));
        let again = sent(accumulator.plan(&metadata, &options, now));
        assert_eq!(
            again[&0].sequence,
            Some((1, 0, 0)),
            "the retry keeps the id the broker may have stored it under"
        );
        assert_eq!(again[&1].sequence, Some((2, 0, 0)));

        // A late state-lost answer for the old id starts no second reset.
        accumulator.sequence_abandoned(&again[&0]);
        assert!(!accumulator.plan(&metadata, &options, now).needs_producer_id);
    }

    #[test]
    fn an_expired_batch_with_a_sequence_gives_up_the_producer_id() {
        let options = idempotent_options();
        let metadata = metadata(1);
        let mut accumulator = holding_producer_id(1);
        let now = Instant::now();
        append_one(&mut accumulator, 0, true, &options);
        let batch = sent(accumulator.plan(&metadata, &options, now)).remove(&0).unwrap();
        retry_now(&mut accumulator, batch, now + options.retry_backoff);

        let later = Instant::now() + options.delivery_timeout;
        let plan = accumulator.plan(&metadata, &options, later);
        assert_eq!(plan.expired.len(), 1);
        for (batch, _) in plan.expired {
            accumulator.batch_finished(batch, false);
        }
        append_one(&mut accumulator, 0, true, &options);
        assert!(
            accumulator.plan(&metadata, &options, later).needs_producer_id,
            "under id 1, sequence 1 would follow a gap at 0"
        );
        accumulator.producer_id_answered(Some((2, 0)));
        let next = sent(accumulator.plan(&metadata, &options, later)).remove(&0).unwrap();
        assert_eq!(next.sequence, Some((2, 0, 0)));
    }
}
