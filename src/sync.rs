//! The library's one policy for poisoned locks: take the lock anyway.
//!
//! A lock is poisoned when a thread panicked while holding it. Every C
//! entry point catches panics (docs/c-abi.md), so the process goes on after
//! one; refusing the lock from then on would turn one caught panic into a
//! handle that fails every later call. The state behind our locks is kept
//! valid between statements (counters and queues, never a half-made value
//! the code relies on), so the next holder continues from it. Every lock,
//! read-write lock and condition-variable wait in the crate goes through
//! these traits.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Locking that recovers a poisoned lock (see the module doc).
pub(crate) trait Locking<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locking<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Read and write locking that recovers a poisoned lock (see the module doc).
pub(crate) trait ReadWriteLocking<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T>;
    fn write_locked(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T> ReadWriteLocking<T> for RwLock<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_locked(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Condition-variable waits that recover a poisoned lock (see the module doc).
pub(crate) trait Waiting {
    fn wait_locked<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T>;
    /// Waits at most `timeout`; the flag says whether the time ran out.
    fn wait_timeout_locked<'a, T>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> (MutexGuard<'a, T>, bool);
}

impl Waiting for Condvar {
    fn wait_locked<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_timeout_locked<'a, T>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> (MutexGuard<'a, T>, bool) {
        let (guard, result) = self
            .wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        (guard, result.timed_out())
    }
}

/// Waits on `changed` up to `timeout` until `pending` holds for the state
/// behind `guard` or its `snapshot` differs from the one at the start:
/// how a holder waits for a balancer to have something for it.
pub(crate) fn wait_for_change<T, K: PartialEq>(
    changed: &Condvar,
    mut guard: MutexGuard<'_, T>,
    timeout: Duration,
    snapshot: impl Fn(&T) -> K,
    pending: impl Fn(&T) -> bool,
) {
    let deadline = std::time::Instant::now() + timeout;
    let start = snapshot(&guard);
    while !pending(&guard) && snapshot(&guard) == start {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        guard = changed.wait_timeout_locked(guard, left).0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_lock_poisoned_by_a_panic_is_taken_with_its_state() {
        let counter = Arc::new(Mutex::new(1));
        let holder = Arc::clone(&counter);
        let panicked = std::thread::spawn(move || {
            let mut value = holder.lock().unwrap();
            *value = 2;
            panic!("while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(counter.is_poisoned());
        assert_eq!(*counter.locked(), 2);
    }

    #[test]
    fn a_wait_that_times_out_says_so() {
        let lock = Mutex::new(());
        let condvar = Condvar::new();
        let (_guard, timed_out) = condvar.wait_timeout_locked(lock.locked(), Duration::from_millis(5));
        assert!(timed_out);
    }
}
