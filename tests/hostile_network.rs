//! Hostile bytes on live connections (docs/protocol-notes.md, "Hostile
//! bytes"): a relay between the client and the mock cluster forwards bytes
//! both ways and, while switched on, corrupts what the broker sends. A
//! fault injector, not a broker: every answer comes from the mock.

#[path = "support/consumer_fixtures.rs"]
mod consumer_fixtures;
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataRequest;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::MockCluster;
use yelp_kafka::config::{ClientOptions, ClusterConfig, Config};
use yelp_kafka::producer::Producer;
use yelp_kafka::test_support::{block_on, BrokerConnection, FetchLimits, FetchPosition, KafkaCluster};
use yelp_kafka::{ErrorCode, Topic, TopicPartition};

/// What the relay does to the broker's bytes.
const FORWARD: u8 = 0;
/// Flips a bit in about one byte of twenty.
const FLIP_BITS: u8 = 1;
/// Replaces every byte with 0xff: the next frame length reads −1.
const GARBAGE: u8 = 2;

/// A TCP relay to `target` on a free local port. Each accepted client gets
/// its own connection to the target and two forwarding threads, which end
/// when either side closes; the listener thread ends with the test process.
struct Relay {
    address: String,
    mode: Arc<AtomicU8>,
    corrupted: Arc<AtomicUsize>,
}

impl Relay {
    fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let corrupted = Arc::new(AtomicUsize::new(0));
        let (target, relay_mode, relay_corrupted) = (target.to_string(), Arc::clone(&mode), Arc::clone(&corrupted));
        std::thread::spawn(move || {
            for (seed, client) in listener.incoming().enumerate() {
                let Ok(client) = client else { return };
                let Ok(broker) = TcpStream::connect(&target) else {
                    continue;
                };
                let (client_in, broker_out) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
                std::thread::spawn(move || pump(client_in, broker_out, None));
                let corruption = (Arc::clone(&relay_mode), Arc::clone(&relay_corrupted), seed as u64);
                std::thread::spawn(move || pump(broker, client, Some(corruption)));
            }
        });
        Relay {
            address,
            mode,
            corrupted,
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, corrupting per the relay's mode when given one;
/// closes both directions of both sockets when either side ends.
fn pump(mut from: TcpStream, mut to: TcpStream, corruption: Option<(Arc<AtomicU8>, Arc<AtomicUsize>, u64)>) {
    let mut rng = StdRng::seed_from_u64(corruption.as_ref().map_or(0, |c| c.2));
    let mut buffer = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 {
            break;
        }
        if let Some((mode, corrupted, _)) = &corruption {
            match mode.load(Ordering::SeqCst) {
                FLIP_BITS => {
                    for byte in &mut buffer[..n] {
                        if rng.random_ratio(1, 20) {
                            *byte ^= 1 << rng.random_range(0..8);
                            corrupted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                GARBAGE => {
                    buffer[..n].fill(0xff);
                    corrupted.fetch_add(n, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    for socket in [&from, &to] {
        let _ = socket.shutdown(Shutdown::Both);
    }
}

fn options(extra: &[(&str, &str)]) -> ClientOptions {
    ClientOptions::from_config(&consumer_fixtures::mock_values(extra)).unwrap()
}

/// A garbage frame on a live connection fails the request waiting on it,
/// poisons the connection (nothing after it can be framed), and a new
/// connection works.
#[test]
fn a_garbage_frame_fails_the_request_poisons_the_connection_and_a_new_one_works() {
    let mock = MockCluster::start(1);
    let relay = Relay::start(mock.bootstrap());
    let options = options(&[("request_timeout_ms", "2000")]);
    block_on(async {
        let connection = BrokerConnection::connect(&relay.address, &options).await.unwrap();
        connection.send(&MetadataRequest::default()).await.unwrap();
        relay.set(GARBAGE);
        let started = Instant::now();
        let error = connection.send(&MetadataRequest::default()).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::Protocol, "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "failed at once, not at the timeout"
        );
        assert!(connection.is_poisoned());
        let next = connection.send(&MetadataRequest::default()).await.unwrap_err();
        assert_eq!(
            next.code(),
            ErrorCode::Protocol,
            "the poisoned connection refuses: {next}"
        );
        relay.set(FORWARD);
        let fresh = BrokerConnection::connect(&relay.address, &options).await.unwrap();
        fresh.send(&MetadataRequest::default()).await.unwrap();
    })
    .unwrap();
    println!("garbage bytes sent: {}", relay.corrupted.load(Ordering::Relaxed));
}

/// Bit flips on the bootstrap path (the relay stands in for the only
/// bootstrap broker; metadata then names the mock's own address, so the
/// data path is corrupted only while traffic still goes through the
/// relay): metadata lookups fail with errors within their timeouts, never
/// a panic or a hang, and once the relay forwards faithfully, producing
/// and fetching through a client bootstrapped on it succeed.
#[test]
fn a_corrupting_relay_gives_errors_and_the_client_recovers_when_it_stops() {
    let mock = MockCluster::start(1);
    mock.create_topic("hostile", 1);
    let relay = Relay::start(mock.bootstrap());
    let extra = [
        ("request_timeout_ms", "1000"),
        ("connect_timeout_ms", "1000"),
        ("metadata_timeout_ms", "1500"),
        ("reconnect_backoff_ms", "10"),
        ("reconnect_backoff_max_ms", "50"),
    ];
    relay.set(FLIP_BITS);
    let (mut failed, mut succeeded) = (0, 0);
    for _ in 0..8 {
        // A new client each time: an old one asks the broker it learned
        // from metadata, past the relay.
        let cluster = KafkaCluster::new(vec![relay.address.clone()], options(&extra));
        let started = Instant::now();
        match block_on(cluster.fetch_metadata(None)).unwrap() {
            Ok(_) => succeeded += 1,
            Err(_) => failed += 1,
        }
        assert!(started.elapsed() < Duration::from_secs(10), "bounded by the timeouts");
    }
    println!(
        "while corrupting: {failed} lookups failed, {succeeded} succeeded, {} bytes flipped",
        relay.corrupted.load(Ordering::Relaxed)
    );
    assert!(failed > 0, "the corruption was seen");

    relay.set(FORWARD);
    let cluster = KafkaCluster::new(vec![relay.address.clone()], options(&extra));
    block_on(cluster.fetch_metadata(None)).unwrap().unwrap();
    let cluster_config = ClusterConfig::new("standard", "relay", &[relay.address.as_str()], "").unwrap();
    let mut config = Config::new();
    for (key, value) in extra {
        config.set(key, value).unwrap();
    }
    let producer = Producer::new(&cluster_config, &config, None).unwrap();
    let offsets = producer
        .send_messages("hostile", &[Some(&b"one"[..]), Some(&b"two"[..])])
        .unwrap();
    assert_eq!(offsets.len(), 2);
    let partition = TopicPartition::new(Topic::new("hostile").unwrap(), 0);
    let leader = block_on(cluster.leader_of("hostile", 0)).unwrap().unwrap();
    let limits = FetchLimits {
        max_wait: Duration::from_millis(100),
        min_bytes: 1,
        max_bytes: 1 << 20,
        partition_max_bytes: 1 << 20,
        max_inflated: 1 << 20,
    };
    let position = FetchPosition { partition, offset: 0 };
    let fetched = block_on(cluster.fetch_from(leader, &[position], &limits))
        .unwrap()
        .unwrap();
    let records = fetched.into_iter().next().unwrap().result.unwrap();
    let mut records = records.into_records();
    let values: Vec<_> = std::iter::from_fn(|| records.next_record().map(|r| r.value.take()))
        .flatten()
        .collect();
    assert_eq!(values, [&b"one"[..], &b"two"[..]]);
}
