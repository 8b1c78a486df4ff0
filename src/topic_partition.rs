//! The one name of a topic and of a topic's partition that the whole crate
//! shares: the engine's requests and answers, the producer's queues, the
//! consumer's fetcher and tracker, the offset stores and the groups.
//!
//! A [`Topic`] is a shared, NUL-terminated name: cloning it (and so a
//! [`TopicPartition`]) copies a pointer, never the name, and the C boundary
//! lends it without a copy.

use std::ffi::{CStr, CString};
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A topic name shared by everything that refers to the topic; kept
/// NUL-terminated so that the C boundary can lend it without a copy.
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

    /// Whether `a` and `b` share one name (not merely equal names).
    pub fn ptr_eq(a: &Topic, b: &Topic) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
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
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
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

    #[test]
    fn a_clone_shares_the_name() {
        let topic = Topic::new("orders").unwrap();
        let partition = TopicPartition::new(topic.clone(), 3);
        assert!(Topic::ptr_eq(&partition.clone().topic, &topic));
        assert!(!Topic::ptr_eq(&Topic::new("orders").unwrap(), &topic));
        assert_eq!(partition.to_string(), "orders/3");
    }
}
