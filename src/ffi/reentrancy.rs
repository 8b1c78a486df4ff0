//! The re-entrancy guard: which handles have an entry point running on
//! this thread, so that a callback calling back into the handle that runs
//! it gets `YK_ERROR_REENTRANT` instead of a deadlock.

use std::cell::RefCell;

use crate::error::{Error, ErrorCode, Result};
use crate::ffi::handles::Handle;

thread_local! {
    /// Handles whose entry point is running on this thread (a callback of
    /// theirs may be running too).
    static ACTIVE_HANDLES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a handle as in use by this thread for the life of the guard.
pub(crate) struct HandleEntry(usize);

/// Enters `handle` on this thread; a nested entry — a callback calling back
/// into the handle that is running it — is `Reentrant` rather than a deadlock.
pub(crate) fn enter_handle<T: Handle>(handle: &T, what: &str) -> Result<HandleEntry> {
    let address = handle as *const T as usize;
    ACTIVE_HANDLES.with(|active| {
        let mut active = active.borrow_mut();
        if active.contains(&address) {
            return Err(Error::new(
                ErrorCode::Reentrant,
                format!("{what} was called from a callback running inside a call on the same handle"),
            ));
        }
        active.push(address);
        Ok(HandleEntry(address))
    })
}

/// Whether this thread is inside a call on `handle` (a callback of it is running).
pub(crate) fn is_entered<T: Handle>(handle: &T) -> bool {
    let address = handle as *const T as usize;
    ACTIVE_HANDLES.with(|active| active.borrow().contains(&address))
}

impl Drop for HandleEntry {
    fn drop(&mut self) {
        ACTIVE_HANDLES.with(|active| {
            let mut active = active.borrow_mut();
            // Entries nest, so this one is almost always the last.
            if active.last() == Some(&self.0) {
                active.pop();
            } else {
                active.retain(|a| *a != self.0);
            }
        });
    }
}
