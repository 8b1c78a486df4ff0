//! Discovery (docs/discovery.md): which topics and partitions a cluster has, which
//! clusters hold a topic or topics matching a pattern, and the topology
//! files that name the clusters of each type.

pub(crate) mod topology;

use std::collections::BTreeMap;

use regex::Regex;

use crate::config::{ClientOptions, ClusterConfig};
use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::KafkaCluster;

pub use topology::Topology;

/// Topic name → sorted partition ids.
pub type TopicPartitions = BTreeMap<String, Vec<i32>>;

/// Every topic of `cluster` with its partitions. Failure is a
/// `DiscoveryError` that keeps the cause in its message.
pub fn discover_topics(cluster: &ClusterConfig, options: &ClientOptions) -> Result<TopicPartitions> {
    let mut found = discover_topics_of(std::slice::from_ref(cluster), options)?;
    Ok(found.pop().expect("one cluster asked, one answer"))
}

/// The topics of every cluster, asked at once; one entry per cluster, in
/// order. The first cluster that fails fails the call (`DiscoveryError`).
pub fn discover_topics_of(clusters: &[ClusterConfig], options: &ClientOptions) -> Result<Vec<TopicPartitions>> {
    discover_all(clusters, options)?.into_iter().collect()
}

/// The clusters that have `topic`, with its partitions, given what
/// [`discover_topics_of`] found for `clusters`.
pub fn search_topic<'a>(
    topic: &str,
    clusters: &'a [ClusterConfig],
    discovered: &[TopicPartitions],
) -> Vec<(&'a ClusterConfig, Vec<i32>)> {
    clusters
        .iter()
        .zip(discovered)
        .filter_map(|(cluster, topics)| Some((cluster, topics.get(topic)?.clone())))
        .collect()
}

/// For each cluster with at least one topic that `matcher` (see
/// [`python_match_regex`]) accepts, the cluster and those topics, given
/// what [`discover_topics_of`] found for `clusters`.
pub fn search_topics_by_regex<'a>(
    matcher: &Regex,
    clusters: &'a [ClusterConfig],
    discovered: Vec<TopicPartitions>,
) -> Vec<(&'a ClusterConfig, TopicPartitions)> {
    clusters
        .iter()
        .zip(discovered)
        .map(|(cluster, topics)| {
            let matching: TopicPartitions = topics.into_iter().filter(|(t, _)| matcher.is_match(t)).collect();
            (cluster, matching)
        })
        .filter(|(_, matching)| !matching.is_empty())
        .collect()
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
            results.push(
                handle
                    .await
                    .unwrap_or_else(|e| Err(Error::new(ErrorCode::Internal, format!("discovery task failed: {e}")))),
            );
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
