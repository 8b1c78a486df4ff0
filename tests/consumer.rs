//! The consumer core against real mock clusters: codecs written by
//! librdkafka, the offset tracker's commits, reset policies, leader moves,
//! transactions, and run-time assignment.

#[path = "support/consumer_fixtures.rs"]
mod consumer_fixtures;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use consumer_fixtures::{consumer_config, produce_transactions, produce_with_kcat, sample_records};
use support::MockCluster;
use yelp_kafka::consumer::{Consumer, Message, Subscription, Topic, TopicPartition};
use yelp_kafka::offsets::OffsetStorageKind;
use yelp_kafka::offsets::{Offsets, Topics};
use yelp_kafka::ErrorCode;

fn simple(topic: &str, partitions: Option<Vec<i32>>) -> Subscription {
    Subscription::Topic {
        topic: topic.to_string(),
        partitions,
    }
}

fn connected(subscription: Subscription, bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> Consumer {
    let consumer = Consumer::new(subscription, consumer_config(bootstrap, group, extra)).unwrap();
    consumer.connect().unwrap();
    consumer
}

/// Reads until `count` messages came, failing after `within`.
fn read(consumer: &Consumer, count: usize, within: Duration) -> Vec<Message> {
    let deadline = Instant::now() + within;
    let mut messages = Vec::new();
    while messages.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} messages within {within:?}",
            messages.len()
        );
        match consumer.get_message(true, Some(Duration::from_millis(200))) {
            Ok(message) => messages.push(message),
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => panic!("get_message: {error}"),
        }
    }
    messages
}

fn assert_nothing_more(consumer: &Consumer) {
    let error = consumer
        .get_message(true, Some(Duration::from_millis(300)))
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ConsumerTimeout, "{error}");
}

fn committed(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<(String, i32), i64> {
    let client = Offsets::new(
        &consumer_fixtures::cluster_config(bootstrap, ""),
        yelp_kafka::config::ClientOptions::from_config(&consumer_fixtures::mock_values(&[])).unwrap(),
        OffsetStorageKind::Kafka,
    );
    client
        .current_offsets(group, &Topics::of_topics(&[topic]), true)
        .unwrap()
        .into_iter()
        .map(|(key, offset)| ((key.topic.to_string(), key.partition), offset))
        .collect()
}

#[test]
fn every_codec_written_by_librdkafka_reads_back_byte_exact() {
    let mock = MockCluster::start(3);
    let records = sample_records(300, 150);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        mock.create_topic(&topic, 2);
        produce_with_kcat(mock.bootstrap(), &topic, 1, codec, &records);
        let consumer = connected(simple(&topic, None), mock.bootstrap(), &format!("g-{codec}"), &[]);
        let messages = read(&consumer, records.len(), Duration::from_secs(20));
        for (i, (message, (key, value))) in messages.iter().zip(&records).enumerate() {
            assert_eq!(message.topic().as_str(), topic);
            assert_eq!(message.partition(), 1, "{codec}");
            assert_eq!(message.offset(), i as i64, "{codec}");
            assert_eq!(message.key(), key.as_deref(), "{codec} key of offset {i}");
            assert!(
                message.value() == Some(value.as_slice()),
                "{codec}: value of offset {i} differs"
            );
        }
        assert_nothing_more(&consumer);
    }
}

#[test]
fn task_done_on_0_1_2_4_5_commits_3_and_a_new_consumer_starts_at_3() {
    let mock = MockCluster::start(1);
    mock.create_topic("work", 1);
    produce_with_kcat(mock.bootstrap(), "work", 0, "none", &sample_records(8, 10));
    let extra = [("auto_commit_enable", "false")];
    let consumer = connected(simple("work", None), mock.bootstrap(), "workers", &extra);
    let messages = read(&consumer, 6, Duration::from_secs(10));
    for offset in [4, 0, 5, 2, 1] {
        consumer.task_done(&messages[offset]).unwrap();
    }
    consumer.commit().unwrap();
    assert_eq!(
        committed(mock.bootstrap(), "workers", "work")[&("work".to_string(), 0)],
        3
    );
    consumer.close().unwrap();

    let successor = connected(simple("work", None), mock.bootstrap(), "workers", &extra);
    let message = successor.get_message(true, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(message.offset(), 3);
}

#[test]
fn the_plain_consumer_reads_every_partition_of_its_topics() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 3);
    mock.create_topic("refunds", 2);
    let mut expected = BTreeMap::new();
    for (topic, partitions) in [("orders", 3), ("refunds", 2)] {
        for partition in 0..partitions {
            let records = sample_records(5 + partition as usize, 20);
            produce_with_kcat(mock.bootstrap(), topic, partition, "snappy", &records);
            expected.insert((topic.to_string(), partition), records.len());
        }
    }
    let subscription = Subscription::Topics(vec!["orders".to_string(), "refunds".to_string()]);
    let consumer = connected(subscription, mock.bootstrap(), "plain", &[]);
    let total = expected.values().sum();
    let mut seen: BTreeMap<(String, i32), Vec<i64>> = BTreeMap::new();
    for message in read(&consumer, total, Duration::from_secs(10)) {
        seen.entry((message.topic().to_string(), message.partition()))
            .or_default()
            .push(message.offset());
    }
    for (key, count) in expected {
        assert_eq!(
            seen[&key],
            (0..count as i64).collect::<Vec<_>>(),
            "{key:?} in order, each once"
        );
    }
    assert_nothing_more(&consumer);
}

#[test]
fn without_committed_offsets_largest_starts_at_the_end_and_smallest_at_the_start() {
    let mock = MockCluster::start(1);
    mock.create_topic("reset", 1);
    produce_with_kcat(mock.bootstrap(), "reset", 0, "none", &sample_records(4, 10));
    let latest = connected(
        simple("reset", None),
        mock.bootstrap(),
        "late",
        &[("auto_offset_reset", "largest")],
    );
    let earliest = connected(simple("reset", None), mock.bootstrap(), "early", &[]);
    assert_eq!(
        earliest
            .get_message(true, Some(Duration::from_secs(5)))
            .unwrap()
            .offset(),
        0
    );
    assert_nothing_more(&latest);
    produce_with_kcat(mock.bootstrap(), "reset", 0, "none", &sample_records(1, 10));
    assert_eq!(
        latest.get_message(true, Some(Duration::from_secs(5))).unwrap().offset(),
        4
    );
}

#[test]
fn an_offset_out_of_range_follows_the_reset_policy() {
    let mock = MockCluster::start(1);
    mock.create_topic("range", 1);
    produce_with_kcat(mock.bootstrap(), "range", 0, "none", &sample_records(5, 10));
    let client = Offsets::new(
        &consumer_fixtures::cluster_config(mock.bootstrap(), ""),
        yelp_kafka::config::ClientOptions::from_config(&consumer_fixtures::mock_values(&[])).unwrap(),
        OffsetStorageKind::Kafka,
    );
    let beyond = BTreeMap::from([(TopicPartition::new(Topic::new("range").unwrap(), 0), 1000)]);
    for (policy, first) in [("smallest", Some(0)), ("largest", None)] {
        let group = format!("out-of-range-{policy}");
        client.set(&group, &beyond, true).unwrap();
        let consumer = connected(
            simple("range", None),
            mock.bootstrap(),
            &group,
            &[("auto_offset_reset", policy), ("auto_commit_enable", "false")],
        );
        match first {
            Some(offset) => {
                let message = consumer.get_message(true, Some(Duration::from_secs(5))).unwrap();
                assert_eq!(message.offset(), offset, "{policy}");
            }
            None => assert_nothing_more(&consumer),
        }
        // The reset position is what a commit stores (not the bad offset).
        consumer.commit().unwrap();
        let stored = committed(mock.bootstrap(), &group, "range")[&("range".to_string(), 0)];
        assert_eq!(stored, if policy == "smallest" { 0 } else { 5 }, "{policy}");
    }
}

#[test]
fn auto_commit_follows_task_done_counts_and_time_and_close() {
    let mock = MockCluster::start(1);
    mock.create_topic("auto", 1);
    produce_with_kcat(mock.bootstrap(), "auto", 0, "none", &sample_records(30, 10));
    let key = ("auto".to_string(), 0);

    let by_count = connected(
        simple("auto", None),
        mock.bootstrap(),
        "by-count",
        &[("auto_commit_interval_messages", "10")],
    );
    let messages = read(&by_count, 25, Duration::from_secs(10));
    for message in &messages[..9] {
        by_count.task_done(message).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        committed(mock.bootstrap(), "by-count", "auto")[&key],
        0,
        "9 are not enough"
    );
    by_count.task_done(&messages[9]).unwrap();
    wait_for_commit(mock.bootstrap(), "by-count", "auto", 10);
    for message in &messages[10..25] {
        by_count.task_done(message).unwrap();
    }
    by_count.close().unwrap();
    assert_eq!(
        committed(mock.bootstrap(), "by-count", "auto")[&key],
        25,
        "close commits"
    );

    let by_time = connected(
        simple("auto", None),
        mock.bootstrap(),
        "by-time",
        &[("auto_commit_interval_ms", "200")],
    );
    let messages = read(&by_time, 3, Duration::from_secs(10));
    for message in &messages {
        by_time.task_done(message).unwrap();
    }
    wait_for_commit(mock.bootstrap(), "by-time", "auto", 3);

    let manual = connected(
        simple("auto", None),
        mock.bootstrap(),
        "manual",
        &[("auto_commit_enable", "false"), ("auto_commit_interval_messages", "1")],
    );
    let message = read(&manual, 1, Duration::from_secs(10)).remove(0);
    manual.task_done(&message).unwrap();
    manual.close().unwrap();
    assert_eq!(
        committed(mock.bootstrap(), "manual", "auto")[&key],
        0,
        "without auto-commit nothing is committed by itself"
    );
}

fn wait_for_commit(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stored = committed(bootstrap, group, topic)[&(topic.to_string(), 0)];
        if stored == offset {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{group}: committed {stored}, expected {offset}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn commit_message_commits_its_partition_through_the_message() {
    let mock = MockCluster::start(1);
    mock.create_topic("single", 2);
    produce_with_kcat(mock.bootstrap(), "single", 0, "none", &sample_records(5, 10));
    produce_with_kcat(mock.bootstrap(), "single", 1, "none", &sample_records(5, 10));
    let consumer = connected(
        simple("single", Some(vec![0])),
        mock.bootstrap(),
        "single",
        &[("auto_commit_enable", "false")],
    );
    let messages = read(&consumer, 5, Duration::from_secs(10));
    assert!(
        messages.iter().all(|m| m.partition() == 0),
        "only the partition asked for"
    );
    consumer.commit_message(&messages[2]).unwrap();
    let stored = committed(mock.bootstrap(), "single", "single");
    assert_eq!(stored[&("single".to_string(), 0)], 3);
    assert_eq!(
        stored[&("single".to_string(), 1)],
        0,
        "the other partition is untouched"
    );
}

#[test]
fn unknown_topics_and_partitions_fail_connect() {
    let mock = MockCluster::start(1);
    mock.create_topic("known", 2);
    let consumer = Consumer::new(simple("unknown", None), consumer_config(mock.bootstrap(), "g", &[])).unwrap();
    assert_eq!(consumer.connect().unwrap_err().code(), ErrorCode::UnknownTopic);
    let consumer = Consumer::new(
        simple("known", Some(vec![1, 7])),
        consumer_config(mock.bootstrap(), "g", &[]),
    )
    .unwrap();
    let error = consumer.connect().unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnknownPartitions);
    assert!(error.message().contains('7'), "{error}");
    let plain = Subscription::Topics(vec!["known".to_string(), "missing".to_string()]);
    let consumer = Consumer::new(plain, consumer_config(mock.bootstrap(), "g", &[])).unwrap();
    assert_eq!(consumer.connect().unwrap_err().code(), ErrorCode::UnknownTopic);
}

#[test]
fn calls_before_connect_and_after_close_are_refused() {
    let mock = MockCluster::start(1);
    mock.create_topic("life", 1);
    let consumer = Consumer::new(simple("life", None), consumer_config(mock.bootstrap(), "g", &[])).unwrap();
    assert_eq!(consumer.next().unwrap_err().code(), ErrorCode::WrongState);
    assert_eq!(consumer.commit().unwrap_err().code(), ErrorCode::WrongState);
    consumer.connect().unwrap();
    assert_eq!(consumer.connect().unwrap_err().code(), ErrorCode::WrongState);
    consumer.close().unwrap();
    consumer.close().unwrap();
    assert_eq!(consumer.next().unwrap_err().code(), ErrorCode::ClosedHandle);
}

#[test]
fn close_wakes_a_thread_waiting_for_messages() {
    let mock = MockCluster::start(1);
    mock.create_topic("quiet", 1);
    let consumer = std::sync::Arc::new(connected(
        simple("quiet", None),
        mock.bootstrap(),
        "g",
        &[("consumer_timeout_ms", "-1")],
    ));
    let waiting = {
        let consumer = std::sync::Arc::clone(&consumer);
        std::thread::spawn(move || consumer.next().unwrap_err().code())
    };
    std::thread::sleep(Duration::from_millis(300));
    consumer.close().unwrap();
    assert_eq!(waiting.join().unwrap(), ErrorCode::ClosedHandle);
}

#[test]
fn non_blocking_and_timed_waits_return_consumer_timeout_in_time() {
    let mock = MockCluster::start(1);
    mock.create_topic("idle", 1);
    let consumer = connected(
        simple("idle", None),
        mock.bootstrap(),
        "g",
        &[("consumer_timeout_ms", "250")],
    );
    let started = Instant::now();
    assert_eq!(
        consumer.get_message(false, None).unwrap_err().code(),
        ErrorCode::ConsumerTimeout
    );
    assert!(started.elapsed() < Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(consumer.next().unwrap_err().code(), ErrorCode::ConsumerTimeout);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(240) && waited < Duration::from_millis(1000),
        "{waited:?}"
    );
}

#[test]
fn control_records_are_skipped_and_passed() {
    // Debian's 2.0.2 mock writes no transaction markers; the 2.16 mock does.
    let markers = std::env::var_os("YK_MOCK_LIB").is_some();
    let mock = MockCluster::start(1);
    mock.create_topic("txn", 1);
    produce_transactions(mock.bootstrap(), "txn", &["a", "b", "c"], &[]);
    produce_with_kcat(mock.bootstrap(), "txn", 0, "none", &[(None, b"x".to_vec())]);
    produce_transactions(mock.bootstrap(), "txn", &["d"], &[]);
    let consumer = connected(
        simple("txn", None),
        mock.bootstrap(),
        "g",
        &[("auto_commit_enable", "false")],
    );
    let messages = read(&consumer, 5, Duration::from_secs(10));
    let read_back: Vec<(i64, &[u8])> = messages.iter().map(|m| (m.offset(), m.value().unwrap())).collect();
    let expected: [(i64, &[u8]); 5] = if markers {
        [(0, b"a"), (1, b"b"), (2, b"c"), (4, b"x"), (5, b"d")]
    } else {
        [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"x"), (4, b"d")]
    };
    assert_eq!(read_back, expected, "markers (offsets 3 and 6) are not messages");
    assert_nothing_more(&consumer);
    for message in &messages {
        consumer.task_done(message).unwrap();
    }
    consumer.commit().unwrap();
    let stored = committed(mock.bootstrap(), "g", "txn")[&("txn".to_string(), 0)];
    assert_eq!(stored, if markers { 7 } else { 5 }, "the commit passes the last marker");
}

#[test]
fn a_message_larger_than_fetch_message_max_bytes_still_comes() {
    let mock = MockCluster::start(1);
    mock.create_topic("large", 1);
    let records = sample_records(3, 20_000);
    produce_with_kcat(mock.bootstrap(), "large", 0, "none", &records);
    let consumer = connected(
        simple("large", None),
        mock.bootstrap(),
        "g",
        &[("fetch_message_max_bytes", "1024")],
    );
    let messages = read(&consumer, 3, Duration::from_secs(10));
    for (message, (_, value)) in messages.iter().zip(&records) {
        assert!(message.value() == Some(value.as_slice()));
    }
}

/// `queued_max_messages_kbytes` stops fetching ahead once the queue holds
/// that much. Two batches per partition, and the mock answers with one
/// batch per partition. A consumer that reads nothing queues by default
/// at least seven of the eight batches: it asks a broker again while one
/// of its partitions is empty or half have room for another chunk
/// (docs/configuration.md), so it stops once three partitions hold both.
/// Under a 1 KiB limit it queues only its first answer, one batch of some
/// partitions (all four, or fewer when it starts fetching before every
/// partition's offset is known, as under load). The bounded one still
/// reads everything.
#[test]
fn queued_max_messages_kbytes_bounds_what_is_fetched_ahead() {
    const SIZE: usize = 20_000;
    let mock = MockCluster::start(1);
    mock.create_topic("ahead", 4);
    for _ in 0..2 {
        for partition in 0..4 {
            produce_with_kcat(mock.bootstrap(), "ahead", partition, "none", &sample_records(1, SIZE));
        }
    }
    let bounded = connected(
        simple("ahead", None),
        mock.bootstrap(),
        "bounded",
        &[("queued_max_messages_kbytes", "1")],
    );
    let unbounded = connected(simple("ahead", None), mock.bootstrap(), "unbounded", &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while unbounded.queued_bytes() < 7 * SIZE {
        assert!(
            Instant::now() < deadline,
            "the default limit queued only {} bytes",
            unbounded.queued_bytes()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let queued = bounded.queued_bytes();
    assert!(
        (SIZE..5 * SIZE).contains(&queued),
        "the bounded consumer queued {queued} bytes: not one answer of at most a batch per partition"
    );
    let mut values: Vec<usize> = read(&bounded, 8, Duration::from_secs(10))
        .iter()
        .map(|m| m.value().map_or(0, <[u8]>::len))
        .collect();
    values.dedup();
    assert_eq!(values, [SIZE], "every message whole");
    assert_nothing_more(&bounded);
    assert_eq!(bounded.queued_bytes(), 0, "all taken");
}

#[test]
fn answers_cut_at_fetch_max_bytes_serve_the_partitions_in_turn() {
    let mock = MockCluster::start(1);
    mock.create_topic("turns", 4);
    // Two batches per partition, each larger than an answer may hold: the
    // broker puts one batch in each answer, from the first partition asked
    // that has one.
    for _ in 0..2 {
        for partition in 0..4 {
            produce_with_kcat(mock.bootstrap(), "turns", partition, "none", &sample_records(1, 2_000));
        }
    }
    let consumer = connected(
        simple("turns", None),
        mock.bootstrap(),
        "g",
        &[("fetch_max_bytes", "1024"), ("fetch_message_max_bytes", "1024")],
    );
    let first: Vec<i32> = read(&consumer, 4, Duration::from_secs(10))
        .iter()
        .map(Message::partition)
        .collect();
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, [0, 1, 2, 3], "the first four answers came from {first:?}");
    read(&consumer, 4, Duration::from_secs(10));
}

#[test]
fn consuming_goes_on_after_the_leader_moves() {
    let mock = MockCluster::start(3);
    mock.create_topic("moving", 1);
    mock.move_leader("moving", 0, 1);
    produce_with_kcat(mock.bootstrap(), "moving", 0, "none", &sample_records(10, 10));
    let consumer = connected(simple("moving", None), mock.bootstrap(), "g", &[]);
    let first = read(&consumer, 10, Duration::from_secs(10));
    mock.move_leader("moving", 0, 2);
    produce_with_kcat(mock.bootstrap(), "moving", 0, "none", &sample_records(10, 10));
    let second = read(&consumer, 10, Duration::from_secs(10));
    let offsets: Vec<i64> = first.iter().chain(&second).map(Message::offset).collect();
    assert_eq!(offsets, (0..20).collect::<Vec<_>>());
}

#[test]
fn consuming_goes_on_after_the_leader_is_down_for_a_while() {
    let mock = MockCluster::start(3);
    mock.create_topic("outage", 1);
    mock.move_leader("outage", 0, 3);
    produce_with_kcat(mock.bootstrap(), "outage", 0, "none", &sample_records(5, 10));
    let consumer = connected(simple("outage", None), mock.bootstrap(), "g", &[]);
    read(&consumer, 5, Duration::from_secs(10));
    mock.broker_down(3);
    assert_nothing_more(&consumer);
    mock.broker_up(3);
    produce_with_kcat(mock.bootstrap(), "outage", 0, "none", &sample_records(5, 10));
    let after = read(&consumer, 5, Duration::from_secs(15));
    assert_eq!(after[0].offset(), 5);
}

#[test]
fn partitions_can_be_assigned_and_revoked_at_run_time() {
    let mock = MockCluster::start(2);
    mock.create_topic("shared", 2);
    for partition in 0..2 {
        produce_with_kcat(mock.bootstrap(), "shared", partition, "none", &sample_records(4, 10));
    }
    let consumer = connected(simple("shared", Some(vec![0])), mock.bootstrap(), "group", &[]);
    let topic = Topic::new("shared").unwrap();
    let zero = TopicPartition::new(topic.clone(), 0);
    let one = TopicPartition::new(topic, 1);
    let from_zero = read(&consumer, 2, Duration::from_secs(10));
    consumer.task_done(&from_zero[0]).unwrap();
    consumer.commit_partitions(std::slice::from_ref(&zero)).unwrap();
    consumer.revoke(std::slice::from_ref(&zero)).unwrap();
    consumer.task_done(&from_zero[1]).unwrap();
    assert_eq!(consumer.assignment(), Vec::<TopicPartition>::new());
    consumer.assign(std::slice::from_ref(&one)).unwrap();
    let from_one = read(&consumer, 4, Duration::from_secs(10));
    assert!(
        from_one.iter().all(|m| m.partition() == 1),
        "nothing of the revoked partition"
    );
    assert_nothing_more(&consumer);
    consumer.assign(std::slice::from_ref(&zero)).unwrap();
    let again = read(&consumer, 3, Duration::from_secs(10));
    assert_eq!(again[0].offset(), 1, "partition 0 starts again at its committed offset");
    assert_eq!(consumer.assignment(), vec![zero, one]);
}

#[test]
fn the_next_fetch_is_in_flight_while_the_application_works() {
    let mock = MockCluster::start(1);
    mock.create_topic("pipelined", 1);
    // One batch per kcat run, and one batch per fetch.
    for record in sample_records(8, 900) {
        produce_with_kcat(mock.bootstrap(), "pipelined", 0, "none", &[record]);
    }
    let consumer = connected(
        simple("pipelined", None),
        mock.bootstrap(),
        "g",
        &[("fetch_message_max_bytes", "1024")],
    );
    read(&consumer, 1, Duration::from_secs(10));
    mock.set_rtt(1, 200);
    std::thread::sleep(Duration::from_millis(500));
    // Working 200 ms per message while the next fetch (200 ms) travels: six
    // messages take about 6 × 200 ms, not 6 × (200 + 200) ms.
    let started = Instant::now();
    for _ in 0..6 {
        let message = consumer.get_message(true, Some(Duration::from_secs(5))).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        consumer.task_done(&message).unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1700),
        "fetches were not overlapped: {took:?}"
    );
}

#[test]
fn a_reader_slower_than_the_fetches_gets_every_message_in_order() {
    let mock = MockCluster::start(1);
    mock.create_topic("slow", 4);
    // One batch per kcat run and one batch per partition and fetch: each
    // partition's four messages come as four chunks.
    for _ in 0..4 {
        for partition in 0..4 {
            produce_with_kcat(mock.bootstrap(), "slow", partition, "none", &sample_records(1, 900));
        }
    }
    let consumer = connected(
        simple("slow", None),
        mock.bootstrap(),
        "g",
        &[("fetch_message_max_bytes", "1024")],
    );
    // Taking a chunk now and then: the queues are full, and a partition
    // with a chunk left is fetched again only once its broker is due
    // (docs/configuration.md, after the consumer options).
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for _ in 0..16 {
        let message = read(&consumer, 1, Duration::from_secs(10)).remove(0);
        std::thread::sleep(Duration::from_millis(20));
        consumer.task_done(&message).unwrap();
        offsets.entry(message.partition()).or_default().push(message.offset());
    }
    let every = BTreeMap::from_iter((0..4).map(|partition| (partition, vec![0, 1, 2, 3])));
    assert_eq!(offsets, every);
    assert_nothing_more(&consumer);
}

#[test]
fn a_refused_commit_is_an_offset_commit_error_and_a_busy_coordinator_is_retried() {
    let mock = MockCluster::start(1);
    mock.create_topic("commits", 1);
    produce_with_kcat(mock.bootstrap(), "commits", 0, "none", &sample_records(3, 10));
    let consumer = connected(
        simple("commits", None),
        mock.bootstrap(),
        "refused",
        &[("auto_commit_enable", "false")],
    );
    let messages = read(&consumer, 3, Duration::from_secs(10));
    consumer.task_done(&messages[0]).unwrap();
    // OffsetCommit (8): GROUP_AUTHORIZATION_FAILED (30) is final.
    mock.push_errors(8, &[30]);
    let error = consumer.commit().unwrap_err();
    assert_eq!(error.code(), ErrorCode::OffsetCommit, "{error}");
    assert_eq!(error.kafka_code(), Some(30));
    assert_eq!(
        committed(mock.bootstrap(), "refused", "commits")[&("commits".to_string(), 0)],
        0
    );
    // COORDINATOR_NOT_AVAILABLE (15) and NOT_COORDINATOR (16) are looked up again and retried.
    mock.push_errors(8, &[15, 16]);
    consumer.task_done(&messages[1]).unwrap();
    consumer.commit().unwrap();
    assert_eq!(
        committed(mock.bootstrap(), "refused", "commits")[&("commits".to_string(), 0)],
        2
    );
}

#[test]
fn a_consumer_with_zookeeper_storage_resumes_where_it_committed() {
    let mock = MockCluster::start(1);
    mock.create_topic("zk-stored", 1);
    produce_with_kcat(mock.bootstrap(), "zk-stored", 0, "gzip", &sample_records(6, 10));
    let zookeeper = support::zk_chroot("consumer-zk");
    let config = || {
        yelp_kafka::consumer::ConsumerConfig::new(
            "zk-group",
            &consumer_fixtures::cluster_config(mock.bootstrap(), &zookeeper),
            &consumer_fixtures::mock_values(&[("auto_offset_reset", "smallest")]),
        )
        .unwrap()
    };
    assert_eq!(
        config().offset_storage,
        OffsetStorageKind::Zookeeper,
        "Python yelp_kafka's default"
    );
    let first = Consumer::new(simple("zk-stored", None), config()).unwrap();
    first.connect().unwrap();
    for message in read(&first, 4, Duration::from_secs(10)) {
        first.task_done(&message).unwrap();
    }
    first.close().unwrap();
    let second = Consumer::new(simple("zk-stored", None), config()).unwrap();
    second.connect().unwrap();
    assert_eq!(
        second.get_message(true, Some(Duration::from_secs(5))).unwrap().offset(),
        4
    );
}

#[test]
fn an_assigned_consumer_reads_only_what_it_is_given() {
    let mock = MockCluster::start(1);
    mock.create_topic("given", 2);
    produce_with_kcat(mock.bootstrap(), "given", 1, "none", &sample_records(3, 10));
    let consumer = connected(Subscription::Assigned, mock.bootstrap(), "g", &[]);
    assert_eq!(consumer.assignment(), Vec::<TopicPartition>::new());
    assert_nothing_more(&consumer);
    let one = TopicPartition::new(Topic::new("given").unwrap(), 1);
    consumer.assign(std::slice::from_ref(&one)).unwrap();
    let messages = read(&consumer, 3, Duration::from_secs(10));
    assert!(messages.iter().all(|m| m.partition() == 1));
    assert_eq!(consumer.positions(), BTreeMap::from([(one, 0)]), "nothing done yet");
}

#[test]
fn a_fetch_error_is_reported_once_and_consuming_goes_on() {
    let mock = MockCluster::start(1);
    mock.create_topic("failing", 1);
    let consumer = connected(simple("failing", None), mock.bootstrap(), "g", &[]);
    assert_nothing_more(&consumer);
    // Fetch (1): NOT_LEADER_OR_FOLLOWER (6) is retried quietly;
    // TOPIC_AUTHORIZATION_FAILED (29) reaches the application, once.
    mock.push_errors(1, &[6, 29]);
    produce_with_kcat(mock.bootstrap(), "failing", 0, "none", &sample_records(3, 10));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut errors = Vec::new();
    let mut offsets = Vec::new();
    while offsets.len() < 3 && Instant::now() < deadline {
        match consumer.get_message(true, Some(Duration::from_millis(200))) {
            Ok(message) => offsets.push(message.offset()),
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => errors.push(error),
        }
    }
    assert_eq!(offsets, [0, 1, 2]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kafka_code(), Some(29), "{}", errors[0]);
}

#[test]
fn a_close_during_connect_is_final() {
    let mock = MockCluster::start(1);
    mock.create_topic("racing", 1);
    // Slow answers keep each connect in flight for several round trips, so
    // that the close usually lands inside it; the checks below hold
    // whichever way the two calls interleave.
    mock.set_rtt(-1, 50);
    for round in 0..5 {
        let consumer = std::sync::Arc::new(
            Consumer::new(
                simple("racing", None),
                consumer_config(mock.bootstrap(), &format!("race-{round}"), &[]),
            )
            .unwrap(),
        );
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let connecting = {
            let (consumer, barrier) = (std::sync::Arc::clone(&consumer), std::sync::Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                consumer.connect()
            })
        };
        barrier.wait();
        consumer.close().unwrap();
        if let Err(error) = connecting.join().unwrap() {
            assert_eq!(error.code(), ErrorCode::ClosedHandle, "round {round}: {error}");
        }
        let error = consumer.get_message(false, None).unwrap_err();
        assert_eq!(error.code(), ErrorCode::ClosedHandle, "round {round}: {error}");
        let error = consumer.commit().unwrap_err();
        assert_eq!(error.code(), ErrorCode::ClosedHandle, "round {round}: {error}");
    }
}
