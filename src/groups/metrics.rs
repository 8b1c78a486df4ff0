//! The consumer group's metrics (docs/metrics.md): names, prefix and order.
//! The dimensions (`group_id`, `cluster_name`, `cluster_type` and the
//! user's) are given when the responder is built.

use std::sync::Arc;
use std::time::Duration;

use crate::consumer::fetcher::FetchObserver;
use crate::error::{Error, ErrorCode};
use crate::kafka::cluster::is_stale_leader;
use crate::metrics::{metric_table, MetricSpec, MetricsRecorder};

/// Prefix of consumer-group metrics.
pub const GROUP_PREFIX: &str = "yelp_kafka.KafkaConsumerGroup.";

metric_table! {
    /// The consumer group's metrics (docs/metrics.md). Nothing records
    /// `ProduceRequestTimer` and `FailedPayloadsCount` (a consumer sends no
    /// Produce); they are in the table because Python yelp_kafka's group
    /// reports them, so an application sees the same emitters.
    pub enum GroupMetric in GROUP_METRICS {
        /// Reading the partition set from Kafka metadata.
        MetadataRequestTimer => timer("metadata_request_timer"),
        /// Never recorded (see above).
        #[allow(dead_code, reason = "named for Python yelp_kafka's emitters; a consumer sends no Produce")]
        ProduceRequestTimer => timer("produce_request_timer"),
        /// One fetch request.
        FetchRequestTimer => timer("fetch_request_timer"),
        /// One ListOffsets request of the reset policy.
        OffsetRequestTimer => timer("offset_request_timer"),
        /// A commit the group makes (explicit, or before a release).
        OffsetCommitRequestTimer => timer("offset_commit_request_timer"),
        /// Starting acquired partitions: their committed offsets (and the
        /// reset offsets where none is committed).
        OffsetFetchRequestTimer => timer("offset_fetch_request_timer"),
        /// Never recorded (see above).
        #[allow(dead_code, reason = "named for Python yelp_kafka's emitters; a consumer sends no Produce")]
        FailedPayloadsCount => counter("failed_payloads_count"),
        /// A fetch asked for an offset out of the partition's range.
        OutOfRangeCounts => counter("out_of_range_counts"),
        /// A fetch went to a broker that no longer leads the partition.
        NotLeaderForPartitionCount => counter("not_leader_for_partition_count"),
        /// A fetch timed out.
        RequestTimedOutCount => counter("request_timed_out_count"),
    }
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
    fn every_group_metric_names_python_yelp_kafkas_metric_in_its_order() {
        let expected = [
            (GroupMetric::MetadataRequestTimer, "metadata_request_timer"),
            (GroupMetric::ProduceRequestTimer, "produce_request_timer"),
            (GroupMetric::FetchRequestTimer, "fetch_request_timer"),
            (GroupMetric::OffsetRequestTimer, "offset_request_timer"),
            (GroupMetric::OffsetCommitRequestTimer, "offset_commit_request_timer"),
            (GroupMetric::OffsetFetchRequestTimer, "offset_fetch_request_timer"),
            (GroupMetric::FailedPayloadsCount, "failed_payloads_count"),
            (GroupMetric::OutOfRangeCounts, "out_of_range_counts"),
            (
                GroupMetric::NotLeaderForPartitionCount,
                "not_leader_for_partition_count",
            ),
            (GroupMetric::RequestTimedOutCount, "request_timed_out_count"),
        ];
        assert_eq!(GROUP_METRICS.len(), expected.len());
        for (index, (metric, name)) in expected.into_iter().enumerate() {
            assert_eq!(metric as usize, index, "{name}");
            assert_eq!(GROUP_METRICS[metric as usize].name, name);
        }
    }
}
