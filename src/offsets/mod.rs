//! Offsets and monitoring (docs/offsets.md): a group's committed offsets, topic
//! watermarks, moving a group (advance to the high watermark, rewind to the
//! low one, set), and lag. Also where a group's offsets are stored
//! (`storage`), which every consumer shares.
//!
//! Topics are named as a list (every partition) or a topic → partitions
//! map ([`Topics`]). With `raise_on_error` an unknown topic is an
//! `UnknownTopic` error and an unknown partition `UnknownPartitions`;
//! without it they are left out, as the Python library does. Topics are
//! checked against metadata for every topic, never by asking for the named
//! ones, which brokers that auto-create topics would create.

pub(crate) mod storage;
mod zookeeper;

pub use storage::OffsetStorageKind;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::config::{ClientOptions, ClusterConfig};
use crate::consumer::config::check_group_id;
use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::cluster::{EARLIEST_OFFSET, LATEST_OFFSET};
use crate::kafka::KafkaCluster;
use crate::sync::Locking;
use crate::topic_partition::{Topic, TopicPartition};
use storage::OffsetStore;

/// Topics an offsets call is about: each with every partition, or with
/// the partitions named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    topics: BTreeMap<String, BTreeSet<i32>>,
}

impl Topics {
    /// No topic yet.
    pub fn new() -> Topics {
        Topics::default()
    }

    /// Every partition of each of `topics` (the list form).
    pub fn of_topics<S: AsRef<str>>(topics: &[S]) -> Topics {
        let mut selection = Topics::new();
        for topic in topics {
            selection.add_topic(topic.as_ref());
        }
        selection
    }

    /// Adds every partition of `topic`; a topic named with partitions
    /// before gets all of them.
    pub fn add_topic(&mut self, topic: &str) {
        self.topics.insert(topic.to_string(), BTreeSet::new());
    }

    /// Adds `partition` of `topic` (the map form), unless the topic was
    /// added whole.
    pub fn add_partition(&mut self, topic: &str, partition: i32) {
        match self.topics.get_mut(topic) {
            Some(partitions) if partitions.is_empty() => {}
            Some(partitions) => {
                partitions.insert(partition);
            }
            None => {
                self.topics.insert(topic.to_string(), BTreeSet::from([partition]));
            }
        }
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }
}

/// A partition's low and high watermarks: the first offset kept and the
/// offset the next message will get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// The high watermark.
    pub high: i64,
    /// The low watermark.
    pub low: i64,
}

/// A group's position in one partition against the partition's watermarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLag {
    /// The committed offset, 0 when the group committed nothing.
    pub committed: i64,
    /// The partition's watermarks.
    pub watermarks: Watermarks,
}

impl GroupLag {
    /// How many messages the group has still to read: high − committed,
    /// or −1 when the stored offset is negative and so names no position
    /// (a ZooKeeper node may hold one written by another client).
    pub fn lag(&self) -> i64 {
        if self.committed < 0 {
            return -1;
        }
        self.watermarks.high - self.committed
    }
}

/// The offsets functions over one cluster and one offset storage. Calls
/// block the calling thread; the handle may be used from several threads.
pub struct Offsets {
    cluster_config: ClusterConfig,
    cluster: KafkaCluster,
    storage: OffsetStorageKind,
    stores: Mutex<HashMap<String, Arc<OffsetStore>>>,
}

impl Offsets {
    /// A client for `cluster` reading and writing offsets in `storage`.
    /// ZooKeeper storage on a cluster without a ZooKeeper connect string
    /// is an `InvalidOffsetStorageError` at the first call naming a group.
    pub fn new(cluster: &ClusterConfig, options: ClientOptions, storage: OffsetStorageKind) -> Offsets {
        Offsets {
            cluster_config: cluster.clone(),
            cluster: KafkaCluster::new(cluster.broker_list().to_vec(), options),
            storage,
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// The committed offsets of `group` for the selected partitions; 0
    /// where the group committed nothing (as the Python library reports).
    pub fn current_offsets(
        &self,
        group: &str,
        selection: &Topics,
        raise_on_error: bool,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let store = self.store(group)?;
        engine::block_on(async {
            let partitions = self.resolve(selection, raise_on_error).await?;
            self.committed(&store, &partitions).await
        })?
    }

    /// The watermarks of the selected partitions.
    pub fn watermarks(&self, selection: &Topics, raise_on_error: bool) -> Result<BTreeMap<TopicPartition, Watermarks>> {
        engine::block_on(async {
            let partitions = self.resolve(selection, raise_on_error).await?;
            self.watermarks_of(&partitions).await
        })?
    }

    /// Moves `group` to the high watermark of the selected partitions (it
    /// skips everything not read yet); returns the offsets committed.
    pub fn advance(
        &self,
        group: &str,
        selection: &Topics,
        raise_on_error: bool,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.commit_watermark(group, selection, raise_on_error, |w| w.high)
    }

    /// Moves `group` to the low watermark of the selected partitions (it
    /// reads again everything kept); returns the offsets committed.
    pub fn rewind(
        &self,
        group: &str,
        selection: &Topics,
        raise_on_error: bool,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.commit_watermark(group, selection, raise_on_error, |w| w.low)
    }

    /// Commits `offsets` for `group`, unchecked against the watermarks;
    /// returns the offsets committed (without the unknown topics and
    /// partitions that `raise_on_error` off leaves out).
    pub fn set(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
        raise_on_error: bool,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let store = self.store(group)?;
        let mut selection = Topics::new();
        for key in offsets.keys() {
            selection.add_partition(key.topic.as_str(), key.partition);
        }
        engine::block_on(async {
            let known: BTreeSet<TopicPartition> = self.resolve(&selection, raise_on_error).await?.into_iter().collect();
            let kept: BTreeMap<TopicPartition, i64> = offsets
                .iter()
                .filter(|(key, _)| known.contains(*key))
                .map(|(key, offset)| (key.clone(), *offset))
                .collect();
            store.commit(&self.cluster, &kept).await?;
            Ok(kept)
        })?
    }

    /// Per selected partition, the group's committed offset (0 when none)
    /// and the watermarks; [`GroupLag::lag`] is Python yelp_kafka's offset distance.
    /// Unknown topics and partitions are errors.
    pub fn lag(&self, group: &str, selection: &Topics) -> Result<BTreeMap<TopicPartition, GroupLag>> {
        let store = self.store(group)?;
        engine::block_on(async {
            let partitions = self.resolve(selection, true).await?;
            let committed = self.committed(&store, &partitions).await?;
            let watermarks = self.watermarks_of(&partitions).await?;
            Ok(committed
                .into_iter()
                .map(|(key, committed)| {
                    let watermarks = watermarks[&key];
                    (key, GroupLag { committed, watermarks })
                })
                .collect())
        })?
    }

    fn commit_watermark(
        &self,
        group: &str,
        selection: &Topics,
        raise_on_error: bool,
        pick: fn(&Watermarks) -> i64,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let store = self.store(group)?;
        engine::block_on(async {
            let partitions = self.resolve(selection, raise_on_error).await?;
            let offsets: BTreeMap<TopicPartition, i64> = self
                .watermarks_of(&partitions)
                .await?
                .into_iter()
                .map(|(key, watermarks)| (key, pick(&watermarks)))
                .collect();
            store.commit(&self.cluster, &offsets).await?;
            Ok(offsets)
        })?
    }

    /// The store of `group`, kept so that its ZooKeeper session and
    /// coordinator are reused across calls. Taken before anything is asked
    /// of Kafka, so that a group id that would leave its ZooKeeper node
    /// (`check_group_id`) is an `InvalidArgument` whatever the cluster's state.
    fn store(&self, group: &str) -> Result<Arc<OffsetStore>> {
        check_group_id(group).map_err(Error::invalid_argument)?;
        let mut stores = self.stores.locked();
        if let Some(store) = stores.get(group) {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(OffsetStore::new(
            self.storage,
            group,
            &self.cluster_config,
            self.cluster.options(),
        )?);
        stores.insert(group.to_string(), Arc::clone(&store));
        Ok(store)
    }

    async fn committed(
        &self,
        store: &OffsetStore,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let stored = store.fetch(&self.cluster, partitions).await?;
        Ok(stored
            .into_iter()
            .map(|(key, offset)| (key, offset.unwrap_or(0)))
            .collect())
    }

    async fn watermarks_of(&self, partitions: &[TopicPartition]) -> Result<BTreeMap<TopicPartition, Watermarks>> {
        let mut by_topic: BTreeMap<&Topic, Vec<i32>> = BTreeMap::new();
        for key in partitions {
            by_topic.entry(&key.topic).or_default().push(key.partition);
        }
        let mut watermarks = BTreeMap::new();
        for (topic, partitions) in by_topic {
            let high = self
                .cluster
                .list_offsets(topic.as_str(), &partitions, LATEST_OFFSET)
                .await?;
            let low = self
                .cluster
                .list_offsets(topic.as_str(), &partitions, EARLIEST_OFFSET)
                .await?;
            for partition in partitions {
                watermarks.insert(
                    TopicPartition::new(topic.clone(), partition),
                    Watermarks {
                        high: high[&partition],
                        low: low[&partition],
                    },
                );
            }
        }
        Ok(watermarks)
    }

    /// The selected partitions that exist, from fresh metadata for every
    /// topic; unknown ones are errors with `raise_on_error`, else left out.
    async fn resolve(&self, selection: &Topics, raise_on_error: bool) -> Result<Vec<TopicPartition>> {
        let metadata = self.cluster.fetch_metadata(None).await?;
        let existing = metadata.topic_partitions();
        let mut partitions = Vec::new();
        for (topic, wanted) in &selection.topics {
            let Some(known) = existing.get(topic) else {
                if raise_on_error {
                    return Err(Error::new(
                        ErrorCode::UnknownTopic,
                        format!(
                            "topic {topic:?} does not exist in Kafka cluster {}",
                            self.cluster_config.name()
                        ),
                    ));
                }
                continue;
            };
            let name = Topic::new(topic)?;
            if wanted.is_empty() {
                partitions.extend(known.iter().map(|p| TopicPartition::new(name.clone(), *p)));
                continue;
            }
            let unknown: Vec<i32> = wanted.iter().filter(|p| !known.contains(p)).copied().collect();
            if !unknown.is_empty() && raise_on_error {
                return Err(Error::new(
                    ErrorCode::UnknownPartitions,
                    format!("partitions {unknown:?} of topic {topic:?} do not exist (it has {known:?})"),
                ));
            }
            partitions.extend(
                wanted
                    .iter()
                    .filter(|p| known.contains(p))
                    .map(|p| TopicPartition::new(name.clone(), *p)),
            );
        }
        Ok(partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_added_whole_keeps_every_partition() {
        let mut selection = Topics::new();
        selection.add_partition("a", 1);
        selection.add_partition("a", 0);
        selection.add_topic("b");
        selection.add_partition("b", 3);
        assert_eq!(selection.topics["a"], BTreeSet::from([0, 1]));
        assert!(selection.topics["b"].is_empty(), "b stays whole");
        selection.add_topic("a");
        assert!(selection.topics["a"].is_empty(), "a became whole");
    }

    #[test]
    fn lag_is_high_watermark_minus_committed() {
        let lag = GroupLag {
            committed: 3,
            watermarks: Watermarks { high: 10, low: 2 },
        };
        assert_eq!(lag.lag(), 7);
    }

    #[test]
    fn a_negative_stored_offset_has_no_lag() {
        let lag = GroupLag {
            committed: -1,
            watermarks: Watermarks { high: 10, low: 2 },
        };
        assert_eq!(lag.lag(), -1);
    }

    #[test]
    fn a_group_id_that_would_leave_its_zookeeper_node_is_refused_before_kafka_is_asked() {
        // No broker listens on port 1: a call that reached Kafka would fail otherwise.
        let cluster = ClusterConfig::from_broker_string("standard", "c1", "127.0.0.1:1", "127.0.0.1:1").unwrap();
        let offsets = Offsets::new(&cluster, ClientOptions::default(), OffsetStorageKind::Zookeeper);
        let mut selection = Topics::new();
        selection.add_topic("t");
        for bad in ["", "g-ok/offsets", ".."] {
            let error = offsets.current_offsets(bad, &selection, true).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidArgument, "{bad:?}: {error}");
            assert!(error.message().contains(&format!("{bad:?}")), "{bad:?}: {error}");
            assert_eq!(
                offsets.lag(bad, &selection).unwrap_err().code(),
                ErrorCode::InvalidArgument
            );
            assert_eq!(
                offsets.advance(bad, &selection, true).unwrap_err().code(),
                ErrorCode::InvalidArgument
            );
            let commit = BTreeMap::from([(TopicPartition::new(Topic::new("t").unwrap(), 0), 1)]);
            assert_eq!(
                offsets.set(bad, &commit, true).unwrap_err().code(),
                ErrorCode::InvalidArgument
            );
        }
    }
}
