//! What a consumer hands out: messages.
//!
//! A message's key and value are slices of the fetch response (no copy for
//! uncompressed batches), so a kept message keeps its response's buffer.

use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType};

use crate::topic_partition::{Topic, TopicPartition};

/// A record's headers as the batch decoder gives them: name → value (`None`
/// for a null value). Slices of the fetch response, like key and value; an
/// empty map allocates nothing.
pub type Headers = IndexMap<StrBytes, Option<Bytes>>;

/// A message: topic, partition, offset, key and value (each may be null),
/// the producer's (or the broker's) timestamp, and headers.
#[derive(Clone, Debug)]
pub struct Message {
    pub(crate) topic: Topic,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    /// The broker set the timestamp when it appended the record (the
    /// topic's `message.timestamp.type` is `LogAppendTime`).
    pub(crate) log_append_time: bool,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    /// `None` when the record has none: most have none, and a boxed map
    /// keeps the message small, so it moves cheaply on its way out.
    pub(crate) headers: Option<Box<Headers>>,
    /// The assignment of the partition this message came from: after a
    /// revoke (or a new assignment) its task_done no longer counts.
    pub(crate) assignment: u64,
    /// Where the consumer's offset tracker keeps the partition.
    pub(crate) slot: usize,
}

impl Message {
    /// `record` of `partition`, delivered under `assignment` from tracker
    /// slot `slot`; its key, value and headers are moved out. Built on the
    /// application's thread as it takes the record: the topic's reference
    /// count is then touched by that thread only, not by the fetching
    /// thread too.
    pub(crate) fn from_record(
        partition: &TopicPartition,
        assignment: u64,
        slot: usize,
        record: &mut Record,
    ) -> Message {
        Message {
            topic: partition.topic.clone(),
            partition: partition.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            log_append_time: record.timestamp_type == TimestampType::LogAppend,
            key: record.key.take(),
            value: record.value.take(),
            // An empty map is left in place: a new one would seed a hasher.
            headers: (!record.headers.is_empty()).then(|| Box::new(std::mem::take(&mut record.headers))),
            assignment,
            slot,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The offset.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Milliseconds since the Unix epoch, as the record batch says.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Whether the broker set the timestamp on append (else the producer did).
    pub fn log_append_time(&self) -> bool {
        self.log_append_time
    }

    /// The headers, in record order: name and value (`None`: null).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], Option<&[u8]>)> {
        self.headers
            .as_deref()
            .map(Headers::iter)
            .unwrap_or_default()
            .map(|(name, value)| (name.as_str().as_bytes(), value.as_deref()))
    }

    /// The key; `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value; `None` for a null value (a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The message's topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }
}
