//! The consumer groups: members that split the partitions of their topics
//! with every other member of the group, through the ZooKeeper set
//! partitioner (with Python yelp_kafka's members) or, with
//! `group_protocol=kafka`, through Kafka's group protocol (with Java and
//! librdkafka members).
//!
//! - `consumer_group`: Python yelp_kafka's `KafkaConsumerGroup`, the
//!   recommended consumer (`next`, `task_done`, `commit`).
//! - `callback`: the older callback-style `ConsumerGroup`, which hands
//!   every message to the application's processor until stopped.
//! - `multiprocessing`: the `MultiprocessingConsumerGroup`, a worker
//!   thread or process per acquired partition.
//! - `membership`: what the three share as members, the `Balancer` they
//!   follow among it; `run_gate`:
//!   the run-until-stopped pattern of the callback and multiprocessing
//!   groups; `metrics`: the group metric names.

pub(crate) mod callback;
pub(crate) mod consumer_group;
pub(crate) mod membership;
pub(crate) mod metrics;
pub(crate) mod multiprocessing;
pub(crate) mod run_gate;

pub use callback::{CallbackGroup, MessageProcessor};
pub use consumer_group::{ConsumerGroup, NoRebalanceHandler, RebalanceHandler};
pub use multiprocessing::process::consumer_from_env;
pub use multiprocessing::thread::{PartitionWorker, WorkerFactory};
pub use multiprocessing::{MultiprocessingGroup, WorkerInfo, WorkerKind, WorkerMode};
