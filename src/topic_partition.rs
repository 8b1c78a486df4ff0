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

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

impl Topic {
    /// The topic `name`, checked by Kafka's rule for topic names: 1 to
    /// [`MAX_TOPIC_NAME_LENGTH`] characters of `[a-zA-Z0-9._-]`, not `.` or
    /// `..`. Anything else is an `InvalidArgument` naming it. The rule also
    /// keeps names out of other nodes' ZooKeeper paths, which hold topic
    /// names (docs/offsets.md, docs/consumer-groups.md).
    pub fn new(name: &str) -> Result<Topic> {
        let why = if name.is_empty() {
            Some("is empty")
        } else if name.len() > MAX_TOPIC_NAME_LENGTH {
            Some("is longer than 249 characters")
        } else if name == "." || name == ".." {
            Some("is '.' or '..'")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            Some("holds a character outside [a-zA-Z0-9._-]")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::invalid_argument(format!("topic name {name:?} {why}")));
        }
        let name = CString::new(name).expect("checked: only [a-zA-Z0-9._-]");
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
    fn topic_names_follow_kafkas_rule() {
        let longest = "t".repeat(MAX_TOPIC_NAME_LENGTH);
        for good in ["a", "A.b_c-9", "...", "._-", longest.as_str()] {
            assert_eq!(Topic::new(good).unwrap().as_str(), good);
        }
        let too_long = "t".repeat(MAX_TOPIC_NAME_LENGTH + 1);
        for bad in [
            ".",
            "..",
            "a/b",
            "../offsets",
            "a b",
            "a:b",
            "caf\u{e9}",
            "a\0b",
            too_long.as_str(),
        ] {
            let error = Topic::new(bad).unwrap_err();
            assert_eq!(error.code(), crate::error::ErrorCode::InvalidArgument, "{bad:?}");
            assert!(error.message().contains(&format!("{bad:?}")), "{bad:?}: {error}");
        }
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
