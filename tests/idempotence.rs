//! Idempotent delivery, checked on what the broker stores: librdkafka's mock
//! does not deduplicate (docs/protocol-notes.md), so the proof is in the stored batches —
//! our producer id and epoch, gap-free sequences, retries that keep theirs.

mod support;

use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{BatchDecodeInfo, Compression, RecordBatchDecoder};
use support::MockCluster;
use yelp_kafka::config::{ClientOptions, ClusterConfig, Config};
use yelp_kafka::producer::{Producer, QueueWait};
use yelp_kafka::test_support::block_on;
use yelp_kafka::test_support::KafkaCluster;

const PRODUCE: i16 = 0;
const REQUEST_TIMED_OUT: i16 = 7;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const UNKNOWN_PRODUCER_ID: i16 = 59;

fn idempotent_producer(mock: &MockCluster, extra: &[(&str, &str)]) -> Producer {
    let cluster = ClusterConfig::from_broker_string("standard", "test", mock.bootstrap(), "").unwrap();
    let mut config = Config::new();
    for (key, value) in [
        ("enable_idempotence", "true"),
        ("acks", "all"),
        ("retry_backoff_ms", "10"),
        // Only the flush after each group seals a batch: a group is one
        // batch however slowly a loaded machine appends it.
        ("linger_ms", "60000"),
    ]
    .iter()
    .chain(extra)
    {
        config.set(key, value).unwrap();
    }
    Producer::new(&cluster, &config, None).unwrap()
}

/// Produces group `group` of `per_batch` messages to partition 0 and
/// flushes it as one batch; returns the errors its delivery reports carry.
fn produce_group(producer: &Producer, topic: &str, group: usize, per_batch: usize) -> Vec<yelp_kafka::Error> {
    for i in 0..per_batch {
        let value = format!("b{group}-m{i}");
        producer
            .produce(topic, Some(0), None, Some(value.as_bytes()), 0, QueueWait::Forever)
            .unwrap();
    }
    let mut failures = Vec::new();
    producer
        .flush(Duration::from_secs(20), &mut |served| {
            failures.extend(served.into_iter().filter_map(|r| r.error))
        })
        .unwrap();
    failures
}

/// Produces `batches` groups of `per_batch` messages, one batch each,
/// running `before_batch(i)` before group i; every message is delivered.
fn produce_batches(producer: &Producer, topic: &str, batches: usize, per_batch: usize, before_batch: impl Fn(usize)) {
    for batch in 0..batches {
        before_batch(batch);
        let failures = produce_group(producer, topic, batch, per_batch);
        assert!(failures.is_empty(), "{failures:?}");
    }
}

/// The headers of every batch stored in `topic`/0, read with raw Fetches
/// (the mock answers one stored batch per Fetch).
fn stored_batches(mock: &MockCluster, topic: &str) -> Vec<BatchDecodeInfo> {
    let cluster = KafkaCluster::new(
        vec![mock.bootstrap().split(',').next().unwrap().to_string()],
        ClientOptions::default(),
    );
    block_on(async {
        let leader = cluster.leader_of(topic, 0).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let connection = cluster.broker_connection(leader, deadline).await.unwrap();
        let mut batches: Vec<BatchDecodeInfo> = Vec::new();
        loop {
            let offset = batches.last().map_or(0, |b| b.min_offset + i64::from(b.record_count));
            let request = FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(10 << 20)])]);
            let (response, _) = connection.send(&request).await.unwrap();
            let partition = &response.responses[0].partitions[0];
            assert_eq!(partition.error_code, 0);
            let mut records = partition.records.clone().unwrap_or_default();
            let found = RecordBatchDecoder::decode_batch_info(&mut records).unwrap();
            if found.is_empty() {
                return batches;
            }
            batches.extend(found);
        }
    })
    .unwrap()
}

fn assert_gap_free_sequences(batches: &[BatchDecodeInfo]) {
    let mut expected = 0;
    for batch in batches {
        assert_eq!(
            batch.base_sequence, expected,
            "batch at offset {} continues the sequence",
            batch.min_offset
        );
        expected += batch.record_count;
    }
}

#[test]
fn stored_batches_carry_our_producer_id_and_gap_free_sequences() {
    let mock = MockCluster::start(1);
    mock.create_topic("idem", 1);
    let producer = idempotent_producer(&mock, &[]);
    produce_batches(&producer, "idem", 5, 10, |_| {});
    let batches = stored_batches(&mock, "idem");
    assert_eq!(batches.len(), 5);
    let producer_id = batches[0].producer_id;
    assert!(producer_id >= 0, "a producer id from InitProducerId");
    assert!(batches
        .iter()
        .all(|b| b.producer_id == producer_id && b.producer_epoch == batches[0].producer_epoch));
    assert!(batches[0].producer_epoch >= 0);
    assert_gap_free_sequences(&batches);
}

/// Options under which each group of `per_batch` messages of 5 bytes
/// fills its batch, which the producing thread then compresses with LZ4
/// (docs/producer.md, "Compressed as they are sealed"), and the codec the
/// stored batches then carry; or none.
fn compressed_as_sealed(per_batch: usize) -> [(Vec<(&'static str, String)>, Compression); 2] {
    [
        (Vec::new(), Compression::None),
        (
            vec![
                ("compression", "lz4".to_string()),
                ("batch_size_bytes", (5 * per_batch).to_string()),
            ],
            Compression::Lz4,
        ),
    ]
}

fn with_options(mock: &MockCluster, extra: &[(&'static str, String)]) -> Producer {
    let extra: Vec<(&str, &str)> = extra.iter().map(|(key, value)| (*key, value.as_str())).collect();
    idempotent_producer(mock, &extra)
}

#[test]
fn a_retried_batch_keeps_its_sequence() {
    for (extra, compression) in compressed_as_sealed(5) {
        let mock = MockCluster::start(1);
        mock.create_topic("retried", 1);
        let producer = with_options(&mock, &extra);
        produce_batches(&producer, "retried", 4, 5, |batch| {
            if batch == 2 {
                mock.push_errors(PRODUCE, &[REQUEST_TIMED_OUT, REQUEST_TIMED_OUT]);
            }
        });
        let batches = stored_batches(&mock, "retried");
        assert_eq!(
            batches.len(),
            4,
            "{compression:?}: the failed attempts stored nothing; the retry stored the batch once"
        );
        assert_gap_free_sequences(&batches);
        assert!(batches.iter().all(|b| b.producer_id == batches[0].producer_id));
        assert!(batches.iter().all(|b| b.compression == compression));
    }
}

#[test]
fn lost_producer_state_gets_a_new_producer_id_and_sequences_from_zero() {
    let cases = [UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER]
        .into_iter()
        .flat_map(|error| compressed_as_sealed(4).map(|options| (error, options)));
    for (error, (extra, compression)) in cases {
        let mock = MockCluster::start(1);
        mock.create_topic("reset", 1);
        let producer = with_options(&mock, &extra);
        produce_batches(&producer, "reset", 3, 4, |batch| {
            if batch == 2 {
                mock.push_errors(PRODUCE, &[error]);
            }
        });
        let batches = stored_batches(&mock, "reset");
        assert_eq!(batches.len(), 3, "error {error}");
        assert_gap_free_sequences(&batches[..2]);
        let (before, after) = (&batches[1], &batches[2]);
        assert!(
            (after.producer_id, after.producer_epoch) != (before.producer_id, before.producer_epoch),
            "error {error}: a new producer id or epoch after the broker lost our state"
        );
        assert_eq!(after.base_sequence, 0, "error {error}: sequences start again at 0");
        assert!(batches.iter().all(|b| b.compression == compression), "{compression:?}");
    }
}

#[test]
fn a_batch_that_fails_for_good_leaves_no_sequence_gap() {
    let mock = MockCluster::start(1);
    mock.create_topic("gap", 1);
    let producer = idempotent_producer(&mock, &[("retries", "0")]);
    assert!(produce_group(&producer, "gap", 0, 4).is_empty());
    mock.push_errors(PRODUCE, &[REQUEST_TIMED_OUT]);
    let failures = produce_group(&producer, "gap", 1, 4);
    assert_eq!(failures.len(), 4, "retries=0: the timed-out batch fails: {failures:?}");
    assert!(produce_group(&producer, "gap", 2, 4).is_empty());

    let batches = stored_batches(&mock, "gap");
    assert_eq!(batches.len(), 2, "the failed batch stored nothing");
    let (before, after) = (&batches[0], &batches[1]);
    assert!(
        (after.producer_id, after.producer_epoch) != (before.producer_id, before.producer_epoch),
        "the abandoned sequence is given up with its producer id"
    );
    assert_eq!(after.base_sequence, 0, "no gap: the next batch numbers from 0");
}
