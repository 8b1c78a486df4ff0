//! yelp_kafka: a Kafka client library with a C ABI (docs/architecture.md).
//!
//! Layers, from the outside in, each calling only the ones below it:
//! - `ffi`: every `extern "C"` function and all `unsafe` code, one file per
//!   C object (docs/c-abi.md), but for the one audited exception of
//!   docs/architecture.md (`kafka::frame`).
//! - The domain, safe Rust and the library's Rust API: `producer`,
//!   `consumer`, `groups` (the three consumer groups), `offsets`,
//!   `discovery`, `metrics`, `config` and `error`; `set_partitioner` is
//!   kazoo's `SetPartitioner` protocol the groups balance with through
//!   ZooKeeper (with `group_protocol=kafka` they balance through Kafka's
//!   group protocol, `kafka::group_member`, instead).
//! - `kafka`: the network and protocol engine over `kafka-protocol`; `zk`:
//!   ZooKeeper sessions.
//! - `engine`: the tokio runtime the library owns, and its tasks.
//!
//! Beside them: `topic_partition` names topics and partitions for every
//! layer, `backoff` holds the waiting rules both planners share, `sync` is
//! the one lock-poisoning policy, `wakeup` holds the wakeups and ready
//! descriptors of the producer and the consumers, and `test_support`
//! opens internals to the integration tests (not part of the API).

#![deny(unsafe_code)]

mod backoff;
pub mod config;
pub mod consumer;
pub mod discovery;
pub(crate) mod engine;
pub mod error;
#[allow(unsafe_code)]
mod ffi;
pub mod groups;
pub(crate) mod kafka;
pub mod metrics;
pub mod offsets;
pub mod producer;
pub(crate) mod set_partitioner;
mod sync;
#[doc(hidden)]
pub mod test_support;
mod topic_partition;
pub(crate) mod vouch;
pub(crate) mod wakeup;
pub(crate) mod zk;

pub use error::{Error, ErrorCode, Result};
pub use topic_partition::{Topic, TopicPartition};
