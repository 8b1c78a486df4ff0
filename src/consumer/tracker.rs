//! The offset tracker under every consumer: which delivered messages are
//! done, and so which offset each partition may commit.
//!
//! A partition's commit position is the offset of its first delivered
//! message not marked done, or, when every delivered message is done, the
//! offset after the last delivered one: a commit never passes a message that
//! was not processed, whatever order task_done calls come in. Offsets that
//! were never delivered (control records, compacted messages) are no gaps.
//! The tracker only keeps delivered messages not yet done, so the common
//! in-order case costs a push and a pop per message.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::topic_partition::TopicPartition;

struct PartitionTrack {
    partition: TopicPartition,
    assignment: u64,
    /// The offset after the last delivered message (the start position
    /// before any delivery).
    delivered_up_to: i64,
    /// Delivered messages from the first one not done on, with whether each is done.
    outstanding: VecDeque<(i64, bool)>,
    /// What the storage holds as far as this consumer knows.
    committed: Option<i64>,
}

impl PartitionTrack {
    fn position(&self) -> i64 {
        self.outstanding
            .front()
            .map_or(self.delivered_up_to, |(offset, _)| *offset)
    }

    fn drop_done_prefix(&mut self) {
        while self.outstanding.front().is_some_and(|(_, done)| *done) {
            self.outstanding.pop_front();
        }
    }
}

/// Delivered and done offsets of every assigned partition.
///
/// Each tracked partition has a slot; the per-message calls take the slot
/// (which the consumer keeps with its messages) and the assignment number,
/// so that the hot path indexes a vector instead of hashing a topic name.
/// Assignment numbers are unique in the process, so a stale or foreign
/// message never matches a slot that was reused.
#[derive(Default)]
pub struct OffsetTracker {
    slots: Vec<Option<PartitionTrack>>,
    index: HashMap<TopicPartition, usize>,
    done_since_commit: u64,
}

impl OffsetTracker {
    /// An empty tracker.
    pub fn new() -> OffsetTracker {
        OffsetTracker::default()
    }

    /// Starts tracking `partition` (assignment number `assignment`) from
    /// `position`, where `committed` is what the storage holds; returns its slot.
    pub fn track(
        &mut self,
        partition: TopicPartition,
        assignment: u64,
        position: i64,
        committed: Option<i64>,
    ) -> usize {
        let slot = match self.index.get(&partition) {
            Some(slot) => *slot,
            None => {
                let slot = self.slots.iter().position(Option::is_none).unwrap_or_else(|| {
                    self.slots.push(None);
                    self.slots.len() - 1
                });
                self.index.insert(partition.clone(), slot);
                slot
            }
        };
        self.slots[slot] = Some(PartitionTrack {
            partition,
            assignment,
            delivered_up_to: position,
            outstanding: VecDeque::new(),
            committed,
        });
        slot
    }

    /// Stops tracking `partition`; later task_done calls for it are ignored.
    pub fn forget(&mut self, partition: &TopicPartition) {
        if let Some(slot) = self.index.remove(partition) {
            self.slots[slot] = None;
        }
    }

    /// The tracked partitions, in no order.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.index.keys()
    }

    /// The slot of `partition` if it is tracked under `assignment`.
    pub fn slot_of(&self, partition: &TopicPartition, assignment: u64) -> Option<usize> {
        let slot = *self.index.get(partition)?;
        let track = self.slots[slot].as_ref()?;
        (track.assignment == assignment).then_some(slot)
    }

    fn current(&mut self, slot: usize, assignment: u64) -> Option<&mut PartitionTrack> {
        self.slots
            .get_mut(slot)?
            .as_mut()
            .filter(|track| track.assignment == assignment)
    }

    /// The partition's reading position moved (the reset policy after an
    /// out-of-range offset): what was delivered before no longer counts.
    pub fn reset(&mut self, slot: usize, assignment: u64, position: i64) {
        if let Some(track) = self.current(slot, assignment) {
            track.outstanding.clear();
            track.delivered_up_to = position;
        }
    }

    /// Records that the message at `offset` was handed to the application.
    /// Deliveries of one partition come in offset order.
    pub fn delivered(&mut self, slot: usize, assignment: u64, offset: i64) {
        if let Some(track) = self.current(slot, assignment) {
            track.outstanding.push_back((offset, false));
            track.delivered_up_to = offset + 1;
        }
    }

    /// Records that every offset below `offset` was delivered or holds no
    /// message (control records, compacted away).
    pub fn passed(&mut self, slot: usize, assignment: u64, offset: i64) {
        if let Some(track) = self.current(slot, assignment) {
            track.delivered_up_to = track.delivered_up_to.max(offset);
        }
    }

    /// Marks the delivered message at `offset` done. Returns whether it
    /// counted: false for a partition no longer assigned (or assigned
    /// again since), and for a message already done or never delivered.
    pub fn done(&mut self, slot: usize, assignment: u64, offset: i64) -> bool {
        let Some(track) = self.current(slot, assignment) else {
            return false;
        };
        let counted = match track.outstanding.front() {
            Some((first, _)) if *first == offset => {
                track.outstanding.pop_front();
                true
            }
            _ => match track.outstanding.binary_search_by_key(&offset, |(o, _)| *o) {
                Ok(index) if !track.outstanding[index].1 => {
                    track.outstanding[index].1 = true;
                    true
                }
                _ => false,
            },
        };
        if counted {
            track.drop_done_prefix();
            self.done_since_commit += 1;
        }
        counted
    }

    /// Marks every delivered message up to `offset` done (the application
    /// says it processed everything through `offset`). False when the slot
    /// is no longer this assignment's.
    pub fn done_through(&mut self, slot: usize, assignment: u64, offset: i64) -> bool {
        let Some(track) = self.current(slot, assignment) else {
            return false;
        };
        while track.outstanding.front().is_some_and(|(o, _)| *o <= offset) {
            track.outstanding.pop_front();
        }
        track.drop_done_prefix();
        true
    }

    /// How many messages were marked done since [`Self::take_done_count`] last ran.
    pub fn done_count(&self) -> u64 {
        self.done_since_commit
    }

    /// Returns the done count and starts counting again.
    pub fn take_done_count(&mut self) -> u64 {
        std::mem::take(&mut self.done_since_commit)
    }

    /// The commit position of `partition`, if tracked.
    pub fn position(&self, partition: &TopicPartition) -> Option<i64> {
        let slot = *self.index.get(partition)?;
        self.slots[slot].as_ref().map(PartitionTrack::position)
    }

    fn tracks(&self) -> impl Iterator<Item = &PartitionTrack> {
        self.slots.iter().flatten()
    }

    /// Commit positions that differ from what the storage holds, for the
    /// tracked partitions among `only` (`None`: all).
    pub fn uncommitted(&self, only: Option<&[TopicPartition]>) -> BTreeMap<TopicPartition, i64> {
        self.tracks()
            .filter(|track| only.is_none_or(|only| only.contains(&track.partition)))
            .filter_map(|track| {
                let position = track.position();
                (track.committed != Some(position)).then(|| (track.partition.clone(), position))
            })
            .collect()
    }

    /// Records that the storage now holds `offsets`.
    pub fn committed(&mut self, offsets: &BTreeMap<TopicPartition, i64>) {
        for track in self.slots.iter_mut().flatten() {
            if let Some(offset) = offsets.get(&track.partition) {
                track.committed = Some(*offset);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_partition::Topic;

    fn partition(n: i32) -> TopicPartition {
        TopicPartition::new(Topic::new("t").unwrap(), n)
    }

    #[test]
    fn a_commit_stops_at_the_first_message_not_done() {
        let mut tracker = OffsetTracker::new();
        let slot = tracker.track(partition(0), 1, 0, None);
        for offset in 0..6 {
            tracker.delivered(slot, 1, offset);
        }
        for offset in [0, 1, 2, 4, 5] {
            assert!(tracker.done(slot, 1, offset));
        }
        assert_eq!(tracker.position(&partition(0)), Some(3));
        assert!(tracker.done(slot, 1, 3));
        assert_eq!(tracker.position(&partition(0)), Some(6));
        assert_eq!(tracker.done_count(), 6);
    }

    #[test]
    fn done_in_any_order_and_twice_counts_once() {
        let mut tracker = OffsetTracker::new();
        let slot = tracker.track(partition(0), 1, 10, Some(10));
        for offset in [10, 12, 15] {
            tracker.delivered(slot, 1, offset);
        }
        assert!(tracker.done(slot, 1, 15));
        assert!(tracker.done(slot, 1, 12));
        assert!(!tracker.done(slot, 1, 12));
        assert!(!tracker.done(slot, 1, 11), "never delivered");
        assert_eq!(tracker.position(&partition(0)), Some(10));
        assert!(tracker.done(slot, 1, 10));
        assert_eq!(
            tracker.position(&partition(0)),
            Some(16),
            "gaps in offsets are no gaps in work"
        );
        tracker.passed(slot, 1, 18);
        assert_eq!(tracker.position(&partition(0)), Some(18), "past a control record");
        assert_eq!(tracker.take_done_count(), 3);
        assert_eq!(tracker.done_count(), 0);
    }

    #[test]
    fn only_changed_positions_are_uncommitted() {
        let mut tracker = OffsetTracker::new();
        let zero = tracker.track(partition(0), 1, 5, Some(5));
        tracker.track(partition(1), 2, 0, None);
        assert_eq!(
            tracker.uncommitted(None),
            BTreeMap::from([(partition(1), 0)]),
            "nothing committed yet counts as a change"
        );
        tracker.delivered(zero, 1, 5);
        tracker.done(zero, 1, 5);
        let pending = tracker.uncommitted(Some(&[partition(0)]));
        assert_eq!(pending, BTreeMap::from([(partition(0), 6)]));
        tracker.committed(&pending);
        assert_eq!(tracker.uncommitted(Some(&[partition(0)])), BTreeMap::new());
    }

    #[test]
    fn a_revoked_or_reassigned_partition_ignores_old_messages() {
        let mut tracker = OffsetTracker::new();
        let slot = tracker.track(partition(0), 1, 0, None);
        tracker.delivered(slot, 1, 0);
        tracker.forget(&partition(0));
        assert!(!tracker.done(slot, 1, 0));
        let other = tracker.track(partition(1), 2, 0, None);
        assert_eq!(other, slot, "the slot is reused");
        tracker.delivered(other, 2, 0);
        assert!(!tracker.done(slot, 1, 0), "the old assignment's message");
        assert_eq!(tracker.slot_of(&partition(1), 2), Some(other));
        assert_eq!(tracker.slot_of(&partition(1), 1), None);
        assert!(tracker.done(other, 2, 0));
    }

    #[test]
    fn done_through_and_reset_move_the_position() {
        let mut tracker = OffsetTracker::new();
        let slot = tracker.track(partition(0), 1, 0, None);
        for offset in 0..5 {
            tracker.delivered(slot, 1, offset);
        }
        tracker.done(slot, 1, 4);
        assert!(tracker.done_through(slot, 1, 2));
        assert_eq!(tracker.position(&partition(0)), Some(3));
        tracker.reset(slot, 1, 100);
        assert_eq!(tracker.position(&partition(0)), Some(100));
        assert!(!tracker.done_through(slot, 7, 2), "another assignment");
    }
}
