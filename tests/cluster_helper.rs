//! Tests of the test cluster itself (tests/support): the mock Kafka launcher
//! seen through an independent client (kcat), and the per-process ZooKeeper.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{four_letter_word, zk_chroot, zookeeper, MockCluster};

/// `kcat -L -J` against `brokers`: the cluster's metadata as one JSON line.
/// Gives up after `-m` seconds without metadata.
fn kcat_metadata(brokers: &str, timeout_s: u32) -> Result<String, String> {
    let out = Command::new("kcat")
        .args(["-b", brokers, "-L", "-J", "-m", &timeout_s.to_string()])
        .output()
        .map_err(|e| format!("run kcat: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The (partition, leader) pairs of `topic` in kcat's JSON, by string search:
/// `{"topic":"t","partitions":[{"partition":0,"leader":2,...},...]}`.
fn partition_leaders(json: &str, topic: &str) -> Vec<(i32, i32)> {
    let start = json
        .find(&format!("\"topic\":\"{topic}\",\"partitions\":["))
        .unwrap_or_else(|| panic!("topic {topic} not in {json}"));
    let rest = &json[start..];
    // The partition list ends where the next topic starts.
    let end = rest[1..].find("{\"topic\":").map_or(rest.len(), |i| i + 1);
    let mut leaders = Vec::new();
    let mut part = &rest[..end];
    while let Some(i) = part.find("\"partition\":") {
        part = &part[i + "\"partition\":".len()..];
        let id = leading_int(part);
        let j = part.find("\"leader\":").expect("leader after partition");
        part = &part[j + "\"leader\":".len()..];
        leaders.push((id, leading_int(part)));
    }
    leaders
}

fn leading_int(s: &str) -> i32 {
    let end = s.find(|c: char| c != '-' && !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().unwrap_or_else(|_| panic!("no number at {s:.20}"))
}

#[test]
fn launcher_prints_one_address_per_broker() {
    let cluster = MockCluster::start(3);
    let addrs = cluster.broker_addrs();
    assert_eq!(addrs.len(), 3, "{}", cluster.bootstrap());
    for addr in &addrs {
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    }
    assert_eq!(cluster.command("bootstrap"), cluster.bootstrap());
    let version = cluster.librdkafka_version();
    assert!(version.starts_with("2."), "{version}");
}

#[test]
fn created_topic_shows_its_partitions_to_kcat() {
    let cluster = MockCluster::start(3);
    cluster.create_topic("orders", 5);
    let json = kcat_metadata(cluster.bootstrap(), 5).unwrap();
    let leaders = partition_leaders(&json, "orders");
    assert_eq!(leaders.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    for (_, leader) in leaders {
        assert!((1..=3).contains(&leader), "leader {leader} in {json}");
    }
}

#[test]
fn moved_leader_shows_in_kcat_metadata() {
    let cluster = MockCluster::start(3);
    cluster.create_topic("moves", 2);
    let before = partition_leaders(&kcat_metadata(cluster.bootstrap(), 5).unwrap(), "moves");
    let new_leader = if before[1].1 == 3 { 1 } else { 3 };
    cluster.move_leader("moves", 1, new_leader);
    let after = partition_leaders(&kcat_metadata(cluster.bootstrap(), 5).unwrap(), "moves");
    assert_eq!(after, [before[0], (1, new_leader)]);
}

#[test]
fn broker_down_refuses_connections_until_up() {
    let cluster = MockCluster::start(3);
    cluster.create_topic("t", 1);
    let addrs = cluster.broker_addrs();
    cluster.broker_down(2);
    let err = kcat_metadata(&addrs[1], 1).expect_err("broker 2 is down");
    assert!(err.contains("Connection refused"), "{err}");
    // The other brokers still answer. (librdkafka 2.0.2 still lists broker 2
    // in Metadata, newer mocks leave it out.)
    let json = kcat_metadata(&addrs[0], 5).unwrap();
    assert_eq!(partition_leaders(&json, "t").len(), 1, "{json}");
    cluster.broker_up(2);
    kcat_metadata(&addrs[1], 5).expect("broker 2 is up again");
}

/// Produces one message with kcat, no retries; the delivery error if any.
fn kcat_produce(brokers: &str, topic: &str) -> Result<(), String> {
    let mut child = Command::new("kcat")
        .args(["-b", brokers, "-P", "-t", topic, "-p", "0", "-X", "retries=0"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run kcat: {e}"))?;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const PRODUCE: i16 = 0;
const CORRUPT_MESSAGE: i16 = 2;
const INVALID_RECORD: i16 = 87;

#[test]
fn pushed_errors_fail_the_next_requests_in_order() {
    let cluster = MockCluster::start(2);
    cluster.create_topic("t", 1);
    cluster.push_errors(PRODUCE, &[INVALID_RECORD, CORRUPT_MESSAGE]);
    let err = kcat_produce(cluster.bootstrap(), "t").unwrap_err();
    assert!(err.contains("Broker failed to validate record"), "{err}");
    let err = kcat_produce(cluster.bootstrap(), "t").unwrap_err();
    assert!(err.contains("Broker: Invalid message"), "{err}");
    kcat_produce(cluster.bootstrap(), "t").expect("errors are used up");
}

#[test]
fn broker_errors_hit_only_that_broker() {
    let cluster = MockCluster::start(2);
    cluster.create_topic("t", 1);
    cluster.move_leader("t", 0, 2);
    cluster.push_broker_errors(1, PRODUCE, &[(INVALID_RECORD, 0)]);
    kcat_produce(cluster.bootstrap(), "t").expect("leader 2 has no errors");
    cluster.move_leader("t", 0, 1);
    let err = kcat_produce(cluster.bootstrap(), "t").unwrap_err();
    assert!(err.contains("Broker failed to validate record"), "{err}");
}

#[test]
fn rtt_delays_every_response() {
    let cluster = MockCluster::start(2);
    cluster.set_rtt(-1, 300);
    let started = Instant::now();
    kcat_metadata(cluster.bootstrap(), 5).unwrap();
    // At least ApiVersions and Metadata, 300 ms each.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn coordinator_and_api_versions_are_accepted() {
    let cluster = MockCluster::start(2);
    cluster.set_coordinator("group", "g1", 2);
    cluster.set_coordinator("transaction", "tx", 1);
    cluster.set_api_version(PRODUCE, 3, 7);
}

#[test]
fn launcher_rejects_bad_commands_and_keeps_serving() {
    let cluster = MockCluster::start(1);
    let err = cluster.try_command("leader t 0 9").unwrap_err();
    assert!(err.starts_with("ERR BROKER_NOT_AVAILABLE"), "{err}");
    let err = cluster.try_command("topic t x").unwrap_err();
    assert_eq!(err, "ERR bad partition count: x");
    let err = cluster.try_command("no_such_command").unwrap_err();
    assert_eq!(err, "ERR unknown command: no_such_command");
    cluster.create_topic("u", 1);
}

#[test]
fn launcher_starts_within_a_second() {
    let started = Instant::now();
    let cluster = MockCluster::start(3);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    drop(cluster);
}

#[test]
fn dropped_cluster_stops_listening() {
    let cluster = MockCluster::start(1);
    let addr = cluster.broker_addrs().remove(0);
    drop(cluster);
    assert!(std::net::TcpStream::connect(&addr).is_err(), "{addr} still listens");
}

#[test]
fn zookeeper_answers_and_chroots_are_fresh() {
    let server = zookeeper();
    assert_eq!(four_letter_word(server.connect_string(), "ruok").unwrap(), "imok");
    let a = zk_chroot("chroots are fresh");
    let b = zk_chroot("chroots are fresh");
    assert_ne!(a, b);
    let prefix = format!(
        "{}/yk-test-chroots_are_fresh-{}-",
        server.connect_string(),
        std::process::id()
    );
    assert!(a.starts_with(&prefix), "{a}");

    // The chroot exists: a client rooted there can create a child under it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use zookeeper_client::{Acls, Client, CreateMode};
        let client = Client::connect(&a).await.unwrap();
        client
            .create("/child", b"x", &CreateMode::Persistent.with_acls(Acls::anyone_all()))
            .await
            .unwrap();
        let root = Client::connect(server.connect_string()).await.unwrap();
        let path = &a[server.connect_string().len()..];
        let (data, _) = root.get_data(&format!("{path}/child")).await.unwrap();
        assert_eq!(data, b"x");
    });
}
