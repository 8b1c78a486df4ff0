//! The offsets API (docs/offsets.md) against mock clusters and ZooKeeper:
//! current offsets, watermarks, advance, rewind, set, lag, the list and
//! map forms of topics, `raise_on_error`, and the three storages — the
//! ZooKeeper one checked with Python's kazoo at the classic path.

#[path = "support/consumer_fixtures.rs"]
mod consumer_fixtures;
mod support;

use std::collections::BTreeMap;

use consumer_fixtures::{cluster_config, mock_values, produce_with_kcat, sample_records};
use support::{zk_chroot, MockCluster};
use yelp_kafka::config::ClientOptions;
use yelp_kafka::offsets::OffsetStorageKind;
use yelp_kafka::offsets::{Offsets, Topics};
use yelp_kafka::{ErrorCode, Topic, TopicPartition};

fn client(bootstrap: &str, zookeeper: &str, storage: OffsetStorageKind) -> Offsets {
    let options = ClientOptions::from_config(&mock_values(&[])).unwrap();
    Offsets::new(&cluster_config(bootstrap, zookeeper), options, storage)
}

fn key(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(Topic::new(topic).unwrap(), partition)
}

/// A topic with `counts[p]` messages in partition p.
fn filled_topic(mock: &MockCluster, topic: &str, counts: &[usize]) {
    mock.create_topic(topic, counts.len() as u32);
    for (partition, count) in counts.iter().enumerate() {
        if *count > 0 {
            produce_with_kcat(
                mock.bootstrap(),
                topic,
                partition as i32,
                "none",
                &sample_records(*count, 10),
            );
        }
    }
}

#[test]
fn lag_on_a_three_partition_topic_is_high_watermark_minus_committed() {
    let mock = MockCluster::start(3);
    filled_topic(&mock, "lagging", &[5, 7, 9]);
    let offsets = client(mock.bootstrap(), "", OffsetStorageKind::Kafka);
    let set = BTreeMap::from([(key("lagging", 0), 2), (key("lagging", 1), 7), (key("lagging", 2), 4)]);
    offsets.set("readers", &set, true).unwrap();
    let lag = offsets.lag("readers", &Topics::of_topics(&["lagging"])).unwrap();
    let distances: Vec<(i32, i64, i64, i64)> = lag
        .iter()
        .map(|(k, lag)| (k.partition, lag.watermarks.high, lag.committed, lag.lag()))
        .collect();
    assert_eq!(distances, [(0, 5, 2, 3), (1, 7, 7, 0), (2, 9, 4, 5)]);

    let mut two = Topics::new();
    two.add_partition("lagging", 2);
    let lag = offsets.lag("readers", &two).unwrap();
    assert_eq!(lag.keys().cloned().collect::<Vec<_>>(), [key("lagging", 2)]);

    let unknown_group = offsets.lag("nobody", &Topics::of_topics(&["lagging"])).unwrap();
    let lags: Vec<i64> = unknown_group.values().map(|lag| lag.lag()).collect();
    assert_eq!(lags, [5, 7, 9], "an unknown group counts as offset 0");
}

#[test]
fn advance_and_rewind_move_the_group_to_the_high_and_low_watermarks() {
    let mock = MockCluster::start(1);
    mock.create_topic("retained", 1);
    // More than the mock keeps (about 5 MB per partition), so that the low
    // watermark moves up from 0.
    for _ in 0..4 {
        produce_with_kcat(mock.bootstrap(), "retained", 0, "none", &sample_records(20, 100_000));
    }
    let offsets = client(mock.bootstrap(), "", OffsetStorageKind::Kafka);
    let all = Topics::of_topics(&["retained"]);
    let watermarks = offsets.watermarks(&all, true).unwrap()[&key("retained", 0)];
    assert_eq!(watermarks.high, 80);
    assert!(watermarks.low > 0, "retention moved the low watermark: {watermarks:?}");

    let advanced = offsets.advance("movers", &all, true).unwrap();
    assert_eq!(advanced, BTreeMap::from([(key("retained", 0), 80)]));
    assert_eq!(
        offsets.current_offsets("movers", &all, true).unwrap()[&key("retained", 0)],
        80
    );
    let rewound = offsets.rewind("movers", &all, true).unwrap();
    assert_eq!(rewound[&key("retained", 0)], watermarks.low);
    assert_eq!(
        offsets.current_offsets("movers", &all, true).unwrap()[&key("retained", 0)],
        watermarks.low
    );
}

#[test]
fn topics_come_as_a_list_or_as_a_map_of_partitions() {
    let mock = MockCluster::start(2);
    filled_topic(&mock, "a", &[1, 2]);
    filled_topic(&mock, "b", &[3, 0, 1]);
    let offsets = client(mock.bootstrap(), "", OffsetStorageKind::Kafka);
    let listed = offsets.watermarks(&Topics::of_topics(&["a", "b"]), true).unwrap();
    let highs: Vec<(TopicPartition, i64)> = listed.into_iter().map(|(k, w)| (k, w.high)).collect();
    assert_eq!(
        highs,
        [
            (key("a", 0), 1),
            (key("a", 1), 2),
            (key("b", 0), 3),
            (key("b", 1), 0),
            (key("b", 2), 1)
        ]
    );
    let mut mapped = Topics::new();
    mapped.add_partition("b", 2);
    mapped.add_partition("b", 0);
    mapped.add_partition("a", 1);
    let chosen: Vec<TopicPartition> = offsets.watermarks(&mapped, true).unwrap().into_keys().collect();
    assert_eq!(chosen, [key("a", 1), key("b", 0), key("b", 2)]);
}

#[test]
fn unknown_topics_and_partitions_fail_with_raise_on_error_and_are_skipped_without() {
    let mock = MockCluster::start(1);
    filled_topic(&mock, "real", &[2, 2]);
    let offsets = client(mock.bootstrap(), "", OffsetStorageKind::Kafka);
    let with_unknown_topic = Topics::of_topics(&["real", "imaginary"]);
    let mut with_unknown_partition = Topics::new();
    with_unknown_partition.add_partition("real", 1);
    with_unknown_partition.add_partition("real", 9);

    let error = offsets.watermarks(&with_unknown_topic, true).unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnknownTopic, "{error}");
    assert!(error.message().contains("imaginary"), "{error}");
    let error = offsets.current_offsets("g", &with_unknown_partition, true).unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnknownPartitions, "{error}");
    assert!(error.message().contains('9'), "{error}");
    assert_eq!(
        offsets.advance("g", &with_unknown_topic, true).unwrap_err().code(),
        ErrorCode::UnknownTopic
    );
    let set = BTreeMap::from([(key("real", 0), 1), (key("real", 5), 1)]);
    assert_eq!(
        offsets.set("g", &set, true).unwrap_err().code(),
        ErrorCode::UnknownPartitions
    );
    assert_eq!(
        offsets.lag("g", &with_unknown_topic).unwrap_err().code(),
        ErrorCode::UnknownTopic
    );

    let kept: Vec<TopicPartition> = offsets
        .watermarks(&with_unknown_topic, false)
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(kept, [key("real", 0), key("real", 1)]);
    let kept: Vec<TopicPartition> = offsets
        .current_offsets("g", &with_unknown_partition, false)
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(kept, [key("real", 1)]);
    assert_eq!(
        offsets.advance("g", &with_unknown_topic, false).unwrap(),
        BTreeMap::from([(key("real", 0), 2), (key("real", 1), 2)])
    );
    assert_eq!(
        offsets.set("g", &set, false).unwrap(),
        BTreeMap::from([(key("real", 0), 1)])
    );
    // The unknown topic was not created by asking about it.
    assert_eq!(
        offsets
            .watermarks(&Topics::of_topics(&["imaginary"]), true)
            .unwrap_err()
            .code(),
        ErrorCode::UnknownTopic
    );
}

/// Runs a Python snippet with kazoo connected to `hosts`; `args` follow as
/// `sys.argv[2:]`. Returns what it printed.
fn kazoo(hosts: &str, snippet: &str, args: &[&str]) -> String {
    let script = format!(
        "import sys\nfrom kazoo.client import KazooClient\nzk = KazooClient(hosts=sys.argv[1])\nzk.start(timeout=10)\n{snippet}\nzk.stop()\n"
    );
    let mut all = vec![hosts];
    all.extend_from_slice(args);
    consumer_fixtures::run_python(&script, &all)
}

#[test]
fn zookeeper_offsets_live_at_the_classic_path_for_other_clients() {
    let mock = MockCluster::start(1);
    filled_topic(&mock, "classic", &[10, 10]);
    let zookeeper = zk_chroot("classic");
    let (hosts, chroot) = zookeeper.split_once('/').unwrap();
    let offsets = client(mock.bootstrap(), &zookeeper, OffsetStorageKind::Zookeeper);
    offsets
        .set(
            "legacy",
            &BTreeMap::from([(key("classic", 0), 6), (key("classic", 1), 9)]),
            true,
        )
        .unwrap();
    let read = kazoo(
        hosts,
        "for p in (0, 1):\n    data, _ = zk.get('/%s/consumers/legacy/offsets/classic/%d' % (sys.argv[2], p))\n    print(data.decode())",
        &[chroot],
    );
    assert_eq!(read, "6\n9\n");

    // And what kazoo writes there is what the group has committed.
    kazoo(
        hosts,
        "zk.set('/%s/consumers/legacy/offsets/classic/1' % sys.argv[2], b'4')",
        &[chroot],
    );
    let current = offsets
        .current_offsets("legacy", &Topics::of_topics(&["classic"]), true)
        .unwrap();
    assert_eq!(
        current,
        BTreeMap::from([(key("classic", 0), 6), (key("classic", 1), 4)])
    );
    let kafka = client(mock.bootstrap(), &zookeeper, OffsetStorageKind::Kafka);
    let in_kafka = kafka
        .current_offsets("legacy", &Topics::of_topics(&["classic"]), true)
        .unwrap();
    assert!(
        in_kafka.values().all(|offset| *offset == 0),
        "ZooKeeper storage leaves Kafka alone"
    );
}

#[test]
fn dual_storage_writes_both_and_reads_the_larger() {
    let mock = MockCluster::start(1);
    filled_topic(&mock, "migrating", &[10, 10, 10]);
    let zookeeper = zk_chroot("dual");
    let in_kafka = client(mock.bootstrap(), &zookeeper, OffsetStorageKind::Kafka);
    let in_zookeeper = client(mock.bootstrap(), &zookeeper, OffsetStorageKind::Zookeeper);
    let dual = client(mock.bootstrap(), &zookeeper, OffsetStorageKind::Dual);
    let all = Topics::of_topics(&["migrating"]);
    in_kafka
        .set(
            "g",
            &BTreeMap::from([(key("migrating", 0), 7), (key("migrating", 1), 2)]),
            true,
        )
        .unwrap();
    in_zookeeper
        .set(
            "g",
            &BTreeMap::from([(key("migrating", 0), 3), (key("migrating", 1), 5)]),
            true,
        )
        .unwrap();
    assert_eq!(
        dual.current_offsets("g", &all, true).unwrap(),
        BTreeMap::from([
            (key("migrating", 0), 7),
            (key("migrating", 1), 5),
            (key("migrating", 2), 0)
        ])
    );
    dual.set("g", &BTreeMap::from([(key("migrating", 2), 8)]), true)
        .unwrap();
    for single in [&in_kafka, &in_zookeeper] {
        assert_eq!(
            single.current_offsets("g", &all, true).unwrap()[&key("migrating", 2)],
            8
        );
    }
}

#[test]
fn zookeeper_storage_needs_a_zookeeper() {
    let mock = MockCluster::start(1);
    filled_topic(&mock, "t", &[1]);
    let offsets = client(mock.bootstrap(), "", OffsetStorageKind::Zookeeper);
    let error = offsets
        .current_offsets("g", &Topics::of_topics(&["t"]), true)
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidOffsetStorage, "{error}");
}
