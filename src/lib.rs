//! yelp_kafka: a Kafka client library with a C ABI.
//!
//! Layers, from the outside in: `ffi` (every `extern "C"` function and all
//! `unsafe` code) calls the safe domain modules (`config`, `discovery`,
//! `error`), which use the network and protocol engine in `kafka`, driven
//! by the runtime in `engine`. `topic_partition` names topics and partitions
//! for every layer.

#![deny(unsafe_code)]

pub mod config;
pub mod consumer;
pub mod discovery;
pub mod engine;
pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
pub mod groups;
pub mod kafka;
pub mod metrics;
pub mod offsets;
pub mod producer;
pub mod set_partitioner;
mod sync;
pub mod topic_partition;
pub mod zk;

pub use error::{Error, ErrorCode, Result};
pub use topic_partition::{Topic, TopicPartition};
