//! The producer's options: one table documents every key, its default and
//! its range; [`ProducerOptions`] is the typed view the producer runs with.

use std::time::Duration;

use crate::config::{ClientOptions, Config, OptionKind, OptionSpec, CLIENT_OPTIONS, MS_MAX};
use crate::error::{Error, Result};
use crate::kafka::compression::BatchCompression;
use crate::kafka::records::{compression_by_name, COMPRESSION_NAMES};

/// Options of `yk_producer_new` (besides [`CLIENT_OPTIONS`]).
pub const PRODUCER_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "acks",
        kind: OptionKind::Choice(&["0", "1", "all", "-1"]),
        default: "1",
        doc: "Acknowledgements the leader waits for: 0 (none, no response), 1 (leader), all (every in-sync replica).",
    },
    OptionSpec {
        name: "ack_timeout_ms",
        kind: OptionKind::Int { min: 1, max: MS_MAX },
        default: "5000",
        doc: "How long the broker may wait for replica acknowledgements.",
    },
    OptionSpec {
        name: "retries",
        kind: OptionKind::Int { min: 0, max: 1_000_000 },
        default: "5",
        doc: "How many times a batch is sent again after a retriable error (leader moved, broker down, timeout).",
    },
    OptionSpec {
        name: "retry_backoff_ms",
        kind: OptionKind::Int { min: 0, max: MS_MAX },
        default: "100",
        doc: "Wait before a batch is sent again.",
    },
    OptionSpec {
        name: "linger_ms",
        kind: OptionKind::Int { min: 0, max: MS_MAX },
        default: "5",
        doc: "How long an asynchronous batch waits for more messages before it is sent (not while the queue is full; docs/producer.md).",
    },
    OptionSpec {
        name: "batch_size_bytes",
        kind: OptionKind::Int { min: 1, max: 1 << 30 },
        default: "1000000",
        doc: "A partition's batch is sent once it holds this many bytes of keys and values.",
    },
    OptionSpec {
        name: "queue_max_messages",
        kind: OptionKind::Int {
            min: 1,
            max: 100_000_000,
        },
        default: "100000",
        doc: "Messages produced but not yet delivered, at most; past it produce waits or returns YK_ERROR_QUEUE_FULL.",
    },
    OptionSpec {
        name: "queue_max_bytes",
        kind: OptionKind::Int { min: 1, max: 1 << 40 },
        default: "1073741824",
        doc: "Bytes of keys and values produced but not yet delivered, at most.",
    },
    OptionSpec {
        name: "compression",
        kind: OptionKind::Choice(COMPRESSION_NAMES),
        default: "none",
        doc: "Codec of record batches: none, gzip, snappy, lz4, zstd.",
    },
    OptionSpec {
        name: "compression_level",
        kind: OptionKind::Int { min: -1, max: 22 },
        default: "-1",
        doc: "Level of the codec, as librdkafka's compression.level: gzip 0-9, zstd 1-22, snappy and lz4 0; -1 is the codec's default (gzip 6, zstd 3).",
    },
    OptionSpec {
        name: "compress_on_produce",
        kind: OptionKind::Bool,
        default: "true",
        doc: "Whether a full batch is compressed as it is sealed, on a spare engine thread or else by the produce call that filled it (queued batches then hold their compressed size); false leaves every batch to the engine's threads, compressed when sent.",
    },
    OptionSpec {
        name: "enable_idempotence",
        kind: OptionKind::Bool,
        default: "false",
        doc: "Producer id, epoch and sequence numbers so that retries never duplicate; needs acks=all.",
    },
    OptionSpec {
        name: "report_metrics",
        kind: OptionKind::Bool,
        default: "true",
        doc: "Whether the metrics responder receives the producer's timers and counters.",
    },
    OptionSpec {
        name: "message_max_bytes",
        kind: OptionKind::Int { min: 1, max: 1 << 30 },
        default: "1000000",
        doc: "Largest key plus value accepted; a larger message is refused at once.",
    },
    OptionSpec {
        name: "delivery_timeout_ms",
        kind: OptionKind::Int { min: 1, max: MS_MAX },
        default: "120000",
        doc: "A message not acknowledged this long after it was produced fails with YK_ERROR_TIMED_OUT.",
    },
    OptionSpec {
        name: "max_in_flight_per_broker",
        kind: OptionKind::Int { min: 1, max: 100 },
        default: "5",
        doc: "Produce requests awaiting a response per broker (one batch per partition at a time keeps order).",
    },
];

/// Typed producer options.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Connection and request options.
    pub client: ClientOptions,
    /// 0, 1 or −1 (all).
    pub acks: i16,
    /// Broker-side replication timeout.
    pub ack_timeout: Duration,
    /// Retries per batch.
    pub retries: u32,
    /// Wait before a retry.
    pub retry_backoff: Duration,
    /// Batching delay.
    pub linger: Duration,
    /// Bytes that make a batch full.
    pub batch_size_bytes: usize,
    /// Undelivered messages at most.
    pub queue_max_messages: usize,
    /// Undelivered bytes at most.
    pub queue_max_bytes: usize,
    /// Batch codec and its level.
    pub compression: BatchCompression,
    /// A full batch is compressed as it is sealed, not when sent.
    pub compress_on_produce: bool,
    /// Idempotent delivery.
    pub enable_idempotence: bool,
    /// Report metrics to the responder.
    pub report_metrics: bool,
    /// Largest message.
    pub message_max_bytes: usize,
    /// Deadline of one message's delivery.
    pub delivery_timeout: Duration,
    /// Requests in flight per broker.
    pub max_in_flight_per_broker: usize,
}

impl ProducerOptions {
    /// Validates `config` against the client and producer tables.
    pub fn from_config(config: &Config) -> Result<ProducerOptions> {
        config.validate(&[CLIENT_OPTIONS, PRODUCER_OPTIONS])?;
        let options = config.reader(PRODUCER_OPTIONS);
        let int = |name: &str| options.int(name);
        let millis = |name: &str| options.millis(name);
        let acks = match options.text("acks") {
            "0" => 0,
            "1" => 1,
            _ => -1,
        };
        let enable_idempotence = options.bool("enable_idempotence")?;
        if enable_idempotence && acks != -1 {
            return Err(Error::configuration(
                "configuration key \"acks\": enable_idempotence needs acks=all",
            ));
        }
        let compression = BatchCompression::new(
            compression_by_name(options.text("compression")).expect("checked by the table"),
            int("compression_level")? as i32,
        )
        .map_err(|problem| Error::configuration(format!("configuration key \"compression_level\": {problem}")))?;
        Ok(ProducerOptions {
            client: ClientOptions::from_config(config)?,
            acks,
            ack_timeout: millis("ack_timeout_ms")?,
            retries: int("retries")? as u32,
            retry_backoff: millis("retry_backoff_ms")?,
            linger: millis("linger_ms")?,
            batch_size_bytes: int("batch_size_bytes")? as usize,
            queue_max_messages: int("queue_max_messages")? as usize,
            queue_max_bytes: int("queue_max_bytes")? as usize,
            compression,
            compress_on_produce: options.bool("compress_on_produce")?,
            enable_idempotence,
            report_metrics: options.bool("report_metrics")?,
            message_max_bytes: int("message_max_bytes")? as usize,
            delivery_timeout: millis("delivery_timeout_ms")?,
            max_in_flight_per_broker: int("max_in_flight_per_broker")? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use kafka_protocol::records::Compression;

    #[test]
    fn defaults_and_validation() {
        let options = ProducerOptions::from_config(&Config::new()).unwrap();
        assert_eq!(options.acks, 1);
        assert_eq!(options.compression, Compression::None.into());
        let mut config = Config::new();
        config.set("compression", "brotli").unwrap();
        let error = ProducerOptions::from_config(&config).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Configuration);
        assert!(error.message().contains("compression"));
        let mut config = Config::new();
        config.set("enable_idempotence", "true").unwrap();
        assert!(ProducerOptions::from_config(&config)
            .unwrap_err()
            .message()
            .contains("acks"));
        config.set("acks", "all").unwrap();
        assert!(ProducerOptions::from_config(&config).unwrap().enable_idempotence);
        let mut config = Config::new();
        config.set("lingerms", "1").unwrap();
        assert!(ProducerOptions::from_config(&config)
            .unwrap_err()
            .message()
            .contains("lingerms"));
    }

    #[test]
    fn the_compression_level_is_checked_against_the_codec() {
        let options = |codec: &str, level: &str| {
            let mut config = Config::new();
            config.set("compression", codec).unwrap();
            config.set("compression_level", level).unwrap();
            ProducerOptions::from_config(&config)
        };
        let zstd = options("zstd", "19").unwrap().compression;
        assert_eq!((zstd.compression, zstd.level), (Compression::Zstd, 19));
        assert_eq!(options("gzip", "-1").unwrap().compression.level, -1);
        let error = options("gzip", "12").unwrap_err();
        assert_eq!(error.code(), ErrorCode::Configuration);
        assert!(error.message().contains("compression_level"), "{error}");
        assert!(error.message().contains("gzip's range: 0 to 9"), "{error}");
        assert!(options("zstd", "23").is_err());
        assert!(options("snappy", "3").is_err());
        assert!(options("none", "5").is_err());
    }
}
