//! One Kafka cluster as the engine sees it: connections per broker address
//! (created on demand, replaced when they fail, with backoff), bootstrap over
//! every configured broker, the metadata cache, and leader routing.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, MetadataRequest};

use crate::config::ClientOptions;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::broker::BrokerConnection;
use crate::kafka::metadata::ClusterMetadata;
use crate::kafka::topic_name;
use crate::sync::{Locking, ReadWriteLocking};

/// ListOffsets timestamp asking for the next offset to be written (high watermark).
pub const LATEST_OFFSET: i64 = -1;
/// ListOffsets timestamp asking for the first offset kept (low watermark).
pub const EARLIEST_OFFSET: i64 = -2;

#[derive(Default)]
struct BrokerSlot {
    connection: Option<Arc<BrokerConnection>>,
    failures: u32,
    next_attempt: Option<Instant>,
}

/// The engine's client for one cluster.
pub struct KafkaCluster {
    bootstrap: Vec<String>,
    options: ClientOptions,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<BrokerSlot>>>>,
    metadata: RwLock<Arc<ClusterMetadata>>,
    metadata_generation: AtomicU64,
}

impl KafkaCluster {
    /// A client for the cluster whose bootstrap brokers are `bootstrap`. Nothing connects yet.
    pub fn new(bootstrap: Vec<String>, options: ClientOptions) -> KafkaCluster {
        KafkaCluster {
            bootstrap,
            options,
            slots: Mutex::new(HashMap::new()),
            metadata: RwLock::new(Arc::new(ClusterMetadata::empty())),
            metadata_generation: AtomicU64::new(0),
        }
    }

    /// The options this client runs with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The last metadata received (empty before the first lookup).
    pub fn cached_metadata(&self) -> Arc<ClusterMetadata> {
        Arc::clone(&self.metadata.read_locked())
    }

    /// Increases each time the metadata cache changes: what was derived
    /// from the cache is current while this number is unchanged.
    pub fn metadata_generation(&self) -> u64 {
        self.metadata_generation.load(Ordering::Acquire)
    }

    /// A live connection to `address`, reusing the current one or reconnecting.
    /// After a failure the next attempt waits out the backoff, unless that
    /// would pass `deadline`.
    pub async fn connection(&self, address: &str, deadline: Instant) -> Result<Arc<BrokerConnection>> {
        let slot = {
            let mut slots = self.slots.locked();
            Arc::clone(slots.entry(address.to_string()).or_default())
        };
        let mut slot = slot.lock().await;
        if let Some(connection) = slot.connection.as_ref().filter(|c| !c.is_poisoned()) {
            return Ok(Arc::clone(connection));
        }
        slot.connection = None;
        if let Some(next_attempt) = slot.next_attempt {
            if next_attempt > deadline {
                return Err(Error::new(
                    ErrorCode::Transport,
                    format!("{address}: backing off after {} failed connects", slot.failures),
                ));
            }
            tokio::time::sleep_until(next_attempt.into()).await;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut options = self.options.clone();
        options.connect_timeout = options.connect_timeout.min(remaining);
        match BrokerConnection::connect(address, &options).await {
            Ok(connection) => {
                let connection = Arc::new(connection);
                slot.connection = Some(Arc::clone(&connection));
                slot.failures = 0;
                slot.next_attempt = None;
                Ok(connection)
            }
            Err(error) => {
                slot.failures += 1;
                let exponent = (slot.failures - 1).min(16);
                let backoff = self
                    .options
                    .reconnect_backoff
                    .saturating_mul(1 << exponent)
                    .min(self.options.reconnect_backoff_max);
                slot.next_attempt = Some(Instant::now() + backoff);
                Err(error)
            }
        }
    }

    /// A connection to the broker with node id `node_id`, from cached metadata.
    pub async fn broker_connection(&self, node_id: i32, deadline: Instant) -> Result<Arc<BrokerConnection>> {
        let address = self
            .cached_metadata()
            .brokers
            .get(&node_id)
            .map(|b| b.address())
            .ok_or_else(|| Error::new(ErrorCode::Transport, format!("broker {node_id} is not in the metadata")))?;
        self.connection(&address, deadline).await
    }

    /// A connection to any broker that answers: known brokers first, then
    /// the bootstrap list (for requests any broker serves, as InitProducerId).
    pub async fn any_connection(&self, deadline: Instant) -> Result<Arc<BrokerConnection>> {
        let mut last_error = None;
        for address in self.candidate_addresses() {
            match self.connection(&address, deadline).await {
                Ok(connection) => return Ok(connection),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error
            .unwrap_or_else(|| Error::new(ErrorCode::KafkaUnavailable, "no broker address known"))
            .with_code(ErrorCode::KafkaUnavailable))
    }

    /// Fetches metadata for `topics` (`None`: every topic) from the first
    /// broker that answers — known brokers first, then the bootstrap list —
    /// and updates the cache. Tries again in rounds until `metadata_timeout`;
    /// then `KafkaUnavailableError` listing what each broker said.
    pub async fn fetch_metadata(&self, topics: Option<&[String]>) -> Result<Arc<ClusterMetadata>> {
        let deadline = Instant::now() + self.options.metadata_timeout;
        let mut failures: BTreeMap<String, Error> = BTreeMap::new();
        let mut round = 0u32;
        while Instant::now() < deadline {
            for address in self.candidate_addresses() {
                if Instant::now() >= deadline {
                    break;
                }
                match self.metadata_from(&address, topics, deadline).await {
                    Ok(fresh) => return Ok(self.store_metadata(fresh, topics.is_none())),
                    Err(error) => {
                        failures.insert(address, error);
                    }
                }
            }
            round += 1;
            let pause = self
                .options
                .reconnect_backoff
                .saturating_mul(1 << round.min(8))
                .min(self.options.reconnect_backoff_max)
                .max(Duration::from_millis(10));
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(pause.min(remaining)).await;
        }
        let detail: Vec<String> = failures.iter().map(|(a, e)| format!("{a}: {}", e.message())).collect();
        Err(Error::new(
            ErrorCode::KafkaUnavailable,
            format!(
                "no broker answered a metadata request within {:?} ({})",
                self.options.metadata_timeout,
                if detail.is_empty() {
                    "no attempt possible".to_string()
                } else {
                    detail.join("; ")
                }
            ),
        ))
    }

    fn candidate_addresses(&self) -> Vec<String> {
        let mut addresses: Vec<String> = self.cached_metadata().brokers.values().map(|b| b.address()).collect();
        for address in &self.bootstrap {
            if !addresses.contains(address) {
                addresses.push(address.clone());
            }
        }
        addresses
    }

    async fn metadata_from(
        &self,
        address: &str,
        topics: Option<&[String]>,
        deadline: Instant,
    ) -> Result<ClusterMetadata> {
        let connection = self.connection(address, deadline).await?;
        let version = connection.versions().version_for::<MetadataRequest>()?;
        let requested = topics.map(|names| {
            names
                .iter()
                .map(|name| MetadataRequestTopic::default().with_name(Some(topic_name(name))))
                .collect::<Vec<_>>()
        });
        // v0 has no null array: an empty list there means every topic.
        let requested = match (requested, version) {
            (None, 0) => Some(Vec::new()),
            (Some(list), 0) if list.is_empty() => {
                return Ok(ClusterMetadata::empty());
            }
            (other, _) => other,
        };
        let mut request = MetadataRequest::default().with_topics(requested);
        if version >= 4 {
            request = request.with_allow_auto_topic_creation(false);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let (response, _) = tokio::time::timeout(remaining, connection.send(&request))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorCode::RequestTimedOut,
                    format!("Metadata from {address}: deadline passed"),
                )
            })??;
        Ok(ClusterMetadata::from_response(&response))
    }

    fn store_metadata(&self, fresh: ClusterMetadata, complete: bool) -> Arc<ClusterMetadata> {
        let mut cache = self.metadata.write_locked();
        let updated = if complete { fresh } else { cache.merged_with(fresh) };
        *cache = Arc::new(updated);
        self.metadata_generation.fetch_add(1, Ordering::AcqRel);
        Arc::clone(&cache)
    }

    /// The leader's node id of `topic`/`partition`, looking the topic up when
    /// the cache does not know it. Errors: `UnknownTopicOrPartitionError`,
    /// `LeaderNotAvailableError`.
    pub async fn leader_of(&self, topic: &str, partition: i32) -> Result<i32> {
        if let Some(leader) = self.cached_metadata().leader(topic, partition) {
            return Ok(leader);
        }
        let metadata = self.fetch_metadata(Some(&[topic.to_string()])).await?;
        let topic_metadata = metadata.checked_topic(topic)?;
        let Some(partition_metadata) = topic_metadata.partitions.get(&partition) else {
            return Err(Error::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic {topic:?} has no partition {partition}"),
            ));
        };
        metadata.leader(topic, partition).ok_or_else(|| {
            let code = if partition_metadata.error_code != 0 {
                partition_metadata.error_code
            } else {
                5
            };
            Error::from_kafka(code, format!("{topic}/{partition} has no leader"))
        })
    }

    /// After an error that means the cached leaders are stale (leader moved,
    /// broker lost), fetches metadata for `topics` so that a retry goes to
    /// the right broker, and returns `error` (with a note when the refresh
    /// itself failed).
    pub async fn refresh_after(&self, error: Error, topics: &[String]) -> Error {
        match self.fetch_metadata(Some(topics)).await {
            Ok(_) => error,
            Err(refresh) => error.context(format!("metadata refresh failed too ({})", refresh.message())),
        }
    }

    /// Offsets of `partitions` of `topic` at `timestamp` ([`LATEST_OFFSET`],
    /// [`EARLIEST_OFFSET`] or a time in ms), asked of each partition's leader.
    /// A leader error refreshes metadata before it is returned.
    pub async fn list_offsets(&self, topic: &str, partitions: &[i32], timestamp: i64) -> Result<BTreeMap<i32, i64>> {
        let deadline = Instant::now() + self.options.request_timeout;
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for &partition in partitions {
            by_leader
                .entry(self.leader_of(topic, partition).await?)
                .or_default()
                .push(partition);
        }
        let mut offsets = BTreeMap::new();
        for (leader, partitions) in by_leader {
            let answered = self
                .list_offsets_at(leader, topic, &partitions, timestamp, deadline)
                .await;
            match answered {
                Ok(found) => offsets.extend(found),
                Err(error) if is_stale_leader(&error) => {
                    return Err(self.refresh_after(error, &[topic.to_string()]).await);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(offsets)
    }

    async fn list_offsets_at(
        &self,
        leader: i32,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
        deadline: Instant,
    ) -> Result<BTreeMap<i32, i64>> {
        let connection = self.broker_connection(leader, deadline).await?;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )]);
        let (response, _) = connection.send(&request).await?;
        let mut offsets = BTreeMap::new();
        for answered in response.topics.iter().flat_map(|t| t.partitions.iter()) {
            if answered.error_code != 0 {
                return Err(Error::from_kafka(
                    answered.error_code,
                    format!("ListOffsets {topic}/{} at broker {leader}", answered.partition_index),
                ));
            }
            offsets.insert(answered.partition_index, answered.offset);
        }
        if let Some(missing) = partitions.iter().find(|p| !offsets.contains_key(p)) {
            return Err(Error::new(
                ErrorCode::Protocol,
                format!("ListOffsets: broker {leader} did not answer for {topic}/{missing}"),
            ));
        }
        Ok(offsets)
    }
}

/// Whether `error` means the cached leader is no longer right.
pub fn is_stale_leader(error: &Error) -> bool {
    matches!(
        error.code(),
        ErrorCode::NotLeaderForPartition | ErrorCode::LeaderNotAvailable | ErrorCode::Transport
    )
}
