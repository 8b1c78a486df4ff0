//! What the integration tests in `tests/` reach below the public API: the
//! engine's runtime, the Kafka engine, the set partitioner and the
//! ZooKeeper settings. Not part of the library's API and hidden from its
//! docs; nothing in the library uses it.

pub use crate::engine::block_on;
pub use crate::groups::multiprocessing::MONITOR_PERIOD;
pub use crate::kafka::broker::decode_response;
pub use crate::kafka::cluster::{EARLIEST_OFFSET, LATEST_OFFSET};
pub use crate::kafka::fetch::{FetchLimits, FetchPosition};
pub use crate::kafka::records::{decode_data_batches, encode_batches, next_offset_after};
pub use crate::kafka::versions::ApiVersionTable;
pub use crate::kafka::{BrokerConnection, KafkaCluster, KafkaRequest};
pub use crate::producer::key_partitioner::partition_for_key;
pub use crate::set_partitioner::{Instruction, PartitionState, SetPartitioner, SetPartitionerSettings};
pub use crate::zk::SESSION_TIMEOUT;

/// Whether `group`'s workers may take messages now: its partitioner holds
/// the partitions, is connected and confirmed the session recently.
pub fn multiprocessing_group_may_deliver(group: &crate::groups::MultiprocessingGroup) -> bool {
    group.may_deliver()
}

/// The ZooKeeper names and arithmetic of the set partitioner.
pub mod layout {
    pub use crate::set_partitioner::layout::{
        group_path, lock_sequence, member_identifier, partition_name, unique_identifier,
    };
}
