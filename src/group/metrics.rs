//! The consumer group's metrics (SPEC §2.12): names, prefix and order.
//! The dimensions (`group_id`, `cluster_name`, `cluster_type` and the
//! user's) are given when the responder is built.

use crate::metrics::MetricSpec;

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

/// Index of a metric the group itself measures in [`GROUP_METRICS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMetric {
    /// Reading the partition set from Kafka metadata.
    MetadataRequestTimer = 0,
    /// A commit the group makes (explicit, or before a release).
    OffsetCommitRequestTimer = 4,
    /// Starting acquired partitions: their committed offsets (and the
    /// reset offsets where none is committed).
    OffsetFetchRequestTimer = 5,
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
