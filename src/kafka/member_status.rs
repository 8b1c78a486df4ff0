//! What a member of either Kafka group protocol (the classic one in
//! [`crate::kafka::group_member`], KIP-848's in
//! [`crate::kafka::consumer_group_member`]) shares between its engine task
//! and the holder of its partitions, and the handle on that task.
//!
//! Each protocol keeps its own state machine in a status of its own type;
//! around it both keep alike the failure that ends the member, when the
//! coordinator last confirmed the membership, when the holder last asked
//! for an event (its sign of life for `max_poll_interval`), the leave
//! request and the generation the member's commits carry. The task never
//! calls the holder: it changes the status and notifies, and the holder
//! reads the status on its own thread. A holder waiting for messages
//! rather than on the status is woken through the waker it gave
//! ([`SharedStatus::wake_holder_with`]), so that it gives partitions up as
//! soon as the member asks, not after its wait for messages ran out.
//!
//! The holder asks for an event before every message, and the answer is
//! nearly always "nothing new, hand out messages". The status counts its
//! changes ([`ChangeCount`]), so that the member can give that answer in a
//! standing form the holder checks without the lock; it stands for at
//! most [`SIGN_OF_LIFE_LAG`], so that the holder still asks under the lock,
//! and gives its sign of life, that often.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::coordinator::MemberGeneration;
use crate::sync::{wait_for_change, Locking};
use crate::vouch::{ChangeCount, StandingVouch, Vouch};

/// How long a standing answer stands in for the holder's questions at
/// most: each question under the lock is its sign of life for
/// `max_poll_interval`, so the member may see that sign up to this much
/// older than the holder's last call. Short against any poll interval;
/// long enough that the locked question comes once in thousands of
/// messages.
pub(crate) const SIGN_OF_LIFE_LAG: Duration = Duration::from_millis(10);

/// How a member's final state and sign-of-life times are kept in its
/// protocol's status.
pub(crate) trait MemberStatus {
    /// The times and failure every protocol keeps.
    fn liveness(&mut self) -> &mut Liveness;
    /// Whether the member is out of the group for good.
    fn failed(&self) -> bool;
    /// Puts the protocol's state machine in its final state.
    fn set_failed(&mut self);
    /// Whether an event waits for the holder (partitions to give up or to
    /// take, or the failure).
    fn holder_must_act(&self) -> bool;
}

/// Wakes a holder that waits for messages, so that it asks for the event.
pub(crate) type HolderWaker = Box<dyn Fn() + Send + Sync>;

/// What both protocols keep beside their state machine.
pub(crate) struct Liveness {
    failure: Option<Error>,
    /// When the last request the coordinator answered as from a member was sent.
    pub(crate) confirmed_at: Instant,
    /// When the holder last asked for an event.
    polled_at: Instant,
}

impl Liveness {
    pub(crate) fn new() -> Liveness {
        let now = Instant::now();
        Liveness {
            failure: None,
            confirmed_at: now,
            polled_at: now,
        }
    }
}

/// The status of one member, shared by its task and its holder.
pub(crate) struct SharedStatus<S> {
    status: Mutex<S>,
    /// Counts the changes made through [`SharedStatus::update`]: every
    /// change but the holder's own sign of life and its taking of an
    /// assignment, which never end a standing answer.
    changes: ChangeCount,
    pub(crate) changed: Condvar,
    leaving: AtomicBool,
    pub(crate) generation: Arc<MemberGeneration>,
    /// How old a confirmation may be for the holder to act on it: two
    /// thirds of the session timeout, as for the ZooKeeper session.
    trust: Duration,
    wake_holder: OnceLock<HolderWaker>,
}

impl<S: MemberStatus> SharedStatus<S> {
    pub(crate) fn new(status: S, session_timeout: Duration) -> SharedStatus<S> {
        SharedStatus {
            status: Mutex::new(status),
            changes: ChangeCount::new(),
            changed: Condvar::new(),
            leaving: AtomicBool::new(false),
            generation: Arc::new(MemberGeneration::default()),
            trust: session_timeout * 2 / 3,
            wake_holder: OnceLock::new(),
        }
    }

    /// How to wake the holder while it waits for messages; the first one
    /// given stays.
    pub(crate) fn wake_holder_with(&self, waker: HolderWaker) {
        let _ = self.wake_holder.set(waker);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        self.status.locked()
    }

    /// Changes the status and wakes whoever waits on it, the holder too
    /// when an event now waits for it; `None` (and no change) once the
    /// member failed, whose status is final.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut S) -> T) -> Option<T> {
        let mut status = self.lock();
        if status.failed() {
            return None;
        }
        // Counted before the change can be seen ([`ChangeCount`]).
        self.changes.count(&mut status);
        let result = change(&mut status);
        let holder_must_act = status.holder_must_act();
        drop(status);
        self.changed.notify_all();
        if holder_must_act {
            if let Some(wake) = self.wake_holder.get() {
                wake();
            }
        }
        Some(result)
    }

    pub(crate) fn fail(&self, error: Error) {
        self.update(|status| {
            status.set_failed();
            status.liveness().failure = Some(error);
        });
    }

    /// The coordinator answered a request sent at `sent` as from a member.
    pub(crate) fn confirm(&self, sent: Instant) {
        self.update(|status| {
            let liveness = status.liveness();
            liveness.confirmed_at = liveness.confirmed_at.max(sent);
        });
    }

    /// Whether a confirmation at `confirmed_at` is recent enough for the
    /// holder to hand out messages at `now`.
    pub(crate) fn trusted(&self, confirmed_at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(confirmed_at) < self.trust
    }

    /// The standing form of a "nothing new, hand out messages" answer just
    /// read from `status` at `now`: it ends when the trust in
    /// `confirmed_at` does (`None`: the answer does not rest on a
    /// confirmation), and [`SIGN_OF_LIFE_LAG`] after `now` at the latest.
    pub(crate) fn standing(&self, status: &MutexGuard<'_, S>, now: Instant, confirmed_at: Option<Instant>) -> Vouch {
        let sign_of_life_due = now.checked_add(SIGN_OF_LIFE_LAG);
        let until = match confirmed_at {
            None => sign_of_life_due,
            Some(confirmed_at) => confirmed_at
                .checked_add(self.trust)
                .zip(sign_of_life_due)
                .map(|(trust_ends, sign_of_life_due)| trust_ends.min(sign_of_life_due)),
        };
        self.changes.standing(status, until)
    }

    /// Whether `standing`, from [`SharedStatus::standing`], still stands
    /// at `now`; no lock ([`ChangeCount::stands`]).
    pub(crate) fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        self.changes.stands(standing, now)
    }

    /// The holder asks for an event at `now` (a time it read just before),
    /// its sign of life: the status, and the event that ends the holder
    /// when the member failed.
    pub(crate) fn polled(&self, now: Instant) -> (MutexGuard<'_, S>, Option<Error>) {
        let mut status = self.lock();
        let failure = status.failed().then(|| {
            status
                .liveness()
                .failure
                .clone()
                .unwrap_or_else(|| Error::new(ErrorCode::ConsumerGroup, "the group member failed"))
        });
        status.liveness().polled_at = now;
        (status, failure)
    }

    /// The error the member leaves with when its holder last asked for an
    /// event longer than `max_poll_interval` ago.
    pub(crate) fn poll_overdue(&self, max_poll_interval: Duration) -> Option<Error> {
        let idle = self.lock().liveness().polled_at.elapsed();
        (idle > max_poll_interval).then(|| {
            Error::new(
                ErrorCode::ConsumerGroup,
                format!(
                    "left the group: next() was not called for {} ms, more than max_poll_interval_ms ({})",
                    idle.as_millis(),
                    max_poll_interval.as_millis()
                ),
            )
        })
    }

    /// Whether the holder may commit: not once the member failed (the
    /// coordinator checks the generation or epoch of every other commit).
    pub(crate) fn may_commit(&self) -> Result<()> {
        if self.lock().failed() {
            return Err(out_of_group());
        }
        Ok(())
    }

    /// Waits up to `timeout` for `snapshot` of the status to change;
    /// returns at once while an event waits for the holder.
    pub(crate) fn wait<K: PartialEq>(&self, timeout: Duration, snapshot: impl Fn(&S) -> K) {
        wait_for_change(&self.changed, self.lock(), timeout, snapshot, S::holder_must_act);
    }

    /// Whether the holder asked the member to leave.
    pub(crate) fn leaving(&self) -> bool {
        self.leaving.load(Ordering::Acquire)
    }

    /// Returns once the member is asked to leave.
    pub(crate) async fn until_leaving(&self, poll: Duration) {
        while !self.leaving() {
            tokio::time::sleep(poll).await;
        }
    }

    /// The task's end: no generation any more, and the status fails with
    /// the task's error (or as left), so the holder stops.
    pub(crate) fn end(&self, outcome: Result<()>) {
        self.generation.set(None);
        self.fail(outcome.err().unwrap_or_else(left_the_group));
    }

    /// Asks `task` to leave the group and waits up to `timeout` for it to
    /// end (aborting it past that). Stopping twice is harmless.
    pub(crate) fn stop(&self, task: &MemberTask, timeout: Duration) -> Result<()> {
        let Some(task) = task.0.locked().take() else {
            return Ok(());
        };
        self.leaving.store(true, Ordering::Release);
        let left = engine::join_within(task, timeout, "leaving the group");
        self.fail(left_the_group());
        left
    }
}

fn left_the_group() -> Error {
    Error::new(ErrorCode::ConsumerGroup, "the member left the group")
}

/// Why a member refuses to commit once it is out of the group.
pub(crate) fn out_of_group() -> Error {
    Error::new(
        ErrorCode::ConsumerGroup,
        "not committing: the member left the group, the partitions may be another member's",
    )
}

/// The engine task of a member: [`SharedStatus::stop`] asks it to leave
/// the group and waits for it; dropping aborts it (the coordinator then
/// removes the member after the session timeout).
pub(crate) struct MemberTask(Mutex<Option<JoinHandle<()>>>);

impl MemberTask {
    pub(crate) fn new(task: JoinHandle<()>) -> MemberTask {
        MemberTask(Mutex::new(Some(task)))
    }
}

impl Drop for MemberTask {
    fn drop(&mut self) {
        if let Some(task) = self.0.locked().take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

    /// A status with nothing but the liveness every protocol keeps.
    struct Plain {
        liveness: Liveness,
        failed: bool,
    }

    impl MemberStatus for Plain {
        fn liveness(&mut self) -> &mut Liveness {
            &mut self.liveness
        }
        fn failed(&self) -> bool {
            self.failed
        }
        fn set_failed(&mut self) {
            self.failed = true;
        }
        fn holder_must_act(&self) -> bool {
            self.failed
        }
    }

    fn shared() -> SharedStatus<Plain> {
        let status = Plain {
            liveness: Liveness::new(),
            failed: false,
        };
        SharedStatus::new(status, SESSION_TIMEOUT)
    }

    /// The standing answer `shared` gives at `now` for a confirmation at `confirmed_at`.
    fn standing(shared: &SharedStatus<Plain>, now: Instant, confirmed_at: Option<Instant>) -> StandingVouch {
        let (status, _) = shared.polled(now);
        match shared.standing(&status, now, confirmed_at) {
            Vouch::Until(standing) => standing,
            other => panic!("no standing answer: {other:?}"),
        }
    }

    #[test]
    fn a_standing_answer_lasts_for_the_sign_of_life_lag_at_most() {
        let shared = shared();
        let now = Instant::now();
        let standing = standing(&shared, now, Some(now));
        let due = now + SIGN_OF_LIFE_LAG;
        assert!(shared.vouch_stands(&standing, due - Duration::from_nanos(1)));
        assert!(!shared.vouch_stands(&standing, due));
        // The holder's sign of life is not a change that ends it.
        drop(shared.polled(now));
        assert!(shared.vouch_stands(&standing, now));
    }

    #[test]
    fn a_standing_answer_ends_with_the_trust_in_its_confirmation() {
        let shared = shared();
        let now = Instant::now();
        let trust_ends = now + SIGN_OF_LIFE_LAG / 2;
        let confirmed_at = trust_ends - SESSION_TIMEOUT * 2 / 3;
        let standing = standing(&shared, now, Some(confirmed_at));
        assert!(shared.vouch_stands(&standing, trust_ends - Duration::from_nanos(1)));
        assert!(!shared.vouch_stands(&standing, trust_ends));
        assert!(!shared.trusted(confirmed_at, trust_ends), "ends where the trust does");
    }

    #[test]
    fn every_change_ends_a_standing_answer() {
        type Change = fn(&SharedStatus<Plain>);
        let changes: [(&str, Change); 3] = [
            ("an update", |shared| {
                shared.update(|_| ());
            }),
            ("a confirmation", |shared| shared.confirm(Instant::now())),
            ("a failure", |shared| {
                shared.fail(Error::new(ErrorCode::ConsumerGroup, "fenced"))
            }),
        ];
        for (change, make) in changes {
            let shared = shared();
            let now = Instant::now();
            let standing = standing(&shared, now, None);
            assert!(shared.vouch_stands(&standing, now), "{change}");
            make(&shared);
            assert!(!shared.vouch_stands(&standing, now), "{change}: still stands");
        }
    }
}
