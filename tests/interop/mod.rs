//! librdkafka as an independent peer, through `kcat`: read back what we
//! produced, and produce what we must read. Payloads are printable text
//! without tabs or newlines, so kcat's formatted output parses exactly.
#![allow(dead_code)] // each test file uses a different part of this module

use std::io::Write;
use std::process::{Command, Stdio};

/// One message as kcat read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key (None for a null key).
    pub key: Option<String>,
    /// Value (None for a null value, a tombstone; `Some("")` for an empty one).
    pub value: Option<String>,
}

/// Every message of `topic` from the beginning, read by librdkafka (kcat),
/// sorted by partition and offset. kcat prints the key's and the value's
/// length (−1 when null), which tells a null from an empty one.
pub fn read_all(bootstrap: &str, topic: &str) -> Vec<ReadBack> {
    let output = Command::new("kcat")
        .args(["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"])
        .args(["-f", "%p\t%o\t%K\t%k\t%S\t%s\n"])
        .output()
        .expect("run kcat (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "kcat failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("kcat printed UTF-8");
    let mut messages: Vec<ReadBack> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(6, '\t').collect();
            assert_eq!(fields.len(), 6, "kcat line {line:?}");
            let key_length: i64 = fields[2].parse().expect("key length");
            let value_length: i64 = fields[4].parse().expect("value length");
            ReadBack {
                partition: fields[0].parse().expect("partition"),
                offset: fields[1].parse().expect("offset"),
                key: (key_length >= 0).then(|| fields[3].to_string()),
                value: (value_length >= 0).then(|| fields[5].to_string()),
            }
        })
        .collect();
    messages.sort_by_key(|m| (m.partition, m.offset));
    messages
}

/// Produces `key\tvalue` lines with librdkafka (kcat), with its
/// `murmur2_random` partitioner and the given codec.
pub fn produce_keyed(bootstrap: &str, topic: &str, lines: &[(String, String)], codec: &str) {
    let mut child = Command::new("kcat")
        .args(["-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-z", codec])
        .args(["-X", "partitioner=murmur2_random", "-X", "linger.ms=5"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kcat");
    let mut input = String::new();
    for (key, value) in lines {
        input.push_str(&format!("{key}\t{value}\n"));
    }
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kcat -P failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
