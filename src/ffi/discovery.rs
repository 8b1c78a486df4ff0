//! Discovery in C: `yk_discover_topics`, `yk_search_topic`,
//! `yk_search_topics_by_regex` and the `yk_discovery_result` they return.

use std::ffi::{c_char, CString};

use crate::config::ClusterConfig;
use crate::discovery;
use crate::error::{ErrorCode, Result};
use crate::ffi::arguments::{c_str, check_index, check_out, to_c_string};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::cluster_config::yk_cluster_config;
use crate::ffi::config::{client_options, yk_config};
use crate::ffi::handles::{free_handle, handle, handle_array, write_handle, Boxed, Handle, MadeIn};

struct DiscoveredTopic {
    name: CString,
    partitions: Vec<i32>,
}

struct DiscoveredCluster {
    cluster: yk_cluster_config,
    topics: Vec<DiscoveredTopic>,
}

/// What a discovery call found: a list of clusters, each with a list of
/// topics (sorted by name), each with its partition ids (sorted). Everything
/// it points to is owned by the result and freed by `yk_discovery_result_free`.
/// Read-only once made: usable from several threads at once.
pub struct yk_discovery_result {
    clusters: Vec<DiscoveredCluster>,
}

impl Handle for yk_discovery_result {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

fn discovered_cluster(cluster: &ClusterConfig, topics: Vec<(String, Vec<i32>)>) -> Result<DiscoveredCluster> {
    Ok(DiscoveredCluster {
        cluster: yk_cluster_config::from_config(cluster.clone())?,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| {
                Ok(DiscoveredTopic {
                    name: to_c_string(&name, "topic name")?,
                    partitions,
                })
            })
            .collect::<Result<_>>()?,
    })
}

fn cluster_configs(clusters: &[&yk_cluster_config]) -> Vec<ClusterConfig> {
    clusters.iter().map(|c| c.config.clone()).collect()
}

/// Every topic of `cluster` with its partitions, in a result with one
/// cluster. `options` (NULL: defaults) takes the client options
/// (`client_id`, `metadata_timeout_ms`, ...). Failure is
/// `YK_ERROR_DISCOVERY` with the cause in the message; it comes within
/// `metadata_timeout_ms`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_discover_topics(
    cluster: *const yk_cluster_config,
    options: *const yk_config,
    out: *mut *mut yk_discovery_result,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let cluster = handle(cluster, "cluster")?;
        let options = client_options(options.as_ref())?;
        let topics = discovery::discover_topics(&cluster.config, &options)?;
        let found = discovered_cluster(&cluster.config, topics.into_iter().collect())?;
        write_handle(out, yk_discovery_result { clusters: vec![found] });
        Ok(())
    })
}

/// The clusters among `clusters[0..count]` that have a topic named `topic`;
/// each entry of the result has that one topic. All clusters are asked at
/// once; any cluster that cannot be reached fails the call with
/// `YK_ERROR_DISCOVERY`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_search_topic(
    topic: *const c_char,
    clusters: *const *const yk_cluster_config,
    count: usize,
    options: *const yk_config,
    out: *mut *mut yk_discovery_result,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let topic = c_str(topic, "topic")?;
        let clusters = cluster_configs(&handle_array(clusters, count, "clusters")?);
        let options = client_options(options.as_ref())?;
        let metadata = discovery::discover_topics_of(&clusters, &options)?;
        let found = discovery::search_topic(topic, &clusters, &metadata)
            .into_iter()
            .map(|(cluster, partitions)| discovered_cluster(cluster, vec![(topic.to_string(), partitions)]))
            .collect::<Result<_>>()?;
        write_handle(out, yk_discovery_result { clusters: found });
        Ok(())
    })
}

/// For each cluster among `clusters[0..count]` with topics whose names match
/// `pattern` at their start (Python's `re.match`: `".*mytopic"` finds every
/// topic ending in `mytopic`, `"mytopic"` does not match `"xmytopic"`), the
/// cluster and those topics. Clusters without a match are left out.
///
/// The pattern is read by the rules of Python's `re` (3.11): look-around,
/// back-references, `(?#...)`, `\Z` (the very end), `{` as a literal when
/// no quantifier follows (`my{`), `x{,2}`, verbose mode; `[[:alpha:]]` is a
/// set holding `[` followed by `]`, as in Python. What Python refuses is
/// refused with its message: `\z`, `\p{L}`, `.*(?i)X` (global flags not at
/// the start), unbalanced parentheses (`"zzz)|(mytopic"`), so no pattern
/// can leave the start anchor. A refused pattern is
/// `YK_ERROR_CONFIGURATION` naming it, before any cluster is asked; an
/// unreachable cluster `YK_ERROR_DISCOVERY`.
///
/// A match taking more than 1,000,000 backtracking steps (only exponential
/// patterns such as `(a*)*b\1` do) fails the call with
/// `YK_ERROR_CONFIGURATION` naming the pattern and the topic, never a
/// silent non-match.
///
/// Remaining differences from Python's `re.match` (docs/discovery.md):
/// - `\N{...}` named characters are refused (Python accepts them).
/// - `\B` matches the empty string (Python before 3.14 does not); topic
///   names are never empty.
/// - `\w` (and so `\b`) is Unicode's word character: a combining mark such
///   as U+0301 is one here, not in Python. With `(?ai)` non-ASCII letters
///   still fold case.
/// - A surrogate escape (`\ud800`) matches nothing; nesting deeper than 64
///   groups and the deprecated `(?t)` flag are refused.
///
/// `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_search_topics_by_regex(
    pattern: *const c_char,
    clusters: *const *const yk_cluster_config,
    count: usize,
    options: *const yk_config,
    out: *mut *mut yk_discovery_result,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let pattern = c_str(pattern, "pattern")?;
        let matcher = discovery::python_match_regex(pattern)?;
        let clusters = cluster_configs(&handle_array(clusters, count, "clusters")?);
        let options = client_options(options.as_ref())?;
        let metadata = discovery::discover_topics_of(&clusters, &options)?;
        let found = discovery::search_topics_by_regex(&matcher, &clusters, metadata)?
            .into_iter()
            .map(|(cluster, topics)| discovered_cluster(cluster, topics.into_iter().collect()))
            .collect::<Result<_>>()?;
        write_handle(out, yk_discovery_result { clusters: found });
        Ok(())
    })
}

/// How many clusters the result holds (0 when `result` is NULL).
#[no_mangle]
pub unsafe extern "C" fn yk_discovery_result_cluster_count(result: *const yk_discovery_result) -> usize {
    boundary_value(function_name!(), 0, || Ok(handle(result, "result")?.clusters.len()))
}

/// The cluster at `index`, owned by the result; NULL (last error set) when
/// `result` is NULL or `index` out of range.
#[no_mangle]
pub unsafe extern "C" fn yk_discovery_result_cluster(
    result: *const yk_discovery_result,
    index: usize,
) -> *const yk_cluster_config {
    boundary_value(function_name!(), std::ptr::null(), || {
        let clusters = &handle(result, "result")?.clusters;
        Ok(&clusters[check_index(index, clusters.len(), "cluster index")?].cluster as *const _)
    })
}

/// How many topics the cluster at `cluster_index` has in the result (0 on a bad argument).
#[no_mangle]
pub unsafe extern "C" fn yk_discovery_result_topic_count(
    result: *const yk_discovery_result,
    cluster_index: usize,
) -> usize {
    boundary_value(function_name!(), 0, || {
        let clusters = &handle(result, "result")?.clusters;
        Ok(clusters[check_index(cluster_index, clusters.len(), "cluster index")?]
            .topics
            .len())
    })
}

/// The name of topic `topic_index` of cluster `cluster_index`, owned by the
/// result; NULL on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn yk_discovery_result_topic(
    result: *const yk_discovery_result,
    cluster_index: usize,
    topic_index: usize,
) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(topic_at(result, cluster_index, topic_index)?.name.as_ptr())
    })
}

/// The partition ids (sorted) of topic `topic_index` of cluster
/// `cluster_index`: returns the array, owned by the result, and writes its
/// length to `*count`. On a bad argument returns NULL and leaves `*count` alone.
#[no_mangle]
pub unsafe extern "C" fn yk_discovery_result_partitions(
    result: *const yk_discovery_result,
    cluster_index: usize,
    topic_index: usize,
    count: *mut usize,
) -> *const i32 {
    boundary_value(function_name!(), std::ptr::null(), || {
        check_out(count, "count")?;
        let topic = topic_at(result, cluster_index, topic_index)?;
        *count = topic.partitions.len();
        Ok(topic.partitions.as_ptr())
    })
}

/// Topic `topic_index` of cluster `cluster_index` of `result`; NULL or an
/// index out of range is `InvalidArgument`.
///
/// # Safety
/// `result` is NULL or a live `yk_discovery_result`.
unsafe fn topic_at<'a>(
    result: *const yk_discovery_result,
    cluster_index: usize,
    topic_index: usize,
) -> Result<&'a DiscoveredTopic> {
    let clusters = &handle(result, "result")?.clusters;
    let topics = &clusters[check_index(cluster_index, clusters.len(), "cluster index")?].topics;
    Ok(&topics[check_index(topic_index, topics.len(), "topic index")?])
}

/// Frees a discovery result and everything it owns. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_discovery_result_free(result: *mut yk_discovery_result) {
    free_handle(result, function_name!());
}
