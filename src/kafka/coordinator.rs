//! A consumer group's coordinator and the offsets Kafka stores for the group:
//! FindCoordinator, OffsetCommit and OffsetFetch.
//!
//! Owns the coordinator address of one group (looked up on first use, and
//! again after the broker says it is no longer the coordinator). Commits are
//! made as a "simple" consumer (generation −1, no member id), which brokers
//! accept for groups without active members, as the Python library did —
//! unless the group's members balance through Kafka's group protocol: then
//! every commit carries the member's current generation
//! ([`MemberGeneration`]), so that the coordinator refuses one from a
//! member that lost its partitions (docs/consumer-groups.md).
//! Nothing here knows about trackers or storage choices.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::error::{Error, ErrorCode, Result};
use crate::kafka::broker::BrokerConnection;
use crate::kafka::metadata::broker_address;
use crate::kafka::topic_name;
use crate::kafka::KafkaCluster;
use crate::sync::Locking;
use crate::topic_partition::{Topic, TopicPartition};

/// Pause between coordinator lookups while the coordinator is unavailable.
const COORDINATOR_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Who commits for a member of Kafka's group protocol: its member id and
/// generation, when it has joined one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation the coordinator gave at the last JoinGroup.
    pub generation_id: i32,
    /// The member id the coordinator gave.
    pub member_id: String,
    /// The static member's `group_instance_id`.
    pub group_instance_id: Option<String>,
}

/// Told every generation a member enters, in order.
pub type GenerationWatcher = Box<dyn Fn(Option<&Generation>) + Send + Sync>;

/// The generation a member is in now, shared by the member (which
/// changes it) and its consumer's commits (which carry it). `None`
/// between generations: a commit then is refused here. A watcher may
/// follow it from outside the process (a multiprocessing group's worker
/// processes, docs/consumer-groups.md).
#[derive(Default)]
pub struct MemberGeneration {
    current: Mutex<Option<Generation>>,
    watcher: OnceLock<GenerationWatcher>,
}

impl MemberGeneration {
    /// The generation now, if any.
    pub fn current(&self) -> Option<Generation> {
        self.current.locked().clone()
    }

    /// Enters `generation` (`None`: between generations) and tells the
    /// watcher before anyone can read it here, so that the watcher never
    /// lags behind a commit of this process.
    pub fn set(&self, generation: Option<Generation>) {
        let mut current = self.current.locked();
        if let Some(watcher) = self.watcher.get() {
            watcher(generation.as_ref());
        }
        *current = generation;
    }

    /// Tells `watcher` the generation now and every later one. One
    /// watcher per member: a later one is told the generation now only.
    pub fn watch(&self, watcher: GenerationWatcher) {
        let current = self.current.locked();
        watcher(current.as_ref());
        let _ = self.watcher.set(watcher);
    }
}

/// The coordinator of one consumer group.
pub struct GroupCoordinator {
    group: String,
    address: Mutex<Option<String>>,
    /// Set for the consumer of a Kafka group member: commits carry its generation.
    member: OnceLock<Arc<MemberGeneration>>,
}

impl GroupCoordinator {
    /// The coordinator of `group`, not looked up yet.
    pub fn new(group: &str) -> GroupCoordinator {
        GroupCoordinator {
            group: group.to_string(),
            address: Mutex::new(None),
            member: OnceLock::new(),
        }
    }

    /// Makes every later commit carry `member`'s generation; set once.
    pub fn commit_as_member(&self, member: Arc<MemberGeneration>) {
        let _ = self.member.set(member);
    }

    /// Stores `offsets` (next offset to read, per partition) for the group.
    /// Every partition must be accepted; the first refusal is an
    /// `OffsetCommitError` carrying the broker's code. Retries coordinator
    /// moves until `request_timeout_ms`.
    pub async fn commit(&self, cluster: &KafkaCluster, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (key, offset) in offsets {
            topics.entry(key.topic.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(key.partition)
                    .with_committed_offset(*offset),
            );
        }
        let mut request = OffsetCommitRequest::default().with_group_id(group_id(&self.group));
        if let Some(member) = self.member.get() {
            let generation = member.current().ok_or_else(|| {
                Error::new(
                    ErrorCode::OffsetCommit,
                    format!(
                        "not committing for group {:?}: the member is between generations, its partitions may be another member's",
                        self.group
                    ),
                )
            })?;
            request = request
                .with_generation_id_or_member_epoch(generation.generation_id)
                .with_member_id(StrBytes::from_string(generation.member_id))
                .with_group_instance_id(generation.group_instance_id.map(StrBytes::from_string));
        }
        let request = request.with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect(),
        );
        self.with_coordinator(cluster, |connection| {
            let request = &request;
            async move {
                let (response, _) = connection.send(request).await?;
                let mut answered = 0;
                for topic in &response.topics {
                    for partition in &topic.partitions {
                        answered += 1;
                        if partition.error_code != 0 {
                            return Err(self.refusal(
                                partition.error_code,
                                format!("OffsetCommit {}/{}", topic.name.0, partition.partition_index),
                            ));
                        }
                    }
                }
                if answered < offsets.len() {
                    return Err(Error::new(
                        ErrorCode::OffsetCommit,
                        format!(
                            "OffsetCommit for group {:?}: the coordinator answered for {answered} of {} partitions",
                            self.group,
                            offsets.len()
                        ),
                    ));
                }
                Ok(())
            }
        })
        .await
        .map_err(|e| match e.code() {
            ErrorCode::OffsetCommit => e,
            _ => e.with_code(ErrorCode::OffsetCommit),
        })
    }

    /// The offsets the group committed for `partitions`; `None` where it
    /// committed nothing (or the broker does not know the partition).
    pub async fn fetch(
        &self,
        cluster: &KafkaCluster,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for key in partitions {
            by_topic.entry(key.topic.as_str()).or_default().push(key.partition);
        }
        self.with_coordinator(cluster, |connection| {
            let by_topic = &by_topic;
            async move {
                let version = connection.versions().version_for::<OffsetFetchRequest>()?;
                let request = offset_fetch_request(&self.group, by_topic, version);
                let (response, version) = connection.send(&request).await?;
                self.read_offset_fetch(response, version, partitions)
            }
        })
        .await
    }

    fn read_offset_fetch(
        &self,
        response: OffsetFetchResponse,
        version: i16,
        asked: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        let mut offsets: BTreeMap<TopicPartition, Option<i64>> = asked.iter().map(|key| (key.clone(), None)).collect();
        // The asked topics by name: an answer's partition finds its key
        // without a copy of the name.
        let topics: HashMap<&str, &Topic> = asked.iter().map(|key| (key.topic.as_str(), &key.topic)).collect();
        let mut take = |topic: &str, partition: i32, offset: i64, error_code: i16| -> Result<()> {
            match ResponseError::try_from_code(error_code) {
                None => {
                    let key = topics.get(topic).map(|t| TopicPartition::new((*t).clone(), partition));
                    if let Some(slot) = key.and_then(|key| offsets.get_mut(&key)) {
                        *slot = (offset >= 0).then_some(offset);
                    }
                    Ok(())
                }
                // Nothing committed.
                Some(ResponseError::UnknownTopicOrPartition) => Ok(()),
                Some(_) => Err(self.refusal(error_code, format!("OffsetFetch {topic}/{partition}"))),
            }
        };
        if version >= 8 {
            let group = response
                .groups
                .into_iter()
                .find(|g| g.group_id.0.as_str() == self.group)
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::Protocol,
                        format!("OffsetFetch: the answer does not name group {:?}", self.group),
                    )
                })?;
            self.check_group_error(group.error_code)?;
            for topic in &group.topics {
                for p in &topic.partitions {
                    take(&topic.name.0, p.partition_index, p.committed_offset, p.error_code)?;
                }
            }
        } else {
            self.check_group_error(response.error_code)?;
            for topic in &response.topics {
                for p in &topic.partitions {
                    take(&topic.name.0, p.partition_index, p.committed_offset, p.error_code)?;
                }
            }
        }
        Ok(offsets)
    }

    fn check_group_error(&self, error_code: i16) -> Result<()> {
        if error_code != 0 {
            return Err(self.refusal(error_code, format!("OffsetFetch for group {:?}", self.group)));
        }
        Ok(())
    }

    /// A broker error; a coordinator move also forgets the coordinator so
    /// that the retry looks it up again.
    fn refusal(&self, kafka_code: i16, context: String) -> Error {
        if coordinator_moved(kafka_code) {
            *self.address.locked() = None;
        }
        Error::from_kafka(kafka_code, context)
    }

    /// Runs `exchange` against the coordinator, looking it up as needed,
    /// and again after a coordinator move or a lost connection, until the
    /// request timeout.
    async fn with_coordinator<T, F, Fut>(&self, cluster: &KafkaCluster, exchange: F) -> Result<T>
    where
        F: Fn(Arc<BrokerConnection>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + cluster.options().request_timeout;
        loop {
            let attempt = async {
                let connection = self.coordinator(cluster, deadline).await?;
                exchange(connection).await
            };
            let error = match attempt.await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retriable = error.code() == ErrorCode::Transport || error.kafka_code().is_some_and(coordinator_moved);
            if !retriable || Instant::now() + COORDINATOR_RETRY_PAUSE >= deadline {
                return Err(error.context(format!("group {:?}", self.group)));
            }
            *self.address.locked() = None;
            tokio::time::sleep(COORDINATOR_RETRY_PAUSE).await;
        }
    }

    /// Forgets the coordinator: the next request looks it up again.
    pub fn forget(&self) {
        *self.address.locked() = None;
    }

    /// The coordinator's connection, looked up as needed, by `deadline`.
    pub async fn connection(&self, cluster: &KafkaCluster, deadline: Instant) -> Result<Arc<BrokerConnection>> {
        self.coordinator(cluster, deadline).await
    }

    /// A new connection to the coordinator, outside the cluster's pool:
    /// for a request that must not queue behind one still parked on the
    /// pooled connection (a LeaveGroup behind an abandoned JoinGroup).
    pub async fn new_connection(&self, cluster: &KafkaCluster, deadline: Instant) -> Result<BrokerConnection> {
        let known = self.address.locked().clone();
        let address = match known {
            Some(address) => address,
            None => self.find_coordinator(cluster, deadline).await?,
        };
        BrokerConnection::connect(&address, cluster.options()).await
    }

    async fn coordinator(&self, cluster: &KafkaCluster, deadline: Instant) -> Result<Arc<BrokerConnection>> {
        let known = self.address.locked().clone();
        let address = match known {
            Some(address) => address,
            None => {
                let address = self.find_coordinator(cluster, deadline).await?;
                *self.address.locked() = Some(address.clone());
                address
            }
        };
        cluster.connection(&address, deadline).await
    }

    async fn find_coordinator(&self, cluster: &KafkaCluster, deadline: Instant) -> Result<String> {
        let connection = cluster.any_connection(deadline).await?;
        let version = connection.versions().version_for::<FindCoordinatorRequest>()?;
        let key = StrBytes::from_string(self.group.clone());
        // v4 asks for several keys at once; earlier versions for one.
        let request = if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![key])
        } else {
            FindCoordinatorRequest::default().with_key(key)
        };
        let (response, version) = connection.send(&request).await?;
        let (error_code, host, port) = if version >= 4 {
            let found = response.coordinators.first().ok_or_else(|| {
                Error::new(
                    ErrorCode::Protocol,
                    format!("FindCoordinator for group {:?}: empty answer", self.group),
                )
            })?;
            (found.error_code, found.host.to_string(), found.port)
        } else {
            (response.error_code, response.host.to_string(), response.port)
        };
        if error_code != 0 {
            return Err(self.refusal(error_code, format!("FindCoordinator for group {:?}", self.group)));
        }
        Ok(broker_address(&host, port))
    }
}

fn offset_fetch_request(group: &str, by_topic: &BTreeMap<&str, Vec<i32>>, version: i16) -> OffsetFetchRequest {
    // v8 moved the group and its topics into a list of groups.
    if version >= 8 {
        let topics = topic_entries(by_topic, |name, partitions| {
            OffsetFetchRequestTopics::default()
                .with_name(name)
                .with_partition_indexes(partitions)
        });
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(group_id(group))
            .with_topics(Some(topics))])
    } else {
        let topics = topic_entries(by_topic, |name, partitions| {
            OffsetFetchRequestTopic::default()
                .with_name(name)
                .with_partition_indexes(partitions)
        });
        OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(Some(topics))
    }
}

/// One request entry per topic, of whichever type the request version wants.
fn topic_entries<T>(by_topic: &BTreeMap<&str, Vec<i32>>, entry: impl Fn(TopicName, Vec<i32>) -> T) -> Vec<T> {
    by_topic
        .iter()
        .map(|(topic, partitions)| entry(topic_name(topic), partitions.clone()))
        .collect()
}

/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR:
/// look the coordinator up again and retry.
fn coordinator_moved(kafka_code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(kafka_code),
        Some(
            ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
        )
    )
}

/// `group` as the protocol's group id.
pub(crate) fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}
