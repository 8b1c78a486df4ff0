//! `KafkaConsumerConfig(group_id, cluster, **options)` (docs/configuration.md): the
//! consumer's option table with the Python library's names and defaults,
//! and [`ConsumerConfig`], the validated view every consumer runs with.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{ClientOptions, ClusterConfig, Config, OptionKind, OptionSpec, CLIENT_OPTIONS, MS_MAX};
use crate::error::{Error, Result};
use crate::offsets::storage::{OffsetStorageKind, OFFSET_STORAGE_OPTION};

/// Options of a consumer configuration (besides [`CLIENT_OPTIONS`], whose
/// `client_id` defaults to `yelp-kafka` as Python yelp_kafka's does).
pub const CONSUMER_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "auto_offset_reset",
        kind: OptionKind::Choice(&["smallest", "largest", "earliest", "latest"]),
        default: "largest",
        doc: "Where to start when the group has no valid offset: smallest (the oldest message kept) or largest (the next message written); earliest and latest, librdkafka's names, are the same.",
    },
    OptionSpec {
        name: "auto_commit_enable",
        kind: OptionKind::Bool,
        default: "true",
        doc: "Commit processed offsets by themselves (by messages or by time, whichever comes first) and on close.",
    },
    OptionSpec {
        name: "auto_commit_interval_ms",
        kind: OptionKind::Int { min: 1, max: MS_MAX },
        default: "60000",
        doc: "Auto-commit at least this often.",
    },
    OptionSpec {
        name: "auto_commit_interval_messages",
        kind: OptionKind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "100",
        doc: "Auto-commit after this many task_done calls, at most every 10 ms (0: by time only).",
    },
    OptionSpec {
        name: "consumer_timeout_ms",
        kind: OptionKind::Int {
            min: i32::MIN as i64,
            max: MS_MAX,
        },
        default: "100",
        doc: "How long next() waits for a message before ConsumerTimeout; negative waits forever.",
    },
    OptionSpec {
        name: "fetch_min_bytes",
        kind: OptionKind::Int { min: 1, max: 1 << 30 },
        default: "1",
        doc: "Bytes a broker gathers before it answers a fetch (or fetch_wait_max_ms passes).",
    },
    OptionSpec {
        name: "fetch_wait_max_ms",
        kind: OptionKind::Int { min: 0, max: MS_MAX },
        default: "100",
        doc: "How long a broker may hold a fetch waiting for fetch_min_bytes.",
    },
    OptionSpec {
        name: "fetch_message_max_bytes",
        kind: OptionKind::Int {
            min: 1024,
            max: 1 << 30,
        },
        default: "2097152",
        doc: "Bytes fetched per partition and request, at most.",
    },
    OptionSpec {
        name: "fetch_max_bytes",
        kind: OptionKind::Int {
            min: 1024,
            max: 1 << 30,
        },
        default: "2097152",
        doc: "Bytes one fetch answer holds over all its partitions, at most (librdkafka's fetch.max.bytes); never less than fetch_message_max_bytes.",
    },
    OptionSpec {
        name: "queued_max_messages_kbytes",
        kind: OptionKind::Int {
            min: 1,
            max: 2_097_151,
        },
        default: "65536",
        doc: "Kilobytes of fetched messages the consumer keeps ahead of the application over all its partitions (librdkafka's queued.max.messages.kbytes): no fetch starts while the queue holds this much; fetches out already still land, and an empty queue always fetches.",
    },
    OptionSpec {
        name: "partitioner_cooldown",
        kind: OptionKind::Text,
        default: "30",
        doc: "Seconds (decimals allowed) a group's membership must stay unchanged before partitions are allocated.",
    },
    OptionSpec {
        name: "use_group_sha",
        kind: OptionKind::Bool,
        default: "true",
        doc: "Put the SHA-1 of the topic list in the group's ZooKeeper path, so that groups of other topics do not mix.",
    },
    OptionSpec {
        name: "zookeeper_session_timeout_ms",
        kind: OptionKind::Int {
            min: 1000,
            max: 3_600_000,
        },
        default: "10000",
        doc: "The ZooKeeper session timeout a group member asks for (the server may grant less). A member killed or cut off is replaced this long after it went silent, plus the cooldown; a member hands out and commits nothing once its session was last confirmed two thirds of it ago.",
    },
    OptionSpec {
        name: "zookeeper_connect_timeout_ms",
        kind: OptionKind::Int { min: 1, max: MS_MAX },
        default: "5000",
        doc: "How long a group member keeps trying to open its ZooKeeper session (refused connections are tried again) before start fails.",
    },
    OptionSpec {
        name: "max_termination_timeout_secs",
        kind: OptionKind::Int { min: 0, max: 86400 },
        default: "10",
        doc: "How long a multiprocessing group waits for a worker to stop before it kills it.",
    },
    OFFSET_STORAGE_OPTION,
    OptionSpec {
        name: "group_protocol",
        kind: OptionKind::Choice(&["zookeeper", "kafka", "kafka_consumer"]),
        default: "zookeeper",
        doc: "How a consumer group's members split the partitions: zookeeper (the set partitioner Python yelp_kafka members share), kafka (Kafka's classic group protocol, shared with Java and librdkafka members; no ZooKeeper needed, offsets stored in Kafka, the ZooKeeper options ignored; offset_storage set to anything but kafka is a ConfigurationError) or kafka_consumer (Kafka's next-generation protocol, KIP-848: the coordinator computes the split, group_remote_assignor chooses how; otherwise as kafka. A broker without ConsumerGroupHeartbeat fails the group with ConsumerGroupError).",
    },
    OptionSpec {
        name: "group_remote_assignor",
        kind: OptionKind::Choice(&["", "uniform", "range"]),
        default: "",
        doc: "With group_protocol=kafka_consumer: the coordinator's assignor for the group (uniform or range, librdkafka's group.remote.assignor); empty: the coordinator's default.",
    },
    OptionSpec {
        name: "partition_assignment_strategy",
        kind: OptionKind::Choice(crate::kafka::assignors::ASSIGNOR_NAMES),
        default: "range",
        doc: "With group_protocol=kafka: the assignor this member offers, by librdkafka's partition.assignment.strategy names (range, roundrobin; cooperative-sticky rebalances incrementally); every member of a group must offer the same.",
    },
    OptionSpec {
        name: "session_timeout_ms",
        kind: OptionKind::Int {
            min: 1000,
            max: 3_600_000,
        },
        default: "45000",
        doc: "With group_protocol=kafka: a member the coordinator has not heard from this long is removed from the group.",
    },
    OptionSpec {
        name: "heartbeat_interval_ms",
        kind: OptionKind::Int { min: 1, max: 3_600_000 },
        default: "3000",
        doc: "With group_protocol=kafka: how often a member tells the coordinator it is alive (and learns of rebalances); below session_timeout_ms.",
    },
    OptionSpec {
        name: "max_poll_interval_ms",
        kind: OptionKind::Int {
            min: 1000,
            max: i32::MAX as i64,
        },
        default: "300000",
        doc: "With group_protocol=kafka: a member whose application has not called next() for this long leaves the group; its next call fails with ConsumerGroupError. Also the rebalance timeout.",
    },
    OptionSpec {
        name: "group_instance_id",
        kind: OptionKind::Text,
        default: "",
        doc: "With group_protocol=kafka: a static member's id (empty: dynamic membership). A static member keeps its partitions across a restart within session_timeout_ms.",
    },
    OptionSpec {
        name: "metrics_dimensions",
        kind: OptionKind::Text,
        default: "",
        doc: "Extra metrics dimensions, `name=value` pairs separated by commas.",
    },
];

/// The offset storage of a `group_protocol=kafka` member: Kafka, where the
/// coordinator checks each commit against the member's generation. An
/// `offset_storage` set to anything else is a `ConfigurationError` (such
/// commits would bypass that check); so is a heartbeat interval that is
/// not below the session timeout.
fn kafka_group_storage(values: &Config, group: &KafkaGroupOptions) -> Result<OffsetStorageKind> {
    if let Some(storage) = values.get(OFFSET_STORAGE_OPTION.name) {
        if storage != "kafka" {
            return Err(Error::configuration(format!(
                "offset_storage={storage} with group_protocol=kafka: a Kafka group stores its offsets in Kafka (set offset_storage=kafka or leave it out)"
            )));
        }
    }
    if group.heartbeat_interval >= group.session_timeout {
        return Err(Error::configuration(format!(
            "heartbeat_interval_ms ({}) must be below session_timeout_ms ({})",
            group.heartbeat_interval.as_millis(),
            group.session_timeout.as_millis()
        )));
    }
    Ok(OffsetStorageKind::Kafka)
}

/// Where a consumer starts when the group has no valid offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The oldest message kept (the low watermark).
    Smallest,
    /// The next message written (the high watermark).
    Largest,
}

impl OffsetReset {
    /// The ListOffsets timestamp that finds this watermark.
    pub fn list_offsets_timestamp(self) -> i64 {
        match self {
            OffsetReset::Smallest => crate::kafka::cluster::EARLIEST_OFFSET,
            OffsetReset::Largest => crate::kafka::cluster::LATEST_OFFSET,
        }
    }
}

/// A validated consumer configuration: the group, the cluster and every
/// option, typed.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    group_id: String,
    cluster: ClusterConfig,
    values: Config,
    /// Connection and request options.
    pub client: ClientOptions,
    /// Start position without a valid committed offset.
    pub auto_offset_reset: OffsetReset,
    /// Whether offsets are committed automatically.
    pub auto_commit_enable: bool,
    /// Auto-commit period.
    pub auto_commit_interval: Duration,
    /// Auto-commit after this many task_done calls (0: never by count).
    pub auto_commit_interval_messages: u64,
    /// How long `next` waits; `None` waits forever.
    pub consumer_timeout: Option<Duration>,
    /// `fetch_min_bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch_wait_max_ms`.
    pub fetch_wait_max: Duration,
    /// `fetch_message_max_bytes`.
    pub fetch_message_max_bytes: i32,
    /// `queued_max_messages_kbytes`, in bytes.
    pub queued_max_bytes: usize,
    /// `fetch_max_bytes`.
    pub fetch_max_bytes: i32,
    /// Membership quiet time before allocation.
    pub partitioner_cooldown: Duration,
    /// SHA-1 of the topics in the group path.
    pub use_group_sha: bool,
    /// The ZooKeeper session timeout a group member asks for.
    pub zookeeper_session_timeout: Duration,
    /// How long opening a group member's ZooKeeper session may take.
    pub zookeeper_connect_timeout: Duration,
    /// Worker termination wait.
    pub max_termination_timeout: Duration,
    /// Where offsets are stored.
    pub offset_storage: OffsetStorageKind,
    /// Extra metrics dimensions, in the order given.
    pub metrics_dimensions: Vec<(String, String)>,
    /// How a group's members balance; `Some` for Kafka's group protocol.
    pub kafka_group: Option<KafkaGroupOptions>,
}

/// The options of a member of Kafka's classic group protocol
/// (`group_protocol=kafka`, docs/consumer-groups.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaGroupOptions {
    /// The next-generation protocol (`group_protocol=kafka_consumer`, KIP-848).
    pub consumer_protocol: bool,
    /// The assignor this member offers (`partition_assignment_strategy`),
    /// or with the next-generation protocol the coordinator's assignor it
    /// asks for (`group_remote_assignor`, empty: the coordinator's default).
    pub assignor: String,
    /// `session_timeout_ms`.
    pub session_timeout: Duration,
    /// `heartbeat_interval_ms`.
    pub heartbeat_interval: Duration,
    /// `max_poll_interval_ms`, also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// `group_instance_id`, `None` when empty.
    pub group_instance_id: Option<String>,
}

impl ConsumerConfig {
    /// Validates `values` against the consumer and client tables: an
    /// unknown key or a bad value is a `ConfigurationError` naming the key;
    /// a group id [`check_group_id`] refuses too.
    pub fn new(group_id: &str, cluster: &ClusterConfig, values: &Config) -> Result<ConsumerConfig> {
        check_group_id(group_id).map_err(Error::configuration)?;
        values.validate(&[CLIENT_OPTIONS, CONSUMER_OPTIONS])?;
        let options = values.reader(CONSUMER_OPTIONS);
        let int = |name: &str| options.int(name);
        let millis = |name: &str| options.millis(name);
        let consumer_timeout_ms = int("consumer_timeout_ms")?;
        let kafka_group = match options.text("group_protocol") {
            protocol @ ("kafka" | "kafka_consumer") => Some(KafkaGroupOptions {
                consumer_protocol: protocol == "kafka_consumer",
                assignor: match protocol {
                    "kafka" => options.text("partition_assignment_strategy"),
                    _ => options.text("group_remote_assignor"),
                }
                .to_string(),
                session_timeout: millis("session_timeout_ms")?,
                heartbeat_interval: millis("heartbeat_interval_ms")?,
                max_poll_interval: millis("max_poll_interval_ms")?,
                group_instance_id: Some(options.text("group_instance_id").to_string()).filter(|id| !id.is_empty()),
            }),
            _ => None,
        };
        let offset_storage = match &kafka_group {
            Some(group) => kafka_group_storage(values, group)?,
            None => OffsetStorageKind::from_config(values)?,
        };
        Ok(ConsumerConfig {
            group_id: group_id.to_string(),
            cluster: cluster.clone(),
            values: values.clone(),
            client: ClientOptions::from_config(values)?,
            auto_offset_reset: match options.text("auto_offset_reset") {
                // librdkafka and the Java client spell them earliest/latest.
                "smallest" | "earliest" => OffsetReset::Smallest,
                _ => OffsetReset::Largest,
            },
            auto_commit_enable: options.bool("auto_commit_enable")?,
            auto_commit_interval: millis("auto_commit_interval_ms")?,
            auto_commit_interval_messages: int("auto_commit_interval_messages")? as u64,
            consumer_timeout: (consumer_timeout_ms >= 0).then(|| Duration::from_millis(consumer_timeout_ms as u64)),
            fetch_min_bytes: int("fetch_min_bytes")? as i32,
            fetch_wait_max: millis("fetch_wait_max_ms")?,
            fetch_message_max_bytes: int("fetch_message_max_bytes")? as i32,
            queued_max_bytes: int("queued_max_messages_kbytes")? as usize * 1024,
            fetch_max_bytes: int("fetch_max_bytes")? as i32,
            partitioner_cooldown: parse_seconds("partitioner_cooldown", options.text("partitioner_cooldown"))?,
            use_group_sha: options.bool("use_group_sha")?,
            zookeeper_session_timeout: millis("zookeeper_session_timeout_ms")?,
            zookeeper_connect_timeout: millis("zookeeper_connect_timeout_ms")?,
            max_termination_timeout: Duration::from_secs(int("max_termination_timeout_secs")? as u64),
            offset_storage,
            metrics_dimensions: parse_dimensions(options.text("metrics_dimensions"))?,
            kafka_group,
        })
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The cluster.
    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// The options as set, before typing.
    pub fn values(&self) -> &Config {
        &self.values
    }

    /// The options as set, with the metrics dimension `name=value` after
    /// those set before. A `,` or `=` in either part is a `ConfigurationError`
    /// (the option's text could not hold it); so are the option's own checks.
    pub fn values_with_metrics_dimension(&self, name: &str, value: &str) -> Result<Config> {
        if name.contains([',', '=']) || value.contains([',', '=']) {
            return Err(Error::configuration(format!(
                "metrics dimension {name:?}={value:?}: neither part may hold ',' or '='"
            )));
        }
        let text: Vec<String> = self
            .metrics_dimensions
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain([(name, value)])
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let mut values = self.values.clone();
        values.set("metrics_dimensions", &text.join(","))?;
        Ok(values)
    }

    /// What is in force: the group and cluster, then one `key = value` line
    /// per option (consumer options first), defaults marked `(default)`.
    pub fn effective(&self) -> String {
        let mut dump = String::new();
        let _ = writeln!(dump, "group_id = {}", self.group_id);
        let _ = writeln!(
            dump,
            "cluster = {}/{} brokers {} zookeeper {}",
            self.cluster.cluster_type(),
            self.cluster.name(),
            self.cluster.broker_list().join(","),
            self.cluster.zookeeper()
        );
        dump.push_str(&self.values.effective(&[CONSUMER_OPTIONS, CLIENT_OPTIONS]));
        dump
    }
}

/// Why `group_id` cannot name a group, if it cannot. A group id is one
/// node name in ZooKeeper paths (`/consumers/<group>/offsets`,
/// `/yelp-kafka/<group>`: docs/offsets.md, docs/consumer-groups.md), so it
/// must not be empty, hold `/` or NUL, or be `.` or `..`: any of those
/// would reach another group's nodes or a path ZooKeeper refuses
/// (docs/configuration.md).
pub(crate) fn check_group_id(group_id: &str) -> std::result::Result<(), String> {
    let why = if group_id.is_empty() {
        "is empty"
    } else if group_id == "." || group_id == ".." {
        "is '.' or '..'"
    } else if group_id.contains('/') {
        "holds '/'"
    } else if group_id.contains('\0') {
        "holds a NUL"
    } else {
        return Ok(());
    };
    Err(format!("group_id {group_id:?} {why}"))
}

fn parse_seconds(key: &str, text: &str) -> Result<Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0 && *seconds <= 86400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::configuration(format!(
                "configuration key {key:?}: value {text:?} is not a number of seconds in 0..=86400"
            ))
        })
}

/// Parses `name=value,name=value`; names are non-empty and unique, and
/// neither part may hold `,` or `=`.
pub fn parse_dimensions(text: &str) -> Result<Vec<(String, String)>> {
    let mut dimensions: Vec<(String, String)> = Vec::new();
    for entry in text.split(',').filter(|entry| !entry.trim().is_empty()) {
        let bad = |why: &str| {
            Error::configuration(format!(
                "configuration key \"metrics_dimensions\": entry {entry:?} {why}"
            ))
        };
        let (name, value) = entry.split_once('=').ok_or_else(|| bad("is not name=value"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.contains('=') {
            return Err(bad("is not name=value"));
        }
        if dimensions.iter().any(|(known, _)| known == name) {
            return Err(bad("repeats a name"));
        }
        dimensions.push((name.to_string(), value.to_string()));
    }
    Ok(dimensions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn cluster() -> ClusterConfig {
        ClusterConfig::from_broker_string("standard", "c1", "b1:9092", "z1:2181/kafka").unwrap()
    }

    fn config(pairs: &[(&str, &str)]) -> Result<ConsumerConfig> {
        let mut values = Config::new();
        for (key, value) in pairs {
            values.set(key, value).unwrap();
        }
        ConsumerConfig::new("group-1", &cluster(), &values)
    }

    #[test]
    fn defaults_are_python_yelp_kafkas() {
        let config = config(&[]).unwrap();
        assert_eq!(config.auto_offset_reset, OffsetReset::Largest);
        assert!(config.auto_commit_enable);
        assert_eq!(config.auto_commit_interval, Duration::from_secs(60));
        assert_eq!(config.auto_commit_interval_messages, 100);
        assert_eq!(config.consumer_timeout, Some(Duration::from_millis(100)));
        assert_eq!(config.fetch_message_max_bytes, 2 * 1024 * 1024);
        assert_eq!(config.fetch_max_bytes, 2 * 1024 * 1024);
        assert_eq!(config.client.client_id, "yelp-kafka");
        assert_eq!(config.partitioner_cooldown, Duration::from_secs(30));
        assert!(config.use_group_sha);
        assert_eq!(config.max_termination_timeout, Duration::from_secs(10));
        assert_eq!(config.zookeeper_session_timeout, crate::zk::SESSION_TIMEOUT);
        assert_eq!(config.zookeeper_connect_timeout, Duration::from_secs(5));
        assert_eq!(config.offset_storage, OffsetStorageKind::Zookeeper);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_configuration_errors_naming_the_key() {
        for (key, value) in [
            ("auto_offset_rest", "smallest"),
            ("auto_offset_reset", "oldest"),
            ("auto_commit_enable", "maybe"),
            ("fetch_message_max_bytes", "12"),
            ("fetch_max_bytes", "1023"),
            ("partitioner_cooldown", "-1"),
            ("offset_storage", "redis"),
            ("metrics_dimensions", "service"),
            ("request_timeout_ms", "0"),
            ("zookeeper_session_timeout_ms", "999"),
            ("zookeeper_connect_timeout_ms", "0"),
        ] {
            let error = config(&[(key, value)]).unwrap_err();
            assert_eq!(error.code(), ErrorCode::Configuration, "{key}={value}: {error}");
            assert!(error.message().contains(key), "{key}: {error}");
        }
        let error = ConsumerConfig::new("", &cluster(), &Config::new()).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Configuration);
    }

    #[test]
    fn group_ids_cannot_leave_their_zookeeper_node() {
        for bad in ["g-ok/offsets", "/", "..", ".", "a\0b"] {
            let error = ConsumerConfig::new(bad, &cluster(), &Config::new()).unwrap_err();
            assert_eq!(error.code(), ErrorCode::Configuration, "{bad:?}");
            assert!(error.message().contains(&format!("{bad:?}")), "{bad:?}: {error}");
        }
        for good in ["g", "my group:1", "...", "g.", "caf\u{e9}"] {
            assert_eq!(
                ConsumerConfig::new(good, &cluster(), &Config::new())
                    .unwrap()
                    .group_id(),
                good
            );
        }
    }

    #[test]
    fn earliest_and_latest_are_smallest_and_largest() {
        for (value, reset) in [
            ("smallest", OffsetReset::Smallest),
            ("earliest", OffsetReset::Smallest),
            ("largest", OffsetReset::Largest),
            ("latest", OffsetReset::Largest),
        ] {
            let config = config(&[("auto_offset_reset", value)]).unwrap();
            assert_eq!(config.auto_offset_reset, reset, "{value}");
            assert!(config.effective().contains(&format!("auto_offset_reset = {value}\n")));
        }
    }

    #[test]
    fn a_negative_consumer_timeout_waits_forever_and_cooldowns_take_decimals() {
        let config = config(&[("consumer_timeout_ms", "-1"), ("partitioner_cooldown", "0.25")]).unwrap();
        assert_eq!(config.consumer_timeout, None);
        assert_eq!(config.partitioner_cooldown, Duration::from_millis(250));
    }

    #[test]
    fn metrics_dimensions_are_name_value_pairs() {
        let config = config(&[("metrics_dimensions", "service=billing, habitat = uswest1")]).unwrap();
        assert_eq!(
            config.metrics_dimensions,
            [
                ("service".to_string(), "billing".to_string()),
                ("habitat".to_string(), "uswest1".to_string())
            ]
        );
        assert!(parse_dimensions("a=1,a=2").is_err());
        assert!(parse_dimensions("=1").is_err());
    }

    #[test]
    fn the_effective_configuration_lists_every_option() {
        let dump = config(&[("auto_offset_reset", "smallest")]).unwrap().effective();
        assert!(dump.starts_with("group_id = group-1\n"), "{dump}");
        assert!(dump.contains("auto_offset_reset = smallest\n"), "{dump}");
        assert!(
            dump.contains("auto_commit_interval_messages = 100 (default)\n"),
            "{dump}"
        );
        assert!(dump.contains("client_id = yelp-kafka (default)\n"), "{dump}");
        for spec in CONSUMER_OPTIONS.iter().chain(CLIENT_OPTIONS) {
            assert!(dump.contains(&format!("\n{} = ", spec.name)), "{} missing", spec.name);
        }
    }

    #[test]
    fn group_protocol_kafka_takes_the_java_clients_defaults_and_stores_offsets_in_kafka() {
        assert_eq!(config(&[]).unwrap().kafka_group, None);
        let kafka = config(&[("group_protocol", "kafka")]).unwrap();
        assert_eq!(kafka.offset_storage, OffsetStorageKind::Kafka);
        assert_eq!(
            kafka.kafka_group,
            Some(KafkaGroupOptions {
                consumer_protocol: false,
                assignor: "range".into(),
                session_timeout: Duration::from_secs(45),
                heartbeat_interval: Duration::from_secs(3),
                max_poll_interval: Duration::from_secs(300),
                group_instance_id: None,
            })
        );
        let explicit = config(&[("group_protocol", "kafka"), ("offset_storage", "kafka")]).unwrap();
        assert_eq!(explicit.offset_storage, OffsetStorageKind::Kafka);
    }

    #[test]
    fn group_protocol_kafka_consumer_asks_for_the_remote_assignor() {
        let group = config(&[("group_protocol", "kafka_consumer")])
            .unwrap()
            .kafka_group
            .unwrap();
        assert!(group.consumer_protocol);
        assert_eq!(group.assignor, "");
        let uniform = config(&[
            ("group_protocol", "kafka_consumer"),
            ("group_remote_assignor", "uniform"),
        ])
        .unwrap()
        .kafka_group
        .unwrap();
        assert_eq!(uniform.assignor, "uniform");
        assert!(config(&[
            ("group_protocol", "kafka_consumer"),
            ("group_remote_assignor", "sticky")
        ])
        .is_err());
        assert!(config(&[("group_protocol", "kafka_consumer"), ("offset_storage", "dual")]).is_err());
    }

    #[test]
    fn group_protocol_kafka_refuses_zookeeper_offsets_and_a_heartbeat_past_the_session() {
        for pairs in [
            &[("group_protocol", "kafka"), ("offset_storage", "zookeeper")][..],
            &[("group_protocol", "kafka"), ("offset_storage", "dual")][..],
            &[
                ("group_protocol", "kafka"),
                ("session_timeout_ms", "6000"),
                ("heartbeat_interval_ms", "6000"),
            ][..],
            &[("group_protocol", "kafka"), ("partition_assignment_strategy", "sticky")][..],
        ] {
            let error = config(pairs).unwrap_err();
            assert_eq!(error.code(), ErrorCode::Configuration, "{pairs:?}");
        }
    }
}
