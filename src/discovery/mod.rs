//! Discovery (SPEC §2.10): which topics and partitions a cluster has, which
//! clusters hold a topic or topics matching a pattern, and the topology
//! files that name the clusters of each type.

pub mod topology;

use std::collections::BTreeMap;

use regex::Regex;

use crate::config::{ClientOptions, ClusterConfig};
use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::KafkaCluster;

pub use topology::TopologyConfiguration;

/// Topic name → sorted partition ids.
pub type TopicPartitions = BTreeMap<String, Vec<i32>>;

/// Every topic of `cluster` with its partitions. Failure is a
/// `DiscoveryError` that keeps the cause in its message.
pub fn discover_topics(cluster: &ClusterConfig, options: &ClientOptions) -> Result<TopicPartitions> {
    let mut found = discover_all(std::slice::from_ref(cluster), options)?;
    found.pop().expect("one cluster asked, one answer")
}

/// The clusters among `clusters` that have `topic`, as `(topic, cluster)` pairs.
pub fn search_topic(
    topic: &str,
    clusters: &[ClusterConfig],
    options: &ClientOptions,
) -> Result<Vec<(String, ClusterConfig)>> {
    let mut matches = Vec::new();
    for (cluster, topics) in clusters.iter().zip(discover_all(clusters, options)?) {
        if topics?.contains_key(topic) {
            matches.push((topic.to_string(), cluster.clone()));
        }
    }
    Ok(matches)
}

/// For each cluster with at least one topic whose name matches `pattern`
/// at its start (Python's `re.match`), the matching topics (sorted) and the
/// cluster. A pattern that does not compile is a `ConfigurationError`.
pub fn search_topics_by_regex(
    pattern: &str,
    clusters: &[ClusterConfig],
    options: &ClientOptions,
) -> Result<Vec<(Vec<String>, ClusterConfig)>> {
    let matcher = python_match_regex(pattern)?;
    let mut matches = Vec::new();
    for (cluster, topics) in clusters.iter().zip(discover_all(clusters, options)?) {
        let matching: Vec<String> = topics?.into_keys().filter(|t| matcher.is_match(t)).collect();
        if !matching.is_empty() {
            matches.push((matching, cluster.clone()));
        }
    }
    Ok(matches)
}

/// Compiles `pattern` so that it matches only at the start of the text, as
/// Python's `re.match` does. The group keeps alternatives inside the anchor.
pub fn python_match_regex(pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})"))
        .map_err(|e| Error::configuration(format!("topic pattern {pattern:?} does not compile: {e}")))
}

/// Asks every cluster at once; one result per cluster, in order. The outer
/// error is for the engine itself, the inner ones per cluster.
fn discover_all(clusters: &[ClusterConfig], options: &ClientOptions) -> Result<Vec<Result<TopicPartitions>>> {
    let lookups = clusters.iter().map(|cluster| {
        let client = KafkaCluster::new(cluster.broker_list().to_vec(), options.clone());
        let name = cluster.name().to_string();
        async move {
            client
                .fetch_metadata(None)
                .await
                .map(|metadata| metadata.topic_partitions())
                .map_err(|e| {
                    e.with_code(ErrorCode::Discovery)
                        .context(format!("failed to get topics information from cluster {name}"))
                })
        }
    });
    let runtime = engine::runtime()?;
    let handles: Vec<_> = lookups.map(|lookup| runtime.spawn(lookup)).collect();
    engine::block_on(async move {
        let mut results = Vec::with_capacity(handles.len());
        for handle in handles {
            results.push(handle.await.unwrap_or_else(|e| {
                Err(Error::new(ErrorCode::Internal, format!("discovery task failed: {e}")))
            }));
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_at_the_start_only() {
        let ends_with = python_match_regex(".*mytopic").unwrap();
        assert!(ends_with.is_match("mytopic"));
        assert!(ends_with.is_match("team.mytopic"));
        let exact_start = python_match_regex("mytopic").unwrap();
        assert!(!exact_start.is_match("xmytopic"));
        assert!(exact_start.is_match("mytopic2"), "re.match does not anchor the end");
        let alternatives = python_match_regex("a|b").unwrap();
        assert!(!alternatives.is_match("xb"), "the group keeps the alternative anchored");
        assert_eq!(python_match_regex("(").unwrap_err().code(), ErrorCode::Configuration);
    }
}
