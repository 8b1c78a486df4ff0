//! Per-topic facts the produce path needs on every message — the shared
//! topic name, the partition count and the round-robin position — kept
//! until the cluster's metadata changes, so a message costs one map lookup;
//! and the cheaply hashed map type a message is looked up in by its topic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rustc_hash::FxBuildHasher;

use crate::error::Result;
use crate::sync::ReadWriteLocking;
use crate::topic_partition::{Topic, TopicPartition};

/// A map keyed by topic names, or by topic and partition, that every
/// message looks up: hashed with rustc's Fx hash, a multiplication per
/// word. The standard library's SipHash took about 450 instructions a
/// message for the two lookups (BENCHMARKS.md, "The keyed mixed
/// producer's threads"); its resistance to chosen keys is not needed: the
/// application names its topics, and a producer sends to a few.
pub type NameMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// What the producer knows about one topic.
#[derive(Debug)]
pub struct TopicEntry {
    /// The name, shared by every queued message of the topic.
    pub name: Topic,
    /// Each partition in the metadata this entry was built from, as the
    /// accumulator keys it, built once: a message borrows its partition's,
    /// where one built per message cloned the shared name, an atomic
    /// operation on a count that the threads settling batches change too.
    keys: Box<[TopicPartition]>,
    /// The metadata generation it was built from.
    generation: u64,
    next: AtomicUsize,
}

impl TopicEntry {
    /// How many partitions the metadata this entry was built from gives
    /// the topic.
    pub fn partitions(&self) -> usize {
        self.keys.len()
    }

    /// Partition `partition` of the topic, which must be below
    /// [`TopicEntry::partitions`] (as routing makes it).
    pub fn partition(&self, partition: i32) -> &TopicPartition {
        &self.keys[partition as usize]
    }

    /// The next partition for a message without key: round-robin, starting
    /// at a random partition.
    pub fn next_round_robin(&self) -> i32 {
        (self.next.fetch_add(1, Ordering::Relaxed) % self.partitions()) as i32
    }
}

/// The topics a producer has sent to.
#[derive(Debug, Default)]
pub struct TopicCache {
    entries: RwLock<NameMap<Box<str>, Arc<TopicEntry>>>,
}

impl TopicCache {
    /// The entry of `topic` if it was built from metadata `generation`.
    pub fn get(&self, topic: &str, generation: u64) -> Option<Arc<TopicEntry>> {
        let entries = self.entries.read_locked();
        entries.get(topic).filter(|e| e.generation == generation).cloned()
    }

    /// Records `partitions` for `topic` as of metadata `generation`, keeping
    /// the round-robin position of an older entry. A name Kafka cannot
    /// hold (empty, or with a NUL) is an `InvalidArgument`.
    pub fn insert(&self, topic: &str, partitions: usize, generation: u64) -> Result<Arc<TopicEntry>> {
        let mut entries = self.entries.write_locked();
        let (name, next) = match entries.get(topic) {
            Some(old) => (old.name.clone(), old.next.load(Ordering::Relaxed)),
            None => (Topic::new(topic)?, rand::random::<u32>() as usize),
        };
        let entry = Arc::new(TopicEntry {
            keys: (0..partitions)
                .map(|partition| TopicPartition::new(name.clone(), partition as i32))
                .collect(),
            name,
            generation,
            next: AtomicUsize::new(next),
        });
        entries.insert(topic.into(), Arc::clone(&entry));
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;
    use crate::topic_partition::TopicPartition;

    #[test]
    fn names_and_partitions_hash_apart() {
        let hashes = FxBuildHasher;
        let names = [
            "events",
            "events.a",
            "events.b",
            "service.events.eu",
            "service.events.us",
            "a",
            "b",
        ];
        let name_hashes: HashSet<u64> = names.iter().map(|name| hashes.hash_one(name)).collect();
        assert_eq!(name_hashes.len(), names.len());
        let mut keys = Vec::new();
        for name in names {
            for partition in 0..64 {
                keys.push(TopicPartition::new(Topic::new(name).unwrap(), partition));
            }
        }
        let key_hashes: HashSet<u64> = keys.iter().map(|key| hashes.hash_one(key)).collect();
        assert_eq!(key_hashes.len(), keys.len());
        // hashbrown picks a bucket by the low bits: 64 partitions of one
        // topic spread over at least half of 64 buckets.
        let buckets: HashSet<u64> = keys[..64].iter().map(|key| hashes.hash_one(key) % 64).collect();
        assert!(buckets.len() >= 32, "{} buckets", buckets.len());
    }

    #[test]
    fn round_robin_visits_every_partition_in_turn() {
        let cache = TopicCache::default();
        let entry = cache.insert("t", 5, 1).unwrap();
        let first = entry.next_round_robin();
        let seen: Vec<i32> = (0..5).map(|_| entry.next_round_robin()).collect();
        assert_eq!(seen[4], first);
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn entries_expire_with_the_metadata_and_keep_their_position() {
        let cache = TopicCache::default();
        let entry = cache.insert("t", 3, 1).unwrap();
        entry.next_round_robin();
        assert!(cache.get("t", 1).is_some());
        assert!(cache.get("t", 2).is_none(), "new metadata, new entry");
        let renewed = cache.insert("t", 4, 2).unwrap();
        assert!(Topic::ptr_eq(&renewed.name, &entry.name));
        assert_eq!(renewed.next.load(Ordering::Relaxed), entry.next.load(Ordering::Relaxed));
    }
}
