//! The cluster view: brokers, topics, partitions and their leaders, as the
//! last Metadata response described them.

use std::collections::BTreeMap;

use kafka_protocol::messages::MetadataResponse;

use crate::error::{Error, ErrorCode, Result};

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker's node id.
    pub node_id: i32,
    /// Host name as the broker advertises it.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn address(&self) -> String {
        broker_address(&self.host, self.port)
    }
}

/// `host:port` of a broker, an IPv6 host in brackets.
pub fn broker_address(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Kafka error code for this partition (0 = none).
    pub error_code: i16,
    /// Node id of the leader, −1 when there is none.
    pub leader: i32,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Kafka error code for this topic (0 = none).
    pub error_code: i16,
    /// Partitions by id.
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// Brokers and topics of a cluster at one moment.
#[derive(Debug, Clone)]
pub struct ClusterMetadata {
    /// Brokers by node id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    /// An empty view, before the first response.
    pub fn empty() -> ClusterMetadata {
        ClusterMetadata {
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
        }
    }

    /// Builds the view from a Metadata response.
    pub fn from_response(response: &MetadataResponse) -> ClusterMetadata {
        let brokers = response
            .brokers
            .iter()
            .filter_map(|b| {
                Some((
                    b.node_id.0,
                    BrokerInfo {
                        node_id: b.node_id.0,
                        host: b.host.to_string(),
                        port: u16::try_from(b.port).ok()?,
                    },
                ))
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.to_string();
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        (
                            p.partition_index,
                            PartitionMetadata {
                                error_code: p.error_code,
                                leader: p.leader_id.0,
                            },
                        )
                    })
                    .collect();
                Some((
                    name,
                    TopicMetadata {
                        error_code: t.error_code,
                        partitions,
                    },
                ))
            })
            .collect();
        ClusterMetadata { brokers, topics }
    }

    /// This view with `newer`'s brokers and topics laid over it: a response
    /// for some topics replaces those topics and keeps the others.
    pub fn merged_with(&self, newer: ClusterMetadata) -> ClusterMetadata {
        let mut topics = self.topics.clone();
        topics.extend(newer.topics);
        ClusterMetadata {
            brokers: newer.brokers,
            topics,
        }
    }

    /// `topic`, known and without error: else `UnknownTopicOrPartitionError`
    /// or the broker's error for it.
    pub fn checked_topic(&self, topic: &str) -> Result<&TopicMetadata> {
        let Some(metadata) = self.topics.get(topic) else {
            return Err(Error::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic {topic:?} is unknown"),
            ));
        };
        if metadata.error_code != 0 {
            return Err(Error::from_kafka(
                metadata.error_code,
                format!("metadata of topic {topic:?}"),
            ));
        }
        Ok(metadata)
    }

    /// The leader's node id of `topic`/`partition`, if the partition has one.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let leader = self.topics.get(topic)?.partitions.get(&partition)?.leader;
        (leader >= 0).then_some(leader)
    }

    /// The topics without error, and their partition ids, sorted.
    pub fn topic_partitions(&self) -> BTreeMap<String, Vec<i32>> {
        self.topics
            .iter()
            .filter(|(_, t)| t.error_code == 0)
            .map(|(name, t)| (name.clone(), t.partitions.keys().copied().collect()))
            .collect()
    }
}
