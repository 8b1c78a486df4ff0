//! The waiting rules the producer's send planner and the consumer's fetch
//! planner share: a partition backing off is skipped until its backoff
//! ends, and a plan remembers the earliest moment it must be made again.

use std::time::Instant;

/// Moves `next_look` earlier to `at` if `at` comes first.
pub(crate) fn look_again_at(next_look: &mut Option<Instant>, at: Instant) {
    *next_look = Some(next_look.map_or(at, |next| next.min(at)));
}

/// Whether the backoff `until` is over at `now`: an ended backoff is
/// cleared; one still running is noted in `next_look` and holds the
/// partition back.
pub(crate) fn backoff_over(until: &mut Option<Instant>, now: Instant, next_look: &mut Option<Instant>) -> bool {
    match *until {
        Some(end) if end > now => {
            look_again_at(next_look, end);
            false
        }
        _ => {
            *until = None;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_running_backoff_holds_the_partition_and_sets_the_next_look() {
        let now = Instant::now();
        let mut until = Some(now + Duration::from_secs(2));
        let mut next_look = Some(now + Duration::from_secs(5));
        assert!(!backoff_over(&mut until, now, &mut next_look));
        assert_eq!(until, Some(now + Duration::from_secs(2)), "kept");
        assert_eq!(next_look, Some(now + Duration::from_secs(2)), "the earlier moment wins");
    }

    #[test]
    fn an_ended_backoff_is_cleared_and_leaves_the_next_look_alone() {
        let now = Instant::now();
        let mut until = Some(now);
        let mut next_look = None;
        assert!(backoff_over(&mut until, now, &mut next_look));
        assert_eq!(until, None);
        assert_eq!(next_look, None);
        assert!(backoff_over(&mut None, now, &mut next_look), "no backoff at all");
    }
}
