//! What the three consumer groups share as members of one ZooKeeper party:
//! the checks on their topics, how a member joins the party (the set
//! partitioner's settings), and the partition set they split, named
//! `<topic>-<partition>` as Python yelp_kafka names it.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::consumer::{CommitGate, ConsumerConfig};
use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::KafkaCluster;
use crate::set_partitioner::{layout, SetPartitioner, SetPartitionerSettings};
use crate::topic_partition::{Topic, TopicPartition};

/// How often the partition set is read from Kafka again.
pub const PARTITIONS_REFRESH: Duration = Duration::from_secs(120);

/// Checks the topics of a group: at least one, each a valid name.
pub(crate) fn check_group_topics(topics: &[String]) -> Result<()> {
    if topics.is_empty() {
        return Err(Error::invalid_argument("a consumer group needs at least one topic"));
    }
    for topic in topics {
        Topic::new(topic)?;
    }
    Ok(())
}

/// How a member of `config`'s group for `topics` joins the party as `identifier`.
pub(crate) fn partitioner_settings(
    config: &ConsumerConfig,
    topics: &[String],
    identifier: &str,
) -> SetPartitionerSettings {
    SetPartitionerSettings {
        zookeeper_hosts: config.cluster().zookeeper_connect_hosts(),
        group_path: layout::group_path(
            config.cluster().zookeeper_chroot(),
            config.group_id(),
            topics,
            config.use_group_sha,
        ),
        identifier: identifier.to_string(),
        cooldown: config.partitioner_cooldown,
        session_timeout: config.zookeeper_session_timeout,
        connect_timeout: config.zookeeper_connect_timeout,
    }
}

/// The partition set of `topics`, `<topic>-<partition>`, from Kafka
/// metadata; topics Kafka does not know are left out, and no partition at
/// all is a `PartitionerError`.
pub(crate) fn partition_set(cluster: &KafkaCluster, topics: &[String]) -> Result<Vec<String>> {
    let existing: BTreeMap<String, Vec<i32>> = engine::block_on(cluster.fetch_metadata(None))?
        .map_err(|e| e.with_code(ErrorCode::Partitioner).context("reading the partition set"))?
        .topic_partitions();
    let partitions: Vec<String> = topics
        .iter()
        .filter_map(|topic| existing.get(topic).map(|ids| (topic, ids)))
        .flat_map(|(topic, ids)| ids.iter().map(move |id| layout::partition_name(topic, *id)))
        .collect();
    if partitions.is_empty() {
        return Err(Error::new(
            ErrorCode::Partitioner,
            format!("no partitions found for topics {topics:?}"),
        ));
    }
    Ok(partitions)
}

/// The partition a partition name stands for.
pub(crate) fn partition_of(name: &str) -> Result<TopicPartition> {
    let (topic, partition) = layout::parse_partition_name(name)
        .ok_or_else(|| Error::new(ErrorCode::Partitioner, format!("{name:?} is not <topic>-<partition>")))?;
    Ok(TopicPartition::new(Topic::new(topic)?, partition))
}

/// A member's consumers commit, and a multiprocessing group's thread
/// workers take messages, only while its partitioner vouches for the
/// partitions (docs/consumer-groups.md, "Losing ZooKeeper"). Holds the
/// partitioner weakly: a consumer that outlives its group (a fenced worker
/// thread) must not keep the session, and its locks, alive.
pub(crate) struct PartitionerGate(Weak<SetPartitioner>);

impl PartitionerGate {
    /// The gate of `partitioner`.
    pub(crate) fn new(partitioner: &Arc<SetPartitioner>) -> Arc<PartitionerGate> {
        Arc::new(PartitionerGate(Arc::downgrade(partitioner)))
    }

    /// Whether a message may be handed to the application now
    /// ([`SetPartitioner::may_deliver`]); never once the group left.
    pub(crate) fn may_deliver(&self) -> bool {
        self.0.upgrade().is_some_and(|partitioner| partitioner.may_deliver())
    }
}

impl CommitGate for PartitionerGate {
    fn may_commit(&self) -> Result<()> {
        match self.0.upgrade() {
            Some(partitioner) => partitioner.may_commit(),
            None => Err(Error::new(
                ErrorCode::Partitioner,
                "not committing: the group left its party, the partitions may be another member's",
            )),
        }
    }
}
