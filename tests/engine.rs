//! The Kafka engine against real mock clusters: metadata, leader moves,
//! version negotiation, bootstrap fallbacks, deadlines, client id.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest};
use support::MockCluster;
use yelp_kafka::config::{ClientOptions, Config};
use yelp_kafka::test_support::block_on;
use yelp_kafka::test_support::{BrokerConnection, KafkaCluster, KafkaRequest};
use yelp_kafka::test_support::{EARLIEST_OFFSET, LATEST_OFFSET};
use yelp_kafka::ErrorCode;

/// Client options for the mock in use: Debian's librdkafka 2.0.2 mock
/// mis-encodes ListOffsets v4/v5 responses (docs/protocol-notes.md), so cap it there.
fn options_for_mock(extra: &[(&str, &str)]) -> ClientOptions {
    let mut config = Config::new();
    if std::env::var_os("YK_MOCK_LIB").is_none() {
        config.set("api_version_caps", "ListOffsets:3").unwrap();
    }
    for (key, value) in extra {
        config.set(key, value).unwrap();
    }
    ClientOptions::from_config(&config).unwrap()
}

fn client(mock: &MockCluster, extra: &[(&str, &str)]) -> KafkaCluster {
    let bootstrap = mock.bootstrap().split(',').map(str::to_string).collect();
    KafkaCluster::new(bootstrap, options_for_mock(extra))
}

#[test]
fn metadata_lists_brokers_topics_partitions_and_leaders() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 6);
    mock.create_topic("audit", 1);
    let cluster = client(&mock, &[]);
    let metadata = block_on(cluster.fetch_metadata(None)).unwrap().unwrap();

    assert_eq!(metadata.brokers.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    let addresses: Vec<String> = metadata.brokers.values().map(|b| b.address()).collect();
    assert_eq!(addresses, mock.broker_addrs());
    let orders = &metadata.topics["orders"];
    assert_eq!(
        orders.partitions.keys().copied().collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );
    for partition in orders.partitions.values() {
        assert!(
            metadata.brokers.contains_key(&partition.leader),
            "leader {} is a broker",
            partition.leader
        );
        assert_eq!(partition.error_code, 0);
    }
    assert_eq!(metadata.topics["audit"].partitions.len(), 1);
    assert_eq!(cluster.cached_metadata().topics.len(), metadata.topics.len());
}

#[test]
fn moved_leader_is_found_after_not_leader_for_partition() {
    let mock = MockCluster::start(3);
    mock.create_topic("moving", 3);
    let cluster = client(&mock, &[]);
    block_on(cluster.fetch_metadata(None)).unwrap().unwrap();
    let old_leader = cluster.cached_metadata().leader("moving", 0).unwrap();
    let new_leader = old_leader % 3 + 1;
    mock.move_leader("moving", 0, new_leader);

    let stale = block_on(cluster.list_offsets("moving", &[0], LATEST_OFFSET)).unwrap();
    let error = stale.unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotLeaderForPartition, "{error}");
    assert_eq!(error.kafka_code(), Some(6));
    assert!(error.is_retriable());
    assert_eq!(
        cluster.cached_metadata().leader("moving", 0),
        Some(new_leader),
        "refreshed before returning"
    );

    let offsets = block_on(cluster.list_offsets("moving", &[0], LATEST_OFFSET))
        .unwrap()
        .unwrap();
    assert_eq!(offsets[&0], 0, "a plain retry reaches the new leader");
}

#[test]
fn pushed_not_leader_errors_refresh_metadata_too() {
    let mock = MockCluster::start(2);
    mock.create_topic("pushed", 1);
    let cluster = client(&mock, &[]);
    mock.push_errors(ApiKey::ListOffsets as i16, &[6]);
    let error = block_on(cluster.list_offsets("pushed", &[0], EARLIEST_OFFSET))
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotLeaderForPartition);
    let offsets = block_on(cluster.list_offsets("pushed", &[0], EARLIEST_OFFSET))
        .unwrap()
        .unwrap();
    assert_eq!(offsets[&0], 0);
}

#[test]
fn negotiation_picks_the_highest_version_both_sides_support() {
    let mock = MockCluster::start(1);
    let options = options_for_mock(&[]);
    let broker = block_on(BrokerConnection::connect(mock.bootstrap(), &options))
        .unwrap()
        .unwrap();
    let versions = broker.versions();

    fn expected<R: KafkaRequest>(versions: &yelp_kafka::test_support::ApiVersionTable, cap: i16) -> i16 {
        let broker = versions.broker_range(R::KEY).expect("mock offers the API");
        let mut version = R::supported_versions().max.min(broker.max).min(cap);
        if R::KEY == ApiKey::Produce && version == 5 {
            version = 4;
        }
        version
    }
    let list_offsets_cap = options
        .api_version_caps
        .get(&(ApiKey::ListOffsets as i16))
        .copied()
        .unwrap_or(i16::MAX);
    let metadata = versions.version_for::<MetadataRequest>().unwrap();
    assert_eq!(metadata, expected::<MetadataRequest>(versions, i16::MAX));
    if std::env::var_os("YK_MOCK_LIB").is_some() {
        assert!(
            metadata >= 12,
            "the modern mock speaks Metadata v{metadata}, expected v12 or later"
        );
    }
    assert_eq!(
        versions.version_for::<ListOffsetsRequest>().unwrap(),
        expected::<ListOffsetsRequest>(versions, list_offsets_cap)
    );
    let produce = versions.version_for::<ProduceRequest>().unwrap();
    assert_eq!(produce, expected::<ProduceRequest>(versions, i16::MAX));
    assert_ne!(produce, 5, "Produce v5 is never picked (docs/protocol-notes.md)");

    // Our ApiVersions request starts above what the mock offers: it answers
    // UNSUPPORTED_VERSION and we ask again at the version it lists.
    let ours = ApiVersionsRequest::supported_versions().max;
    let offered = versions.broker_range(ApiKey::ApiVersions).unwrap().max;
    assert!(
        offered < ours,
        "the mock offers ApiVersions up to {offered}, below ours ({ours})"
    );
    assert_eq!(versions.api_versions_version(), offered);
}

#[test]
fn a_broker_that_rejects_every_api_versions_above_v0_is_asked_at_v0() {
    let mock = MockCluster::start(1);
    mock.set_api_version(ApiKey::ApiVersions as i16, 0, 0);
    mock.set_api_version(ApiKey::Metadata as i16, 0, 1);
    let broker = block_on(BrokerConnection::connect(mock.bootstrap(), &options_for_mock(&[])))
        .unwrap()
        .unwrap();
    assert_eq!(broker.versions().api_versions_version(), 0);
    assert_eq!(broker.versions().version_for::<MetadataRequest>().unwrap(), 1);
}

#[test]
fn without_a_cap_the_old_mock_mis_encodes_list_offsets_and_we_refuse_the_answer() {
    if std::env::var_os("YK_MOCK_LIB").is_some() {
        return; // the newer mock encodes every ListOffsets version correctly
    }
    let mock = MockCluster::start(1);
    mock.create_topic("quirk", 1);
    let bootstrap = vec![mock.bootstrap().to_string()];
    let cluster = KafkaCluster::new(bootstrap, ClientOptions::default());
    let error = block_on(cluster.list_offsets("quirk", &[0], LATEST_OFFSET))
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Protocol, "{error}");
}

#[test]
fn bootstrap_goes_past_a_dead_first_broker() {
    let mock = MockCluster::start(3);
    mock.create_topic("alive", 2);
    mock.broker_down(1);
    let addresses = mock.broker_addrs();
    let bootstrap = vec![unused_address(), addresses[0].clone(), addresses[1].clone()];
    let cluster = KafkaCluster::new(bootstrap, options_for_mock(&[]));
    let metadata = block_on(cluster.fetch_metadata(None)).unwrap().unwrap();
    assert_eq!(metadata.topics["alive"].partitions.len(), 2);
}

#[test]
fn an_unreachable_cluster_is_kafka_unavailable_within_the_deadline() {
    let mock = MockCluster::start(3);
    for broker in 1..=3 {
        mock.broker_down(broker);
    }
    let mut bootstrap = mock.broker_addrs();
    bootstrap.push(unused_address());
    let mut config = Config::new();
    config.set("metadata_timeout_ms", "2000").unwrap();
    let cluster = KafkaCluster::new(bootstrap, ClientOptions::from_config(&config).unwrap());
    let started = Instant::now();
    let error = block_on(cluster.fetch_metadata(None)).unwrap().unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.code(), ErrorCode::KafkaUnavailable, "{error}");
    assert!(
        error.message().contains(&mock.broker_addrs()[0]),
        "names what failed: {error}"
    );
    assert!(
        elapsed >= Duration::from_millis(1500),
        "kept trying until the deadline ({elapsed:?})"
    );
    assert!(
        elapsed < Duration::from_millis(3000),
        "gave up at the deadline ({elapsed:?})"
    );
}

#[test]
fn a_broker_that_comes_back_is_reconnected() {
    let mock = MockCluster::start(1);
    mock.create_topic("back", 1);
    let cluster = client(&mock, &[("metadata_timeout_ms", "1000")]);
    block_on(cluster.fetch_metadata(None)).unwrap().unwrap();
    mock.broker_down(1);
    let error = block_on(cluster.fetch_metadata(None)).unwrap().unwrap_err();
    assert_eq!(error.code(), ErrorCode::KafkaUnavailable);
    mock.broker_up(1);
    let metadata = block_on(cluster.fetch_metadata(None)).unwrap().unwrap();
    assert!(metadata.topics.contains_key("back"));
}

#[test]
fn a_slow_broker_times_the_request_out() {
    let mock = MockCluster::start(1);
    mock.create_topic("slow", 1);
    let cluster = client(&mock, &[("request_timeout_ms", "300")]);
    block_on(cluster.fetch_metadata(None)).unwrap().unwrap();
    mock.set_rtt(1, 2000);
    let started = Instant::now();
    let error = block_on(cluster.list_offsets("slow", &[0], LATEST_OFFSET))
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::RequestTimedOut, "{error}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[test]
fn every_request_carries_the_client_id() {
    // Not a broker: a socket that records the first request's header bytes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let capture = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut length = [0u8; 4];
        socket.read_exact(&mut length).unwrap();
        let mut frame = vec![0u8; i32::from_be_bytes(length) as usize];
        socket.read_exact(&mut frame).unwrap();
        frame
    });
    let mut config = Config::new();
    config.set("client_id", "billing-service").unwrap();
    config.set("connect_timeout_ms", "500").unwrap();
    let options = ClientOptions::from_config(&config).unwrap();
    let _ = block_on(BrokerConnection::connect(&address, &options)).unwrap();
    let frame = capture.join().unwrap();
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let id_length = i16::from_be_bytes([frame[8], frame[9]]) as usize;
    assert_eq!(api_key, ApiKey::ApiVersions as i16);
    assert_eq!(&frame[10..10 + id_length], b"billing-service");
}

/// A loopback address where nothing listens.
fn unused_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}
