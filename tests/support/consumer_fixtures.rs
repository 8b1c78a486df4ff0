//! What consumer and offsets tests share: topics filled by code we did not
//! write (kcat, and the confluent-kafka Python client for transactions),
//! and consumer configurations for the mock in use.
//!
//! Declared by each test file with `#[path = "support/consumer_fixtures.rs"]`.
#![allow(dead_code)] // each test file uses a different part of this module

use std::io::Write;
use std::process::{Command, Stdio};

use yelp_kafka::config::{ClusterConfig, Config};
use yelp_kafka::consumer::ConsumerConfig;

/// kcat's key and message delimiters: values written through it never
/// contain these bytes (nor NUL).
const KEY_DELIMITER: u8 = b'\t';
const MESSAGE_DELIMITER: u8 = b'\n';

/// One message to write: key (None: null key) and value.
pub type Record = (Option<Vec<u8>>, Vec<u8>);

/// `count` messages with keys `key-<i>` and values of every byte that kcat
/// can carry (`length` bytes, varying with `i`), so that a codec or a
/// framing bug shows as a byte difference.
pub fn sample_records(count: usize, length: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let value = (0..length)
                .map(|j| {
                    let byte = ((i * 31 + j * 7) % 253 + 1) as u8;
                    if byte == KEY_DELIMITER || byte == MESSAGE_DELIMITER {
                        b'x'
                    } else {
                        byte
                    }
                })
                .collect();
            (Some(format!("key-{i}").into_bytes()), value)
        })
        .collect()
}

/// Writes `records` to `topic`/`partition` with kcat (librdkafka), in
/// batches compressed with `codec` (`none`, `gzip`, `snappy`, `lz4`,
/// `zstd`), and waits until every message is acknowledged.
pub fn produce_with_kcat(bootstrap: &str, topic: &str, partition: i32, codec: &str, records: &[Record]) {
    let mut input = Vec::new();
    for (key, value) in records {
        assert!(
            !value.contains(&MESSAGE_DELIMITER) && !value.contains(&KEY_DELIMITER),
            "values must not hold kcat's delimiters"
        );
        if let Some(key) = key {
            input.extend_from_slice(key);
        }
        input.push(KEY_DELIMITER);
        input.extend_from_slice(value);
        input.push(MESSAGE_DELIMITER);
    }
    let mut child = Command::new("kcat")
        .args(["-P", "-b", bootstrap, "-t", topic, "-p", &partition.to_string()])
        .args(["-z", codec, "-K", "\t", "-D", "\n"])
        // Batches of many messages, so that compression has something to do.
        .args(["-X", "linger.ms=50", "-X", "batch.num.messages=100000"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kcat (scripts/setup.sh installs it)");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kcat -P -z {codec} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Writes `committed` messages in one transaction of the confluent-kafka
/// Python client (librdkafka 2.16), then `aborted` in an aborted one: the
/// log then holds control records (transaction markers) among the data.
pub fn produce_transactions(bootstrap: &str, topic: &str, committed: &[&str], aborted: &[&str]) {
    let script = r#"
import sys
from confluent_kafka import Producer
bootstrap, topic, committed, aborted = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "yk-test-" + topic})
p.init_transactions(10)
for values, commit in ((committed, True), (aborted, False)):
    if not values:
        continue
    p.begin_transaction()
    for value in values.split(","):
        p.produce(topic, value=value.encode(), partition=0)
    if commit:
        p.commit_transaction(10)
    else:
        p.abort_transaction(10)
"#;
    run_python(script, &[bootstrap, topic, &committed.join(","), &aborted.join(",")]);
}

/// Runs a Python 3 `script` with `args` (its `sys.argv[1:]`), which must
/// succeed; returns what it printed.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("python printed UTF-8")
}

/// Client options the mock in use needs: Debian's librdkafka 2.0.2 mock
/// mis-encodes ListOffsets v4/v5 responses (docs/protocol-notes.md).
pub fn mock_values(extra: &[(&str, &str)]) -> Config {
    let mut values = Config::new();
    if std::env::var_os("YK_MOCK_LIB").is_none() {
        values.set("api_version_caps", "ListOffsets:3").unwrap();
    }
    for (key, value) in extra {
        values.set(key, value).unwrap();
    }
    values
}

/// A cluster configuration for a mock (and, when given, a ZooKeeper connect string).
pub fn cluster_config(bootstrap: &str, zookeeper: &str) -> ClusterConfig {
    ClusterConfig::from_broker_string("standard", "mock", bootstrap, zookeeper).unwrap()
}

/// A consumer configuration of `group` with Kafka offset storage, reading
/// from the start of the log, plus `extra`.
pub fn consumer_config(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut pairs = vec![("offset_storage", "kafka"), ("auto_offset_reset", "smallest")];
    pairs.extend_from_slice(extra);
    ConsumerConfig::new(group, &cluster_config(bootstrap, ""), &mock_values(&pairs)).unwrap()
}

/// Writes `count` messages `<prefix>-<i>` round-robin over the topic's
/// partitions with our producer, a hundred per synchronous send.
pub fn produce_numbered(bootstrap: &str, topic: &str, prefix: &str, count: usize) {
    let producer =
        yelp_kafka::producer::Producer::new(&cluster_config(bootstrap, ""), &mock_values(&[]), None).expect("producer");
    let values: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    for chunk in values.chunks(100) {
        let chunk: Vec<Option<&[u8]>> = chunk.iter().map(|v| Some(v.as_bytes())).collect();
        producer.send_messages(topic, &chunk).expect("produce");
    }
}

/// The offsets `group` committed for `topic` in Kafka, by partition.
pub fn committed_offsets(bootstrap: &str, group: &str, topic: &str) -> std::collections::BTreeMap<i32, i64> {
    use yelp_kafka::offsets::OffsetStorageKind;
    use yelp_kafka::offsets::{Offsets, Topics};
    let options = yelp_kafka::config::ClientOptions::from_config(&mock_values(&[])).unwrap();
    Offsets::new(&cluster_config(bootstrap, ""), options, OffsetStorageKind::Kafka)
        .current_offsets(group, &Topics::of_topics(&[topic]), true)
        .unwrap()
        .into_iter()
        .map(|(key, offset)| (key.partition, offset))
        .collect()
}
