//! The consumer groups: members that split the partitions of their topics
//! with every other member of the group, ours or Python yelp_kafka's,
//! through the ZooKeeper set partitioner.
//!
//! - [`consumer_group`]: Python yelp_kafka's `KafkaConsumerGroup`, the
//!   recommended consumer (`next`, `task_done`, `commit`).
//! - [`callback`]: the older callback-style `ConsumerGroup`, which hands
//!   every message to the application's processor until stopped.
//! - [`multiprocessing`]: the `MultiprocessingConsumerGroup`, a worker
//!   thread or process per acquired partition.
//! - [`membership`]: what the three share as party members; [`run_gate`]:
//!   the run-until-stopped pattern of the callback and multiprocessing
//!   groups; [`metrics`]: the group metric names.

pub mod callback;
pub mod consumer_group;
pub mod membership;
pub mod metrics;
pub mod multiprocessing;
pub mod run_gate;

pub use callback::{CallbackGroup, MessageProcessor};
pub use consumer_group::{ConsumerGroup, NoRebalanceHandler, RebalanceHandler};
pub use multiprocessing::MultiprocessingGroup;
