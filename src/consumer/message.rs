//! What a consumer hands out: messages, and the topic/partition names they
//! and the offset tracker share.
//!
//! A message's key and value are slices of the fetch response (no copy for
//! uncompressed batches), so a kept message keeps its response's buffer.

use std::ffi::{CStr, CString};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::kafka::coordinator::PartitionKey;

/// A topic name shared by every message of the topic; kept NUL-terminated
/// so that the C boundary can lend it without a copy.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<CStr>);

impl Topic {
    /// The topic `name`; a NUL byte is an `InvalidArgument`, as is an empty name.
    pub fn new(name: &str) -> Result<Topic> {
        if name.is_empty() {
            return Err(Error::invalid_argument("topic name is empty"));
        }
        let name = CString::new(name).map_err(|_| Error::invalid_argument(format!("topic {name:?} holds a NUL")))?;
        Ok(Topic(Arc::from(name)))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("made from a str")
    }

    /// The name with its NUL.
    pub fn as_c_str(&self) -> &CStr {
        &self.0
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One partition of one topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: Topic,
    /// The partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: Topic, partition: i32) -> TopicPartition {
        TopicPartition { topic, partition }
    }

    /// The key offset requests use.
    pub fn key(&self) -> PartitionKey {
        (self.topic.as_str().to_string(), self.partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A message: topic, partition, offset, key and value (each may be null),
/// and the producer's (or the broker's) timestamp.
#[derive(Clone, Debug)]
pub struct Message {
    pub(crate) topic: Topic,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    /// The assignment of the partition this message came from: after a
    /// revoke (or a new assignment) its task_done no longer counts.
    pub(crate) assignment: u64,
    /// Where the consumer's offset tracker keeps the partition.
    pub(crate) slot: usize,
}

impl Message {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_checked_and_keep_their_nul() {
        let topic = Topic::new("orders").unwrap();
        assert_eq!(topic.as_str(), "orders");
        assert_eq!(topic.as_c_str().to_bytes_with_nul(), b"orders\0");
        assert!(Topic::new("a\0b").is_err());
        assert!(Topic::new("").is_err());
    }
}
