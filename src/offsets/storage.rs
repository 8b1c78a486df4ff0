//! Where a group's offsets live (`offset_storage`): in Kafka (OffsetCommit /
//! OffsetFetch at the group coordinator), in ZooKeeper at the classic path,
//! or in both (`dual`: written to both, read as the larger of the two, the
//! way a group migrates from ZooKeeper to Kafka).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::config::{ClientOptions, ClusterConfig, Config, OptionKind, OptionSpec};
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::coordinator::{GroupCoordinator, MemberGeneration};
use crate::kafka::KafkaCluster;
use crate::offsets::zookeeper::ZookeeperOffsets;
use crate::topic_partition::TopicPartition;

/// The `offset_storage` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetStorageKind {
    /// The group coordinator of the Kafka cluster.
    Kafka,
    /// ZooKeeper, `/consumers/<group>/offsets/<topic>/<partition>`.
    Zookeeper,
    /// Both: written to both, read as the larger.
    Dual,
}

/// The words `offset_storage` accepts, as the configuration spells them.
pub const OFFSET_STORAGE_NAMES: &[&str] = &["kafka", "zookeeper", "dual"];

/// The `offset_storage` option, shared by consumers and the offsets API.
/// ZooKeeper is Python yelp_kafka's default (the Kafka 0.8 layout).
pub const OFFSET_STORAGE_OPTION: OptionSpec = OptionSpec {
    name: "offset_storage",
    kind: OptionKind::Choice(OFFSET_STORAGE_NAMES),
    default: "zookeeper",
    doc: "Where the group's offsets live: zookeeper (/consumers/<group>/offsets/<topic>/<partition>), kafka (the group coordinator) or dual (both written, the larger read).",
};

impl OffsetStorageKind {
    /// The choice named `name`.
    pub fn by_name(name: &str) -> Result<OffsetStorageKind> {
        match name {
            "kafka" => Ok(OffsetStorageKind::Kafka),
            "zookeeper" => Ok(OffsetStorageKind::Zookeeper),
            "dual" => Ok(OffsetStorageKind::Dual),
            other => Err(Error::new(
                ErrorCode::InvalidOffsetStorage,
                format!(
                    "offset storage {other:?} is not one of {}",
                    OFFSET_STORAGE_NAMES.join(", ")
                ),
            )),
        }
    }

    /// The `offset_storage` of `values` (already checked against its option).
    pub fn from_config(values: &Config) -> Result<OffsetStorageKind> {
        OffsetStorageKind::by_name(values.value(&OFFSET_STORAGE_OPTION))
    }

    fn uses_kafka(self) -> bool {
        matches!(self, OffsetStorageKind::Kafka | OffsetStorageKind::Dual)
    }

    fn uses_zookeeper(self) -> bool {
        matches!(self, OffsetStorageKind::Zookeeper | OffsetStorageKind::Dual)
    }
}

impl fmt::Display for OffsetStorageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OffsetStorageKind::Kafka => "kafka",
            OffsetStorageKind::Zookeeper => "zookeeper",
            OffsetStorageKind::Dual => "dual",
        })
    }
}

/// The committed offsets of one group in the chosen storage.
pub struct OffsetStore {
    kind: OffsetStorageKind,
    kafka: GroupCoordinator,
    zookeeper: Option<ZookeeperOffsets>,
}

impl OffsetStore {
    /// The store of `group` on `cluster`. ZooKeeper storage needs the
    /// cluster's ZooKeeper connect string: without one it is an
    /// `InvalidOffsetStorageError`.
    pub fn new(
        kind: OffsetStorageKind,
        group: &str,
        cluster: &ClusterConfig,
        options: &ClientOptions,
    ) -> Result<OffsetStore> {
        let zookeeper = if kind.uses_zookeeper() {
            let hosts = cluster.zookeeper_connect_hosts();
            if hosts.is_empty() {
                return Err(Error::new(
                    ErrorCode::InvalidOffsetStorage,
                    format!(
                        "offset storage {kind} needs ZooKeeper, but cluster {} has no ZooKeeper connect string",
                        cluster.name()
                    ),
                ));
            }
            Some(ZookeeperOffsets::new(
                &hosts,
                cluster.zookeeper_chroot(),
                group,
                options.request_timeout,
            ))
        } else {
            None
        };
        Ok(OffsetStore {
            kind,
            kafka: GroupCoordinator::new(group),
            zookeeper,
        })
    }

    /// Makes every later Kafka commit carry `member`'s generation.
    pub fn commit_as_member(&self, member: Arc<MemberGeneration>) {
        self.kafka.commit_as_member(member);
    }

    /// The committed offsets of `partitions` (`None`: nothing committed);
    /// with `dual`, the larger of the two stores.
    pub async fn fetch(
        &self,
        cluster: &KafkaCluster,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        let in_kafka = if self.kind.uses_kafka() {
            Some(self.kafka.fetch(cluster, partitions).await?)
        } else {
            None
        };
        let in_zookeeper = match &self.zookeeper {
            Some(zookeeper) => Some(zookeeper.fetch(partitions).await?),
            None => None,
        };
        Ok(match (in_kafka, in_zookeeper) {
            (Some(kafka), Some(zookeeper)) => kafka
                .into_iter()
                .map(|(key, offset)| {
                    let other = zookeeper.get(&key).copied().flatten();
                    (key, offset.max(other))
                })
                .collect(),
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => unreachable!("every storage kind uses Kafka or ZooKeeper"),
        })
    }

    /// Stores `offsets` (next offset to read per partition); with `dual`,
    /// in both stores (Kafka first).
    pub async fn commit(&self, cluster: &KafkaCluster, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        if self.kind.uses_kafka() {
            self.kafka.commit(cluster, offsets).await?;
        }
        if let Some(zookeeper) = &self.zookeeper {
            zookeeper.commit(offsets).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_chroot_builds_the_offset_paths_from_the_root() {
        let cluster = ClusterConfig::from_broker_string("standard", "c1", "b:9092", "z:2181/").unwrap();
        let store = OffsetStore::new(OffsetStorageKind::Zookeeper, "g", &cluster, &ClientOptions::default()).unwrap();
        let zookeeper = store.zookeeper.expect("ZooKeeper storage");
        assert_eq!(zookeeper.path("t", 0), "/consumers/g/offsets/t/0");
    }
}
