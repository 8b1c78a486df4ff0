//! The network and protocol engine over the `kafka-protocol` codecs.
//!
//! `options` reads the client options the engine runs on; `connection`
//! frames requests (`frame` keeps a Produce request's record batches by
//! reference) and routes responses by correlation id; `versions`
//! negotiates API versions with each broker and reads the version caps; `broker` pairs the
//! two into a typed request/response channel; `metadata` holds the cluster
//! view and `cluster` owns connections, bootstrap, the metadata cache and
//! leader routing. `produce` and `fetch` build the data requests from plain
//! inputs and read their answers into plain per-partition outcomes;
//! `records` encodes and decodes record batches with the codecs of
//! `compression`. `coordinator` finds a group's coordinator and stores its
//! offsets; `group_member` is a member of Kafka's classic group protocol
//! and `assignors` the split its leader computes; `consumer_group_member`
//! is a member of the next-generation protocol (KIP-848), whose
//! coordinator computes the split; `member_status` is what both members
//! share with the holder of their partitions. Nothing here knows about
//! producers, consumers or the library's consumer groups.

pub mod assignors;
pub mod broker;
pub mod cluster;
pub mod compression;
pub mod connection;
pub mod consumer_group_member;
pub mod coordinator;
pub mod fetch;
#[allow(unsafe_code)]
pub mod frame;
pub mod group_member;
pub(crate) mod member_status;
pub mod metadata;
pub mod options;
pub mod produce;
pub mod records;
pub mod versions;

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    FetchRequest, FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ProduceRequest,
    ProduceResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes, VersionRange};

pub use broker::BrokerConnection;
pub use cluster::KafkaCluster;
pub use metadata::ClusterMetadata;

/// A request the engine can send, tied to its API key and response type.
///
/// `kafka-protocol` only offers this pairing with its `broker` feature,
/// which a client does not need, so the engine keeps its own.
pub trait KafkaRequest: Encodable + Message {
    /// The request's API key.
    const KEY: ApiKey;
    /// The response the broker answers with.
    type Response: Decodable + Message;

    /// Versions this library can both encode the request and decode the response at.
    fn supported_versions() -> VersionRange {
        Self::VERSIONS.intersect(&<Self::Response as Message>::VERSIONS)
    }
}

macro_rules! kafka_requests {
    ($(($request:ty, $response:ty, $key:ident)),* $(,)?) => {
        $(impl KafkaRequest for $request {
            const KEY: ApiKey = ApiKey::$key;
            type Response = $response;
        })*
    };
}

kafka_requests! {
    (ApiVersionsRequest, ApiVersionsResponse, ApiVersions),
    (MetadataRequest, MetadataResponse, Metadata),
    (ListOffsetsRequest, ListOffsetsResponse, ListOffsets),
    (ProduceRequest, ProduceResponse, Produce),
    (FetchRequest, FetchResponse, Fetch),
    (OffsetCommitRequest, OffsetCommitResponse, OffsetCommit),
    (OffsetFetchRequest, OffsetFetchResponse, OffsetFetch),
    (FindCoordinatorRequest, FindCoordinatorResponse, FindCoordinator),
    (InitProducerIdRequest, InitProducerIdResponse, InitProducerId),
    (JoinGroupRequest, JoinGroupResponse, JoinGroup),
    (SyncGroupRequest, SyncGroupResponse, SyncGroup),
    (HeartbeatRequest, HeartbeatResponse, Heartbeat),
    (LeaveGroupRequest, LeaveGroupResponse, LeaveGroup),
    (ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, ConsumerGroupHeartbeat),
}

/// `topic` as the protocol's topic name.
pub(crate) fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}
