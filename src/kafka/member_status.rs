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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::coordinator::MemberGeneration;
use crate::sync::{wait_for_change, Locking};

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
