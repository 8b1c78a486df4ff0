//! The consumer group's metrics (docs/metrics.md): names, prefix and order.
//! The dimensions (`group_id`, `cluster_name`, `cluster_type` and the
//! user's) are given when the responder is built.

use std::sync::Arc;
use std::time::Duration;

use crate::consumer::fetcher::FetchObserver;
use crate::error::{Error, ErrorCode};
use crate::kafka::cluster::is_stale_leader;
use crate::metrics::{MetricSpec, MetricsRecorder};

/// Prefix of consumer-group metrics.
pub const GROUP_PREFIX: &str = "yelp_kafka.KafkaConsumerGroup.";

/// The consumer group's metrics, in the order of [`GroupMetric`].
pub const GROUP_METRICS: &[MetricSpec] = &[
    MetricSpec::timer("metadata_request_timer"),
    MetricSpec::timer("produce_request_timer"),
    MetricSpec::timer("fetch_request_timer"),
    MetricSpec::timer("offset_request_timer"),
    MetricSpec::timer("offset_commit_request_timer"),
    MetricSpec::timer("offset_fetch_request_timer"),
    MetricSpec::counter("failed_payloads_count"),
    MetricSpec::counter("out_of_range_counts"),
    MetricSpec::counter("not_leader_for_partition_count"),
    MetricSpec::counter("request_timed_out_count"),
];

/// Index of a metric the group measures in [`GROUP_METRICS`]. Nothing
/// measures `produce_request_timer` and `failed_payloads_count` (a
/// consumer sends no Produce); they are in the table because Python yelp_kafka's
/// group reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMetric {
    /// Reading the partition set from Kafka metadata.
    MetadataRequestTimer = 0,
    /// One fetch request.
    FetchRequestTimer = 2,
    /// One ListOffsets request of the reset policy.
    OffsetRequestTimer = 3,
    /// A commit the group makes (explicit, or before a release).
    OffsetCommitRequestTimer = 4,
    /// Starting acquired partitions: their committed offsets (and the
    /// reset offsets where none is committed).
    OffsetFetchRequestTimer = 5,
    /// A fetch asked for an offset out of the partition's range.
    OutOfRangeCounts = 7,
    /// A fetch went to a broker that no longer leads the partition.
    NotLeaderForPartitionCount = 8,
    /// A fetch timed out.
    RequestTimedOutCount = 9,
}

/// Turns the consumer's fetches into the group's metrics (on engine
/// threads: the recorder delivers them later, on the caller's).
pub struct FetchMetrics(pub Arc<MetricsRecorder>);

impl FetchObserver for FetchMetrics {
    fn fetched(&self, elapsed: Duration) {
        self.0.record_duration(GroupMetric::FetchRequestTimer as usize, elapsed);
    }

    fn offsets_listed(&self, elapsed: Duration) {
        self.0
            .record_duration(GroupMetric::OffsetRequestTimer as usize, elapsed);
    }

    fn failed(&self, error: &Error) {
        let counter = match error.code() {
            ErrorCode::OffsetOutOfRange => GroupMetric::OutOfRangeCounts,
            ErrorCode::RequestTimedOut => GroupMetric::RequestTimedOutCount,
            _ if is_stale_leader(error) => GroupMetric::NotLeaderForPartitionCount,
            _ => return,
        };
        self.0.record(counter as usize, 1.0);
    }
}

/// The dimensions of the group's metrics: `group_id`, `cluster_name`,
/// `cluster_type`, then the user's.
pub fn dimensions(config: &crate::consumer::ConsumerConfig) -> Vec<(String, String)> {
    let mut dimensions = vec![
        ("group_id".to_string(), config.group_id().to_string()),
        ("cluster_name".to_string(), config.cluster().name().to_string()),
        ("cluster_type".to_string(), config.cluster().cluster_type().to_string()),
    ];
    dimensions.extend(config.metrics_dimensions.iter().cloned());
    dimensions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_metrics_point_at_their_names() {
        let named = |metric: GroupMetric| GROUP_METRICS[metric as usize].name;
        assert_eq!(named(GroupMetric::FetchRequestTimer), "fetch_request_timer");
        assert_eq!(named(GroupMetric::OffsetRequestTimer), "offset_request_timer");
        assert_eq!(named(GroupMetric::OutOfRangeCounts), "out_of_range_counts");
        assert_eq!(
            named(GroupMetric::NotLeaderForPartitionCount),
            "not_leader_for_partition_count"
        );
        assert_eq!(named(GroupMetric::RequestTimedOutCount), "request_timed_out_count");
        assert_eq!(
            GROUP_METRICS[GroupMetric::MetadataRequestTimer as usize].name,
            "metadata_request_timer"
        );
        assert_eq!(
            GROUP_METRICS[GroupMetric::OffsetCommitRequestTimer as usize].name,
            "offset_commit_request_timer"
        );
        assert_eq!(
            GROUP_METRICS[GroupMetric::OffsetFetchRequestTimer as usize].name,
            "offset_fetch_request_timer"
        );
    }
}
