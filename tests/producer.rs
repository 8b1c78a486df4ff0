//! The producer against real mock clusters, checked by librdkafka (kcat).

mod interop;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::MockCluster;
use yelp_kafka::config::{ClusterConfig, Config};
use yelp_kafka::metrics::{Measurement, MetricsResponder, ProducerMetric};
use yelp_kafka::producer::DeliveryReport;
use yelp_kafka::producer::{Producer, QueueWait};
use yelp_kafka::test_support::partition_for_key;
use yelp_kafka::ErrorCode;

const PRODUCE: i16 = 0;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const REQUEST_TIMED_OUT: i16 = 7;

fn producer_with(mock: &MockCluster, settings: &[(&str, &str)]) -> Producer {
    producer_with_responder(mock, settings, None)
}

fn producer_with_responder(
    mock: &MockCluster,
    settings: &[(&str, &str)],
    responder: Option<Box<dyn MetricsResponder>>,
) -> Producer {
    let cluster = ClusterConfig::from_broker_string("standard", "test", mock.bootstrap(), "").unwrap();
    let mut config = Config::new();
    for (key, value) in settings {
        config.set(key, value).unwrap();
    }
    Producer::new(&cluster, &config, responder).unwrap()
}

/// Produces `count` numbered messages asynchronously (keys `k<i % keys>`),
/// running `during` halfway, and returns the delivery reports.
fn produce_numbered(
    producer: &Producer,
    topic: &str,
    count: usize,
    keys: usize,
    during: impl FnOnce(),
) -> Vec<DeliveryReport> {
    let mut reports = Vec::new();
    let mut during = Some(during);
    for i in 0..count {
        if i == count / 2 {
            producer
                .flush(Duration::from_secs(10), &mut |served| reports.extend(served))
                .ok();
            (during.take().unwrap())();
        }
        let key = format!("k{}", i % keys);
        let value = format!("m{i:06}");
        producer
            .produce(
                topic,
                None,
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                i,
                QueueWait::Forever,
            )
            .unwrap();
    }
    let _ = producer.flush(Duration::from_secs(60), &mut |served| reports.extend(served));
    reports
}

/// Every acknowledged message is read back, and per partition the acknowledged
/// messages appear in the order they were produced.
fn assert_acknowledged_are_read_back_in_order(mock: &MockCluster, topic: &str, reports: &[DeliveryReport]) {
    let read = interop::read_all(mock.bootstrap(), topic);
    let stored: BTreeMap<(i32, i64), &str> = read
        .iter()
        .map(|m| ((m.partition, m.offset), m.value.as_deref().unwrap_or("<null>")))
        .collect();
    let mut acked: Vec<&DeliveryReport> = reports.iter().filter(|r| r.error.is_none()).collect();
    assert!(!acked.is_empty(), "some messages were acknowledged");
    for report in &acked {
        let value = stored.get(&(report.partition, report.offset));
        assert_eq!(
            value,
            Some(&format!("m{:06}", report.opaque).as_str()),
            "report {report:?}"
        );
    }
    acked.sort_by_key(|r| (r.partition.to_string(), r.opaque));
    for pair in acked.windows(2) {
        if pair[0].partition == pair[1].partition {
            assert!(
                pair[0].offset < pair[1].offset,
                "order kept in partition {}: {pair:?}",
                pair[0].partition
            );
        }
    }
}

#[test]
fn sync_send_returns_after_the_broker_acknowledged_and_librdkafka_reads_it_back() {
    let mock = MockCluster::start(3);
    mock.create_topic("seed", 3);
    let producer = producer_with(&mock, &[]);
    let values: Vec<String> = (0..9).map(|i| format!("m{i:06}")).collect();
    let slices: Vec<Option<&[u8]>> = values.iter().map(|v| Some(v.as_bytes())).collect();
    let offsets = producer.send_messages("seed", &slices).unwrap();
    assert_eq!(offsets.len(), 9);

    let read = interop::read_all(mock.bootstrap(), "seed");
    assert_eq!(read.len(), 9, "every acknowledged message is stored");
    let per_partition: BTreeMap<i32, usize> = read.iter().fold(BTreeMap::new(), |mut counts, m| {
        *counts.entry(m.partition).or_default() += 1;
        counts
    });
    assert_eq!(
        per_partition.values().copied().collect::<Vec<_>>(),
        [3, 3, 3],
        "round-robin spreads evenly"
    );
    assert!(read.iter().all(|m| m.key.is_none()));
}

#[test]
fn acks_0_sends_without_waiting_and_librdkafka_reads_everything_back() {
    let mock = MockCluster::start(1);
    mock.create_topic("unacked", 1);
    let producer = producer_with(&mock, &[("acks", "0")]);
    let reports = produce_numbered(&producer, "unacked", 200, 1, || {});
    assert_eq!(reports.len(), 200);
    assert!(
        reports.iter().all(|r| r.error.is_none() && r.offset == -1),
        "without an answer there is no offset"
    );
    // Nothing says when the broker appended what it was sent: read until
    // everything is there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let read = loop {
        let read = interop::read_all(mock.bootstrap(), "unacked");
        if read.len() >= 200 || Instant::now() > deadline {
            break read;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let values: Vec<&str> = read.iter().map(|m| m.value.as_deref().unwrap_or("<null>")).collect();
    let expected: Vec<String> = (0..200).map(|i| format!("m{i:06}")).collect();
    assert_eq!(values, expected, "every message, once, in order");
}

#[test]
fn keyed_messages_land_where_librdkafka_murmur2_random_puts_them() {
    let mock = MockCluster::start(1);
    mock.create_topic("keys", 7);
    let lines: Vec<(String, String)> = (0..10_000).map(|i| (format!("user-{i}"), format!("v{i}"))).collect();
    interop::produce_keyed(mock.bootstrap(), "keys", &lines, "none");
    let read = interop::read_all(mock.bootstrap(), "keys");
    assert_eq!(read.len(), 10_000);
    for message in &read {
        let key = message.key.as_deref().unwrap();
        assert_eq!(partition_for_key(key.as_bytes(), 7), message.partition, "key {key}");
    }

    let producer = producer_with(&mock, &[]);
    mock.create_topic("ours", 7);
    for i in 0..50 {
        let key = format!("user-{i}");
        producer
            .send_keyed_messages("ours", key.as_bytes(), &[Some(key.as_bytes())])
            .unwrap();
    }
    for message in interop::read_all(mock.bootstrap(), "ours") {
        let key = message.key.unwrap();
        let librdkafka_partition = read.iter().find(|m| m.key.as_deref() == Some(&key)).unwrap().partition;
        assert_eq!(message.partition, librdkafka_partition, "key {key}");
    }
}

/// Batches sealed by linger (compressed by the sender), batches filled by
/// 100 bytes of messages (compressed by the producing thread,
/// docs/producer.md, "Compressed as they are sealed"), and filled ones
/// left to the sender (`compress_on_produce=false`).
#[test]
fn every_codec_is_read_back_byte_for_byte_by_librdkafka() {
    let mock = MockCluster::start(1);
    for (codec, batch_size, on_produce) in ["none", "gzip", "snappy", "lz4", "zstd"].into_iter().flat_map(|codec| {
        [
            (codec, "1000000", "true"),
            (codec, "100", "true"),
            (codec, "100", "false"),
        ]
    }) {
        let topic = format!("codec-{codec}-{batch_size}-{on_produce}");
        mock.create_topic(&topic, 2);
        let options = [
            ("compression", codec),
            ("linger_ms", "20"),
            ("batch_size_bytes", batch_size),
            ("compress_on_produce", on_produce),
        ];
        let producer = producer_with(&mock, &options);
        let reports = produce_numbered(&producer, &topic, 400, 7, || {});
        assert!(reports.iter().all(|r| r.error.is_none()), "{codec}: {reports:?}");
        let read = interop::read_all(mock.bootstrap(), &topic);
        assert_eq!(read.len(), 400, "{codec}");
        let mut values: Vec<&str> = read.iter().map(|m| m.value.as_deref().unwrap_or("<null>")).collect();
        values.sort();
        let expected: Vec<String> = (0..400).map(|i| format!("m{i:06}")).collect();
        assert_eq!(values, expected, "{codec}");
    }
}

/// An LZ4 batch of several 64 KiB blocks, some of which do not compress
/// and are stored as they are (docs/producer.md, Compression).
#[test]
fn a_many_block_lz4_batch_with_incompressible_values_is_read_by_librdkafka() {
    let mock = MockCluster::start(1);
    mock.create_topic("lz4-blocks", 1);
    let producer = producer_with(&mock, &[("compression", "lz4"), ("linger_ms", "200")]);
    // xorshift64 letters: text LZ4 finds no matches in.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut letter = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(state % 62) as usize] as char
    };
    let values: Vec<String> = (0..240)
        .map(|i| match i % 3 {
            0 => format!("{i:04}-").repeat(400),
            _ => (0..2000).map(|_| letter()).collect(),
        })
        .collect();
    for (i, value) in values.iter().enumerate() {
        producer
            .produce(
                "lz4-blocks",
                Some(0),
                None,
                Some(value.as_bytes()),
                i,
                QueueWait::Forever,
            )
            .unwrap();
    }
    let mut reports = Vec::new();
    producer
        .flush(Duration::from_secs(30), &mut |served| reports.extend(served))
        .unwrap();
    assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");
    let read = interop::read_all(mock.bootstrap(), "lz4-blocks");
    let read: Vec<&str> = read.iter().map(|m| m.value.as_deref().unwrap_or("<null>")).collect();
    assert_eq!(read, values);
}

#[test]
fn a_leader_moved_mid_stream_loses_nothing_acknowledged() {
    let mock = MockCluster::start(3);
    mock.create_topic("moving", 3);
    let producer = producer_with(&mock, &[("retry_backoff_ms", "20")]);
    let reports = produce_numbered(&producer, "moving", 3000, 3, || {
        for partition in 0..3 {
            mock.move_leader("moving", partition, (partition + 1) % 3 + 1);
        }
    });
    assert_eq!(reports.len(), 3000);
    assert!(
        reports.iter().all(|r| r.error.is_none()),
        "leader moves are retried: {:?}",
        reports.iter().find(|r| r.error.is_some())
    );
    assert_acknowledged_are_read_back_in_order(&mock, "moving", &reports);
}

#[test]
fn a_broker_down_then_up_loses_nothing_acknowledged() {
    let mock = MockCluster::start(3);
    mock.create_topic("flaky", 3);
    let producer = producer_with(
        &mock,
        &[
            ("retry_backoff_ms", "50"),
            ("retries", "100"),
            ("request_timeout_ms", "2000"),
        ],
    );
    let reports = produce_numbered(&producer, "flaky", 2000, 3, || {
        mock.broker_down(2);
        std::thread::sleep(Duration::from_millis(300));
        mock.broker_up(2);
    });
    assert_eq!(reports.len(), 2000);
    assert!(
        reports.iter().all(|r| r.error.is_none()),
        "{:?}",
        reports.iter().find(|r| r.error.is_some())
    );
    assert_acknowledged_are_read_back_in_order(&mock, "flaky", &reports);
}

#[test]
fn pushed_produce_errors_are_retried_and_order_holds() {
    let mock = MockCluster::start(3);
    mock.create_topic("pushed", 2);
    let producer = producer_with(&mock, &[("retry_backoff_ms", "10"), ("retries", "10")]);
    let reports = produce_numbered(&producer, "pushed", 1000, 2, || {
        mock.push_errors(
            PRODUCE,
            &[
                NOT_LEADER_OR_FOLLOWER,
                REQUEST_TIMED_OUT,
                NOT_LEADER_OR_FOLLOWER,
                REQUEST_TIMED_OUT,
            ],
        );
    });
    assert!(reports.iter().all(|r| r.error.is_none()));
    assert_acknowledged_are_read_back_in_order(&mock, "pushed", &reports);
}

#[test]
fn errors_past_the_retry_budget_reach_the_caller_with_their_code() {
    let mock = MockCluster::start(1);
    mock.create_topic("budget", 1);
    let producer = producer_with(&mock, &[("retries", "1"), ("retry_backoff_ms", "10")]);
    producer
        .send_messages("budget", &[Some(b"warm-up".as_slice())])
        .unwrap();
    mock.push_errors(PRODUCE, &[NOT_LEADER_OR_FOLLOWER, NOT_LEADER_OR_FOLLOWER]);
    let error = producer.send_messages("budget", &[Some(b"x".as_slice())]).unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotLeaderForPartition, "{error}");
    assert_eq!(error.kafka_code(), Some(NOT_LEADER_OR_FOLLOWER));
    assert!(error.is_retriable());
    producer
        .send_messages("budget", &[Some(b"after".as_slice())])
        .expect("a plain retry succeeds");
}

#[test]
fn bad_input_gets_a_clear_error_and_the_producer_stays_usable() {
    let mock = MockCluster::start(1);
    mock.create_topic("fine", 1);
    mock.create_topic("gone", 1);
    mock.command("topic_error gone 3");
    let producer = producer_with(&mock, &[("message_max_bytes", "1000")]);
    let empty = producer.send_messages("", &[Some(b"x".as_slice())]).unwrap_err();
    assert_eq!(empty.code(), ErrorCode::InvalidArgument);
    let big = vec![b'x'; 2000];
    let too_big = producer.send_messages("fine", &[Some(big.as_slice())]).unwrap_err();
    assert_eq!(too_big.code(), ErrorCode::InvalidArgument);
    assert!(too_big.message().contains("message_max_bytes"), "{too_big}");
    let unknown = producer.send_messages("gone", &[Some(b"x".as_slice())]).unwrap_err();
    assert_eq!(unknown.code(), ErrorCode::UnknownTopicOrPartition, "{unknown}");
    // The asynchronous produce waits for the lookup too: the error is the
    // call's, and nothing is queued for a report.
    let unknown = producer
        .produce("gone", None, None, Some(b"x"), 0, QueueWait::NoWait)
        .unwrap_err();
    assert_eq!(unknown.code(), ErrorCode::UnknownTopicOrPartition, "{unknown}");
    assert_eq!(producer.queued_messages(), 0);
    let partition = producer
        .produce("fine", Some(5), None, Some(b"x"), 0, QueueWait::NoWait)
        .unwrap_err();
    assert_eq!(partition.code(), ErrorCode::UnknownTopicOrPartition);
    producer
        .send_messages("fine", &[Some(b"still works".as_slice())])
        .unwrap();
}

#[test]
fn a_full_queue_returns_queue_full_or_waits() {
    let mock = MockCluster::start(1);
    mock.create_topic("full", 1);
    mock.set_rtt(1, 300);
    let producer = producer_with(&mock, &[("queue_max_messages", "2"), ("linger_ms", "0")]);
    producer
        .produce("full", None, None, Some(b"1"), 1, QueueWait::NoWait)
        .unwrap();
    producer
        .produce("full", None, None, Some(b"2"), 2, QueueWait::NoWait)
        .unwrap();
    let full = producer
        .produce("full", None, None, Some(b"3"), 3, QueueWait::NoWait)
        .unwrap_err();
    assert_eq!(full.code(), ErrorCode::QueueFull);
    producer
        .produce(
            "full",
            None,
            None,
            Some(b"3"),
            3,
            QueueWait::Upto(Duration::from_secs(10)),
        )
        .unwrap();
    let mut delivered = Vec::new();
    producer
        .flush(Duration::from_secs(10), &mut |served| {
            delivered.extend(served.into_iter().map(|r| r.opaque))
        })
        .unwrap();
    assert_eq!(delivered, [1, 2, 3]);
}

/// A message that finds the queue full presses it: the batches lingering
/// there go out at once, not when their minute of linger ends, also when
/// that message's caller does not wait for room (docs/producer.md, "The
/// bounded queue and back-pressure").
#[test]
fn a_full_queue_is_sent_without_waiting_for_its_linger() {
    let mock = MockCluster::start(1);
    mock.create_topic("pressed", 2);
    let producer = producer_with(&mock, &[("queue_max_messages", "4"), ("linger_ms", "60000")]);
    producer
        .send_messages("pressed", &[Some(b"metadata first".as_slice())])
        .unwrap();
    for opaque in 0..4 {
        let partition = opaque as i32 % 2;
        producer
            .produce(
                "pressed",
                Some(partition),
                None,
                Some(b"lingers"),
                opaque,
                QueueWait::NoWait,
            )
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(producer.queued_messages(), 4, "with room left, the batches linger");
    let full = producer
        .produce("pressed", Some(0), None, Some(b"no room"), 4, QueueWait::NoWait)
        .unwrap_err();
    assert_eq!(full.code(), ErrorCode::QueueFull);
    let started = Instant::now();
    let mut delivered = Vec::new();
    while delivered.len() < 4 && started.elapsed() < Duration::from_secs(10) {
        producer
            .poll(Duration::from_millis(100), &mut |served| {
                delivered.extend(served.into_iter().filter(|r| r.error.is_none()).map(|r| r.opaque))
            })
            .unwrap();
    }
    delivered.sort_unstable();
    assert_eq!(delivered, [0, 1, 2, 3], "delivered after {:?}", started.elapsed());
}

/// A wakeup ends a synchronous send waiting for a leader that is down, and
/// one waiting for room in the queue; what they queued stays queued and is
/// delivered once the leader is back, before what is sent after.
#[test]
fn a_wakeup_ends_a_sync_send_waiting_for_a_leader_or_for_room() {
    let mock = MockCluster::start(2);
    mock.create_topic("outage", 1);
    mock.move_leader("outage", 0, 2);
    let producer = Arc::new(producer_with(
        &mock,
        &[("retries", "1000000"), ("queue_max_messages", "3")],
    ));
    let first = producer.send_messages("outage", &[Some(b"before".as_slice())]).unwrap()[0];
    mock.broker_down(2);
    let woken_after = |values: &[Option<&[u8]>]| {
        let waker = Arc::clone(&producer);
        let waking = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            waker.wakeup();
        });
        let started = Instant::now();
        let error = producer.send_messages("outage", values).unwrap_err();
        let waited = started.elapsed();
        waking.join().unwrap();
        assert_eq!(error.code(), ErrorCode::WokenUp, "{error}");
        assert!(
            waited >= Duration::from_millis(190) && waited < Duration::from_millis(300),
            "woken after {waited:?}"
        );
    };
    // Both queued, waiting for the leader.
    woken_after(&[Some(b"down-0".as_slice()), Some(b"down-1".as_slice())]);
    assert_eq!(producer.queued_messages(), 2);
    // The first queued, the second waiting for room (three at most).
    woken_after(&[Some(b"down-2".as_slice()), Some(b"never".as_slice())]);
    assert_eq!(producer.queued_messages(), 3);
    mock.broker_up(2);
    let after = producer.send_messages("outage", &[Some(b"after".as_slice())]).unwrap()[0];
    assert_eq!(after, first + 4, "the three queued while down come first");
}

#[test]
fn a_sync_send_larger_than_the_queue_is_not_held_back_by_a_lingering_batch() {
    let mock = MockCluster::start(1);
    mock.create_topic("one-at-a-time", 2);
    // A lingering asynchronous message sets the sender's next timer a
    // minute away, and leaves room for one more: each message of the
    // synchronous send waits for the one before it, which the sender must
    // be told about, not find on that timer.
    let producer = producer_with(&mock, &[("queue_max_messages", "2"), ("linger_ms", "60000")]);
    producer
        .produce("one-at-a-time", Some(1), None, Some(b"lingers"), 0, QueueWait::NoWait)
        .unwrap();
    // Time for the sender to plan that batch and sleep until its linger ends.
    std::thread::sleep(Duration::from_millis(300));
    let messages: Vec<Vec<u8>> = (0..20).map(|i| format!("m{i}").into_bytes()).collect();
    let slices: Vec<Option<&[u8]>> = messages.iter().map(|m| Some(m.as_slice())).collect();
    let started = Instant::now();
    let offsets = producer.send_messages("one-at-a-time", &slices).unwrap();
    let took = started.elapsed();
    assert_eq!(offsets.len(), 20);
    assert!(took < Duration::from_secs(20), "20 messages took {took:?}");
}

#[test]
fn close_never_waits_past_its_deadline_and_counts_what_was_not_delivered() {
    let mock = MockCluster::start(1);
    mock.create_topic("closing", 1);
    let producer = producer_with(&mock, &[("linger_ms", "0")]);
    producer
        .send_messages("closing", &[Some(b"connect first".as_slice())])
        .unwrap();
    mock.broker_down(1);
    for i in 0..10 {
        producer
            .produce("closing", None, None, Some(b"x"), i, QueueWait::NoWait)
            .unwrap();
    }
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    let undelivered = producer
        .close(Duration::from_millis(300), &mut |served| reports.extend(served))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "close took {:?}",
        started.elapsed()
    );
    assert_eq!(undelivered, 10);
    assert!(reports.iter().all(|r| r.error.is_some()));
    let closed = producer
        .produce("closing", None, None, Some(b"x"), 0, QueueWait::NoWait)
        .unwrap_err();
    assert_eq!(closed.code(), ErrorCode::ClosedHandle);
}

#[test]
fn a_closed_producer_refuses_every_call_at_once_even_with_the_brokers_down() {
    let mock = MockCluster::start(1);
    mock.create_topic("known", 1);
    // A lookup would fail with KafkaUnavailable after this long; the calls
    // below must not look anything up.
    let producer = producer_with(&mock, &[("linger_ms", "0"), ("metadata_timeout_ms", "500")]);
    producer.send_messages("known", &[Some(b"first".as_slice())]).unwrap();
    assert_eq!(producer.close(Duration::from_secs(5), &mut |_| {}).unwrap(), 0);
    mock.broker_down(1);
    let value = Some(b"x".as_slice());
    let codes = [
        (
            "produce",
            producer
                .produce("unknown", None, None, value, 0, QueueWait::NoWait)
                .unwrap_err(),
        ),
        (
            "produce to a known topic",
            producer
                .produce("known", Some(0), None, value, 0, QueueWait::Forever)
                .unwrap_err(),
        ),
        (
            "send_messages",
            producer.send_messages("unknown", &[value]).unwrap_err(),
        ),
        (
            "send_keyed_messages",
            producer.send_keyed_messages("unknown", b"k", &[value]).unwrap_err(),
        ),
        (
            "flush",
            producer.flush(Duration::from_secs(5), &mut |_| {}).unwrap_err(),
        ),
        ("poll", producer.poll(Duration::from_secs(5), &mut |_| {}).unwrap_err()),
        (
            "close",
            producer.close(Duration::from_secs(5), &mut |_| {}).unwrap_err(),
        ),
    ];
    for (call, error) in codes {
        assert_eq!(error.code(), ErrorCode::ClosedHandle, "{call}: {error}");
    }
}

#[test]
fn a_null_value_stays_null_and_an_empty_one_empty_on_every_path() {
    let mock = MockCluster::start(1);
    mock.create_topic("tombstones", 1);
    let producer = producer_with(&mock, &[("linger_ms", "0")]);
    let empty = Some(b"".as_slice());
    producer.send_messages("tombstones", &[None, empty]).unwrap();
    producer
        .send_keyed_messages("tombstones", b"k", &[None, empty])
        .unwrap();
    for value in [None, empty] {
        producer
            .produce("tombstones", Some(0), Some(b"k"), value, 0, QueueWait::Forever)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10), &mut |_| {}).unwrap();
    let read = interop::read_all(mock.bootstrap(), "tombstones");
    let values: Vec<Option<&str>> = read.iter().map(|m| m.value.as_deref()).collect();
    // Per path, a null then an empty value: send_messages, send_keyed_messages, produce.
    assert_eq!(values, [None, Some("")].repeat(3));
}

struct Recorded {
    thread: std::thread::ThreadId,
    measurement: Measurement,
}

struct CollectingResponder(Arc<Mutex<Vec<Recorded>>>);

impl MetricsResponder for CollectingResponder {
    fn record(&mut self, measurement: &Measurement) {
        let thread = std::thread::current().id();
        self.0.lock().unwrap().push(Recorded {
            thread,
            measurement: *measurement,
        });
    }
}

#[test]
fn metrics_reach_the_responder_on_the_callers_thread() {
    let mock = MockCluster::start(1);
    mock.create_topic("measured", 1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let responder = CollectingResponder(Arc::clone(&seen));
    let producer = producer_with_responder(&mock, &[("retries", "0")], Some(Box::new(responder)));
    producer.send_messages("measured", &[Some(b"a".as_slice())]).unwrap();
    mock.push_errors(PRODUCE, &[NOT_LEADER_OR_FOLLOWER]);
    producer
        .send_messages("measured", &[Some(b"b".as_slice())])
        .unwrap_err();
    let seen = seen.lock().unwrap();
    let count = |metric: ProducerMetric| seen.iter().filter(|r| r.measurement.metric == metric as usize).count();
    assert!(count(ProducerMetric::MetadataRequestTimer) >= 1);
    assert_eq!(count(ProducerMetric::ProduceRequestTimer), 2);
    assert!(count(ProducerMetric::ProduceExceptionCount) >= 1);
    let me = std::thread::current().id();
    assert!(
        seen.iter().all(|r| r.thread == me),
        "only the caller's thread runs the responder"
    );
}

#[test]
fn with_reporting_off_the_responder_hears_nothing() {
    let mock = MockCluster::start(1);
    mock.create_topic("quiet", 1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let responder = CollectingResponder(Arc::clone(&seen));
    let producer = producer_with_responder(&mock, &[("report_metrics", "false")], Some(Box::new(responder)));
    producer.send_messages("quiet", &[Some(b"a".as_slice())]).unwrap();
    assert!(seen.lock().unwrap().is_empty());
}
