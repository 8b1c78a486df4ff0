//! The word a balancer (the ZooKeeper partitioner, a member of Kafka's
//! group) gives the holder of its partitions on handing out messages, and
//! the standing form of that word, which the holder may keep instead of
//! asking again under the balancer's lock (docs/consumer-groups.md,
//! "Losing ZooKeeper").
//!
//! Owns the change count a balancer keeps beside its status and the
//! argument that checking a standing answer against it without the lock
//! never vouches for a time the locked question would not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::MutexGuard;
use std::time::Instant;

/// A balancer's word on handing out messages, given with its "nothing
/// new" answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vouch {
    /// The holder may not hand out messages at the time it asked about.
    No,
    /// It may at the time it asked about; for a later time it asks again.
    At,
    /// It may at the time it asked about, and at any later time for which
    /// [`ChangeCount::stands`] holds.
    Until(StandingVouch),
}

impl Vouch {
    /// Whether the holder may hand out messages at the time it asked about.
    pub fn vouched(&self) -> bool {
        !matches!(self, Vouch::No)
    }
}

/// A "nothing new, and hand out messages until `until`" answer that the
/// holder may keep instead of asking again under the lock: it stands while
/// the balancer's status has not changed since (`changes`) and the time is
/// before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandingVouch {
    changes: u64,
    until: Instant,
}

/// Counts the changes of a balancer's status kept behind a lock: every
/// change that can alter the balancer's answer adds one, while the lock is
/// held and before the change can be seen.
///
/// A standing answer is checked without the lock by reading the count
/// alone; nothing else of the status is read without the lock. A change is
/// seen by others only once its writer lets the lock go, and the count was
/// raised before that, so from then on no answer given before the change
/// stands: the holder asks again under the lock. The count is raised with
/// `Release` and read with `Acquire`, so a holder that reads the new count
/// and then takes the lock sees the change too. A holder that reads the
/// old count while the change is being made answers as if it had asked
/// just before the writer took the lock, as the locked question would
/// have when it came first.
pub(crate) struct ChangeCount(AtomicU64);

impl ChangeCount {
    pub(crate) fn new() -> ChangeCount {
        ChangeCount(AtomicU64::new(0))
    }

    /// Counts a change about to be made through `status`, whose lock is
    /// held.
    pub(crate) fn count<S>(&self, _status: &mut MutexGuard<'_, S>) {
        self.0.fetch_add(1, Ordering::Release);
    }

    /// The standing form of a "nothing new, and hand out messages" answer
    /// just read from `status` (under its lock, so the count is the one of
    /// the status read): it stands until `until`, when the answer's own
    /// reasons to vouch (the trust in the last confirmation) end. `Vouch::At`
    /// when there is no such time on the clock.
    pub(crate) fn standing<S>(&self, _status: &MutexGuard<'_, S>, until: Option<Instant>) -> Vouch {
        let changes = self.0.load(Ordering::Acquire);
        match until {
            Some(until) => Vouch::Until(StandingVouch { changes, until }),
            None => Vouch::At,
        }
    }

    /// Whether `standing`, from this count's [`ChangeCount::standing`],
    /// still stands at `now` (a time the holder read just before): nothing
    /// was counted since, and `now` is before its end.
    pub(crate) fn stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        now < standing.until && self.0.load(Ordering::Acquire) == standing.changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn a_standing_answer_ends_with_a_counted_change_or_at_its_end() {
        let status = Mutex::new(());
        let count = ChangeCount::new();
        let now = Instant::now();
        let until = now + Duration::from_secs(1);
        let Vouch::Until(standing) = count.standing(&status.lock().unwrap(), Some(until)) else {
            panic!("an end on the clock gives a standing answer");
        };
        assert!(count.stands(&standing, now));
        assert!(count.stands(&standing, until - Duration::from_nanos(1)));
        assert!(!count.stands(&standing, until), "ends at its end");
        count.count(&mut status.lock().unwrap());
        assert!(!count.stands(&standing, now), "ends with a change");
        assert_eq!(count.standing(&status.lock().unwrap(), None), Vouch::At);
    }
}
