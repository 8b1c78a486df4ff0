//! The producer's engine task: takes ready batches from the accumulator,
//! sends one Produce request per leader (built and read by
//! `kafka::produce`), and settles each batch from the answer — delivered,
//! sent again after a retriable error, or failed.
//! Also keeps metadata and (for idempotence) the producer id current.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{InitProducerIdRequest, ProduceResponse};
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError;

use crate::error::{Error, ErrorCode, Result};
use crate::kafka::cluster::is_stale_leader;
use crate::kafka::frame::FramedBatch;
use crate::kafka::produce::{produce_request, read_produce_response, take_records, ProducePartition};
use crate::metrics::ProducerMetric;
use crate::producer::accumulator::settle;
use crate::producer::batch::Batch;
use crate::producer::Shared;
use crate::sync::Locking;
use crate::topic_partition::{Topic, TopicPartition};

/// Runs until the producer shuts down.
pub async fn run(shared: Arc<Shared>) {
    // Without this loop nothing would ever send what is queued, and flush
    // and close would wait to their deadlines: if it unwinds, the producer
    // takes no new message and fails every one not yet sent.
    let _closes_on_panic = Finally(|| {
        if std::thread::panicking() {
            fail_unsent_after_panic(&shared);
        }
    });
    loop {
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        #[cfg(test)]
        if shared.options.client.client_id == tests::PANICKING_SENDER && shared.state.locked().queued_messages > 0 {
            panic!("the sender loop panics (test hook)");
        }
        let (requests, next_wakeup) = take_ready(&shared);
        for (leader, batches) in requests {
            shared.tasks.spawn(send_request(Arc::clone(&shared), leader, batches));
        }
        tokio::select! {
            _ = shared.wake_sender.notified() => {}
            _ = tokio::time::sleep_until(next_wakeup.into()) => {}
        }
    }
}

/// Sends what is ready now from the calling thread (a synchronous send
/// waiting for its own batch): the first request runs right here, others
/// on the engine. True when anything was sent.
pub async fn send_ready_here(shared: Arc<Shared>) -> bool {
    let (requests, _) = take_ready(&shared);
    let mut requests = requests.into_iter();
    let Some((leader, batches)) = requests.next() else {
        return false;
    };
    for (other_leader, other_batches) in requests {
        shared
            .tasks
            .spawn(send_request(Arc::clone(&shared), other_leader, other_batches));
    }
    send_request(shared, leader, batches).await;
    true
}

/// Takes what the accumulator says is ready: fails expired batches, starts
/// metadata and producer-id lookups, and returns the requests to send and
/// when to look again. Runs inside the engine's runtime.
fn take_ready(shared: &Arc<Shared>) -> (BTreeMap<i32, Vec<Batch>>, Instant) {
    let now = Instant::now();
    let metadata = shared.cluster.cached_metadata();
    let plan = shared.state.locked().plan(&metadata, &shared.options, now);
    for (batch, error) in plan.expired {
        shared.finish_batch(batch, Err(error), false);
    }
    let mut next_wakeup = plan.next_wakeup.unwrap_or(now + Duration::from_secs(1));
    let soon = now + shared.options.retry_backoff.max(Duration::from_millis(10));
    if !plan.refresh_topics.is_empty() {
        let topics: Vec<String> = plan.refresh_topics.iter().map(Topic::to_string).collect();
        shared.tasks.spawn(refresh_metadata(Arc::clone(shared), topics));
        next_wakeup = next_wakeup.min(soon);
    }
    if plan.needs_producer_id {
        shared.tasks.spawn(init_producer_id(Arc::clone(shared)));
        next_wakeup = next_wakeup.min(soon);
    }
    (plan.requests, next_wakeup)
}

/// Fetches metadata for `topics` unless a refresh is already running.
pub async fn refresh_metadata(shared: Arc<Shared>, topics: Vec<String>) {
    if shared.refreshing_metadata.swap(true, Ordering::AcqRel) {
        return;
    }
    // Also when the refresh unwinds: a flag left set would stop every later refresh.
    let _refreshed = Finally(|| {
        shared.refreshing_metadata.store(false, Ordering::Release);
        shared.wake_sender.notify_one();
    });
    let started = Instant::now();
    let result = shared.cluster.fetch_metadata(Some(&topics)).await;
    shared
        .metrics
        .record_duration(ProducerMetric::MetadataRequestTimer as usize, started.elapsed());
    if result.is_err() {
        shared
            .metrics
            .record(ProducerMetric::ProduceExceptionCount as usize, 1.0);
    }
}

/// Idempotence: asks any broker for a producer id and epoch. The plan that
/// spawned this marked the request as out, so no other runs meanwhile.
async fn init_producer_id(shared: Arc<Shared>) {
    let request = ProducerIdRequest {
        shared: &shared,
        answered: false,
    };
    let result = async {
        let deadline = Instant::now() + shared.options.client.request_timeout;
        let connection = shared.cluster.any_connection(deadline).await?;
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        let (response, _) = connection.send(&request).await?;
        if response.error_code != 0 {
            return Err(Error::from_kafka(response.error_code, "InitProducerId"));
        }
        Ok((response.producer_id.0, response.producer_epoch))
    }
    .await;
    request.answer(result.ok());
}

/// An InitProducerId request out. Dropped unanswered — the task unwound —
/// it counts as failed, so that the next plan asks again.
struct ProducerIdRequest<'a> {
    shared: &'a Shared,
    answered: bool,
}

impl ProducerIdRequest<'_> {
    fn answer(mut self, identity: Option<(i64, i16)>) {
        self.answered = true;
        self.shared.state.locked().producer_id_answered(identity);
        self.shared.wake_sender.notify_one();
    }
}

impl Drop for ProducerIdRequest<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.shared.state.locked().producer_id_answered(None);
            self.shared.wake_sender.notify_one();
        }
    }
}

/// Sends one Produce request to `leader` and settles its batches.
async fn send_request(shared: Arc<Shared>, leader: i32, batches: Vec<Batch>) {
    let mut in_flight = InFlight {
        shared: &shared,
        leader,
        request_open: true,
        batches: batches.into(),
    };
    #[cfg(test)]
    if tests::SEND_TASKS_PANIC.load(Ordering::Acquire) {
        panic!("a send task panics (test hook)");
    }
    let started = Instant::now();
    let result = produce(&shared, leader, in_flight.batches.make_contiguous()).await;
    shared
        .metrics
        .record_duration(ProducerMetric::ProduceRequestTimer as usize, started.elapsed());
    in_flight.request_done();
    let count = in_flight.batches.len();
    let outcomes = match &result {
        Ok(None) => vec![Ok(-1); count],
        Ok(Some(response)) => {
            let asked: Vec<&TopicPartition> = in_flight.batches.iter().map(|batch| &batch.partition).collect();
            read_produce_response(response, &asked)
        }
        Err(error) => vec![Err(error.clone()); count],
    };
    let mut stale_topics = Vec::new();
    for outcome in outcomes {
        let batch = in_flight.batches.pop_front().expect("one outcome per batch");
        if let Err(error) = &outcome {
            if is_stale_leader(error) || error.code() == ErrorCode::RequestTimedOut {
                stale_topics.push(batch.partition.topic.to_string());
            }
        }
        shared.settle_attempt(batch, outcome);
    }
    if !stale_topics.is_empty() {
        stale_topics.sort();
        stale_topics.dedup();
        refresh_metadata(Arc::clone(&shared), stale_topics).await;
    }
    shared.wake_sender.notify_one();
}

/// The batches of one Produce request until each is settled. Whatever is
/// still held when it drops — the task unwound from a panic — is failed
/// with an `Internal` error, so that `flush` and `close` need not wait for
/// the batches' delivery timeout.
struct InFlight<'a> {
    shared: &'a Shared,
    leader: i32,
    request_open: bool,
    batches: VecDeque<Batch>,
}

impl InFlight<'_> {
    /// The request ended: its leader may take the next one.
    fn request_done(&mut self) {
        if std::mem::take(&mut self.request_open) {
            self.shared.state.locked().request_done(self.leader);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.request_done();
        if self.batches.is_empty() {
            return;
        }
        let error = Error::new(
            ErrorCode::Internal,
            format!(
                "the task sending to broker {} failed before the answer was read",
                self.leader
            ),
        );
        for batch in self.batches.drain(..) {
            // This drop may run while the task unwinds from a panic in this
            // same settling path; a second panic here would abort the
            // process, so it is caught and the batch's waiters are left to
            // its delivery timeout instead.
            let settle = std::panic::AssertUnwindSafe(|| self.shared.settle_attempt(batch, Err(error.clone())));
            let _ = std::panic::catch_unwind(settle);
        }
        self.shared.wake_sender.notify_one();
    }
}

/// Stops a producer whose sender loop panicked from taking messages and
/// fails what it queued; their reports are served as usual.
fn fail_unsent_after_panic(shared: &Shared) {
    shared.shutdown.store(true, Ordering::Release);
    let unsent = shared.state.locked().drain_unsent();
    for batch in unsent {
        let error = Error::new(ErrorCode::Internal, "the producer's sender task failed");
        let finish = std::panic::AssertUnwindSafe(|| shared.finish_batch(batch, Err(error), false));
        // A second panic while this one unwinds would abort the process.
        let _ = std::panic::catch_unwind(finish);
    }
    shared.space.notify_all();
}

/// Runs its action when dropped: at a task's normal end and when it unwinds.
struct Finally<F: FnMut()>(F);

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// Sends the batches in one Produce request; `None` when acks=0 (no answer).
async fn produce(shared: &Shared, leader: i32, batches: &mut [Batch]) -> Result<Option<ProduceResponse>> {
    let deadline = Instant::now() + shared.options.client.request_timeout;
    let connection = shared.cluster.broker_connection(leader, deadline).await?;
    let compression = shared.options.compression;
    let mut framed_batches = Vec::with_capacity(batches.len());
    let mut released_segments = Vec::new();
    for (index, batch) in batches.iter_mut().enumerate() {
        let framed = match batch.encoded() {
            Some(encoded) => FramedBatch::whole(encoded.clone()),
            None => {
                // Uncompressed, or compressed when it was sealed, the
                // records are sent as they are behind a header: the batch
                // keeps them for another attempt, which writes a new
                // header. A batch too long for a stand-in is copied instead.
                let in_pieces = if batch.sent_in_pieces(compression.compression) {
                    FramedBatch::in_pieces(batch.pieces()?, index)
                } else {
                    None
                };
                match in_pieces {
                    Some(framed) => framed,
                    None => {
                        let capacity = encoded_capacity(batch, compression.compression);
                        let mut encoded = shared.request_buffers.locked().take(capacity);
                        batch.encode(&mut encoded, compression)?;
                        let encoded = encoded.freeze();
                        released_segments.extend(batch.keep_encoded(&encoded));
                        FramedBatch::whole(encoded)
                    }
                }
            }
        };
        framed_batches.push(framed);
    }
    if !released_segments.is_empty() {
        shared.state.locked().recycle_segments(released_segments);
    }
    let partitions: Vec<ProducePartition> = batches
        .iter()
        .zip(&framed_batches)
        .map(|(batch, framed)| ProducePartition {
            partition: &batch.partition,
            records: framed.stand_in().clone(),
        })
        .collect();
    let mut request = produce_request(partitions, shared.options.acks, shared.options.ack_timeout);
    let prepared = connection.prepare(&request, framed_batches);
    let records: Vec<Bytes> = take_records(&mut request).collect();
    let sent = match prepared {
        Err(error) => Err(error),
        Ok(prepared) if shared.options.acks == 0 => connection.send_prepared_unanswered(prepared).await.map(|()| None),
        Ok(prepared) => connection
            .send_prepared(prepared)
            .await
            .map(|(response, _)| Some(response)),
    };
    // The frame referred to the encoded batches until it was written: they
    // go back to the pool now, to be written again by the next request,
    // but for those a batch keeps for another attempt (`finish_batch`
    // gives those back) and the stand-ins of batches sent in pieces (the
    // pool takes only what nothing else refers to).
    let mut buffers = shared.request_buffers.locked();
    for records in records {
        buffers.give(records);
    }
    sent
}

/// Room reserved for `batch` encoded: its bytes and each record's framing,
/// or, compressed, a third of that (a compressed batch that needs more
/// grows its buffer). Reserving the whole uncompressed size for every
/// compressed batch kept that much resident in each pooled buffer.
fn encoded_capacity(batch: &Batch, compression: Compression) -> usize {
    let uncompressed = batch.bytes + 64 + 24 * batch.len();
    match compression {
        Compression::None => uncompressed,
        _ => 64 + uncompressed / 3,
    }
}

impl Shared {
    /// Settles one attempt of `batch`: delivered, retried, or failed for good.
    fn settle_attempt(&self, mut batch: Batch, outcome: Result<i64>) {
        let Err(error) = outcome else {
            return self.finish_batch(batch, outcome, true);
        };
        let producer_state_lost = matches!(
            error.kafka_code().and_then(ResponseError::try_from_code),
            Some(ResponseError::OutOfOrderSequenceNumber | ResponseError::UnknownProducerId)
        );
        let retriable = producer_state_lost || error.is_retriable();
        let in_time = batch.created.elapsed() < self.options.delivery_timeout;
        let mut state = self.state.locked();
        // Read under the lock: close sets it before it drains the queue
        // under this lock, so a batch put back here is drained, and one
        // that comes later sees the flag and fails here.
        let running = !self.shutdown.load(Ordering::Acquire);
        let retry = retriable && batch.attempts < self.options.retries && in_time && running;
        if producer_state_lost || !retry {
            // Kafka's answer to lost producer state, or to a sequence that
            // will never be stored: a new producer id and sequences from 0.
            state.sequence_abandoned(&batch);
            batch.sequence = None;
        }
        if retry {
            batch.attempts += 1;
            state.retry(batch, Instant::now() + self.options.retry_backoff);
            return;
        }
        drop(state);
        let error = if error.code() == ErrorCode::Transport {
            error.with_code(ErrorCode::FailedPayloads)
        } else {
            error
        };
        self.finish_batch(batch, Err(error), true);
    }

    /// Settles every message of a batch with its final outcome and frees its
    /// queue space; `was_in_flight` frees its partition for the next batch.
    pub(crate) fn finish_batch(&self, mut batch: Batch, outcome: Result<i64>, was_in_flight: bool) {
        if let Some(encoded) = batch.take_encoded() {
            self.request_buffers.locked().give(encoded);
        }
        if outcome.is_err() {
            self.metrics.record(ProducerMetric::ProduceExceptionCount as usize, 1.0);
        }
        let mut reports = self.reports.locked();
        settle(&batch, &outcome, &mut reports);
        if !reports.is_empty() {
            self.readiness.set();
        }
        drop(reports);
        self.state.locked().batch_finished(batch, was_in_flight);
        self.reports_ready.notify_all();
        self.space.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::config::{ClusterConfig, Config};
    use crate::kafka::metadata::{ClusterMetadata, PartitionMetadata, TopicMetadata};
    use crate::producer::{Producer, QueueWait};

    /// Makes send tasks panic before they send.
    pub(super) static SEND_TASKS_PANIC: AtomicBool = AtomicBool::new(false);

    /// The client id of a producer whose sender loop panics when it wakes
    /// with a message queued.
    pub(super) const PANICKING_SENDER: &str = "panicking-sender";

    /// Topic `t` with one partition, led by node 1.
    fn led_by_one() -> ClusterMetadata {
        let mut metadata = ClusterMetadata::empty();
        metadata.topics.insert(
            "t".to_string(),
            TopicMetadata {
                error_code: 0,
                partitions: [(
                    0,
                    PartitionMetadata {
                        error_code: 0,
                        leader: 1,
                    },
                )]
                .into(),
            },
        );
        metadata
    }

    /// A producer named `client_id` with message 7 queued for `t`/0. Nothing
    /// listens at its broker, so its own sender never finds a leader.
    fn producer_with_one_message_queued(client_id: &str) -> Producer {
        let cluster = ClusterConfig::new("standard", "test", &["127.0.0.1:9"], "").unwrap();
        let mut config = Config::new();
        config.set("client_id", client_id).unwrap();
        config.set("delivery_timeout_ms", "60000").unwrap();
        let producer = Producer::new(&cluster, &config, None).unwrap();
        let shared = &producer.shared;
        shared
            .topics
            .insert("t", 1, shared.cluster.metadata_generation())
            .unwrap();
        producer
            .produce("t", Some(0), None, Some(b"value"), 7, QueueWait::NoWait)
            .unwrap();
        producer
    }

    #[test]
    fn a_send_task_that_panics_fails_its_batches_and_flush_returns_at_once() {
        let producer = producer_with_one_message_queued("test");
        let shared = &producer.shared;

        // The test plays the sender, with metadata that names the leader.
        let after_linger = Instant::now() + Duration::from_secs(1);
        let plan = shared.state.locked().plan(&led_by_one(), &shared.options, after_linger);
        let (leader, batches) = plan.requests.into_iter().next().expect("the batch is ready");
        SEND_TASKS_PANIC.store(true, Ordering::Release);
        shared.tasks.spawn(send_request(Arc::clone(shared), leader, batches));

        let started = Instant::now();
        let mut reports = Vec::new();
        producer
            .flush(Duration::from_secs(30), &mut |served| reports.extend(served))
            .unwrap();
        SEND_TASKS_PANIC.store(false, Ordering::Release);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "flush waited {:?}",
            started.elapsed()
        );
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].opaque, 7);
        let error = reports[0].error.as_ref().expect("the message failed");
        assert_eq!(error.code(), ErrorCode::Internal, "{error}");
        assert_eq!(producer.queued_messages(), 0);
    }

    #[test]
    fn a_sender_loop_that_panics_fails_what_it_queued_and_takes_no_more() {
        let producer = producer_with_one_message_queued(PANICKING_SENDER);

        let started = Instant::now();
        let mut reports = Vec::new();
        let flushed = producer.flush(Duration::from_secs(30), &mut |served| reports.extend(served));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "flush waited {:?}",
            started.elapsed()
        );
        assert!(flushed.is_ok(), "{flushed:?}");
        assert_eq!(reports.len(), 1, "the queued message got its report");
        let error = reports[0].error.as_ref().expect("the message failed");
        assert_eq!(error.code(), ErrorCode::Internal, "{error}");
        assert_eq!(producer.queued_messages(), 0);
        let after = producer.produce("t", Some(0), None, Some(b"later"), 8, QueueWait::NoWait);
        assert_eq!(after.unwrap_err().code(), ErrorCode::Internal);
        assert_eq!(producer.close(Duration::from_secs(1), &mut |_| {}), Ok(0));
    }

    #[test]
    fn a_close_from_another_thread_ends_a_poll_that_waits_forever() {
        let cluster = ClusterConfig::new("standard", "test", &["127.0.0.1:9"], "").unwrap();
        let producer = Arc::new(Producer::new(&cluster, &Config::new(), None).unwrap());
        let poller = {
            let producer = Arc::clone(&producer);
            std::thread::spawn(move || producer.poll(Duration::from_secs(3600), &mut |_| {}))
        };
        std::thread::sleep(Duration::from_millis(100));
        producer.close(Duration::from_secs(1), &mut |_| {}).unwrap();
        let (done, woken) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(poller.join().unwrap()).unwrap());
        let polled = woken
            .recv_timeout(Duration::from_secs(30))
            .expect("the poll returned after close");
        assert_eq!(polled.unwrap_err().code(), ErrorCode::ClosedHandle);
    }
}
