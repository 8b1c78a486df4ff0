//! Discovery against two real mock clusters.

mod support;

use std::time::{Duration, Instant};

use support::MockCluster;
use yelp_kafka::config::{ClientOptions, ClusterConfig, Config};
use yelp_kafka::discovery::{
    discover_topics, discover_topics_of, python_match_regex, search_topic, search_topics_by_regex,
};
use yelp_kafka::ErrorCode;

fn cluster(name: &str, mock: &MockCluster) -> ClusterConfig {
    ClusterConfig::from_broker_string("standard", name, mock.bootstrap(), "").unwrap()
}

fn two_clusters() -> (MockCluster, MockCluster, Vec<ClusterConfig>) {
    let first = MockCluster::start(3);
    first.create_topic("mytopic", 3);
    first.create_topic("xmytopic", 2);
    first.create_topic("mytopic.other", 1);
    let second = MockCluster::start(2);
    second.create_topic("team.mytopic", 4);
    second.create_topic("unrelated", 2);
    let clusters = vec![cluster("c1", &first), cluster("c2", &second)];
    (first, second, clusters)
}

#[test]
fn discover_topics_lists_every_topic_with_its_partitions() {
    let (_first, _second, clusters) = two_clusters();
    let topics = discover_topics(&clusters[0], &ClientOptions::default()).unwrap();
    assert_eq!(topics["mytopic"], [0, 1, 2]);
    assert_eq!(topics["xmytopic"], [0, 1]);
    assert_eq!(topics["mytopic.other"], [0]);
    assert!(!topics.contains_key("team.mytopic"));
}

#[test]
fn regex_search_matches_at_the_start_like_python_re_match() {
    let (_first, _second, clusters) = two_clusters();
    let discovered = discover_topics_of(&clusters, &ClientOptions::default()).unwrap();

    let ending =
        search_topics_by_regex(&python_match_regex(".*mytopic").unwrap(), &clusters, discovered.clone()).unwrap();
    assert_eq!(ending.len(), 2);
    assert_eq!(ending[0].0.name(), "c1");
    // `.*mytopic` also matches `mytopic.other`: re.match anchors only the start.
    assert_eq!(
        ending[0].1.keys().collect::<Vec<_>>(),
        ["mytopic", "mytopic.other", "xmytopic"]
    );
    assert_eq!(ending[1].0.name(), "c2");
    assert_eq!(ending[1].1.keys().collect::<Vec<_>>(), ["team.mytopic"]);
    assert_eq!(ending[1].1["team.mytopic"], [0, 1, 2, 3]);

    let exact = search_topics_by_regex(&python_match_regex("mytopic").unwrap(), &clusters, discovered.clone()).unwrap();
    assert_eq!(exact.len(), 1, "c2 has no topic starting with mytopic");
    assert_eq!(exact[0].1.keys().collect::<Vec<_>>(), ["mytopic", "mytopic.other"]);
    assert!(!exact[0].1.contains_key("xmytopic"));

    let whole = search_topics_by_regex(&python_match_regex("mytopic$").unwrap(), &clusters, discovered).unwrap();
    assert_eq!(whole[0].1.keys().collect::<Vec<_>>(), ["mytopic"]);
}

#[test]
fn search_topic_finds_the_clusters_that_hold_it() {
    let (_first, _second, clusters) = two_clusters();
    let discovered = discover_topics_of(&clusters, &ClientOptions::default()).unwrap();
    let found = search_topic("team.mytopic", &clusters, &discovered);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0.name(), "c2");
    assert_eq!(found[0].1, [0, 1, 2, 3]);
    assert!(search_topic("absent", &clusters, &discovered).is_empty());
}

#[test]
fn an_unreachable_cluster_is_a_discovery_error_within_the_deadline() {
    let (_first, _second, mut clusters) = two_clusters();
    clusters.push(ClusterConfig::from_broker_string("standard", "gone", "127.0.0.1:1", "").unwrap());
    let mut config = Config::new();
    config.set("metadata_timeout_ms", "1000").unwrap();
    let options = ClientOptions::from_config(&config).unwrap();
    let started = Instant::now();
    let error = discover_topics_of(&clusters, &options).unwrap_err();
    assert_eq!(error.code(), ErrorCode::Discovery, "{error}");
    assert!(error.message().contains("gone"), "names the cluster: {error}");
    assert!(started.elapsed() < Duration::from_secs(3), "clusters are asked at once");
}
