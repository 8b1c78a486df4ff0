//! Per-topic facts the produce path needs on every message — the shared
//! topic name, the partition count and the round-robin position — kept
//! until the cluster's metadata changes, so a message costs one map lookup;
//! and the hasher of the maps a message is looked up in by its topic.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::Result;
use crate::sync::ReadWriteLocking;
use crate::topic_partition::Topic;

/// A map keyed by topic names, or by topic and partition, that every
/// message looks up: hashed by [`NameHasher`].
pub type NameMap<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

/// Hashes a topic name (and partition) a word at a time by multiplication,
/// for the lookups every produced message makes: the standard library's
/// SipHash took about 450 instructions a message for the two of them
/// (BENCHMARKS.md, "The keyed mixed producer's threads"). SipHash's
/// resistance to chosen keys is not needed: the application names its
/// topics, and a producer sends to a few.
#[derive(Debug, Default, Clone, Copy)]
pub struct NameHasher(u64);

impl NameHasher {
    /// 2^64 divided by the golden ratio: Knuth's multiplicative hashing.
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    /// Mixes in one word. The product's upper half, which every bit of
    /// the word reaches, is rotated into the lower half that picks the
    /// bucket.
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::MULTIPLIER).rotate_left(32);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(u64::from_le_bytes(word.try_into().expect("chunks of 8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(n.into());
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What the producer knows about one topic.
#[derive(Debug)]
pub struct TopicEntry {
    /// The name, shared by every queued message of the topic.
    pub name: Topic,
    /// Partitions in the metadata this entry was built from.
    pub partitions: usize,
    /// The metadata generation it was built from.
    generation: u64,
    next: AtomicUsize,
}

impl TopicEntry {
    /// The next partition for a message without key: round-robin, starting
    /// at a random partition.
    pub fn next_round_robin(&self) -> i32 {
        (self.next.fetch_add(1, Ordering::Relaxed) % self.partitions) as i32
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
            name,
            partitions,
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
        let hashes = BuildHasherDefault::<NameHasher>::default();
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
