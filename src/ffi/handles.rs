//! Handles: the opaque `yk_*` objects C holds by pointer. The only places
//! that turn a handle pointer into a reference, box a new handle into an
//! out-parameter, or free one, and the [`Handle`] trait that says which
//! types are handles and how they are owned.
//!
//! Ownership: every handle is Box-backed ([`Boxed`]), created by its `_new`
//! function and destroyed by its `_free` function, which accepts NULL.
//!
//! Fork: a handle that owns connections, sessions, threads or engine tasks
//! keeps the process that made it ([`MadeIn`]); borrowed in a forked child
//! it is `WrongState` at once, and freed there it is left alone, since
//! nothing it owns survived the fork (docs/c-abi.md).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use crate::error::{Error, ErrorCode, Result};
use crate::ffi::arguments::c_slice;
use crate::ffi::boundary::boundary_value;

/// A `yk_*` type C holds by pointer without looking inside, implemented
/// next to each handle struct. Only a handle can be borrowed with
/// [`handle`], and only a [`Boxed`] one boxed into an out-parameter with
/// [`write_handle`] or freed with [`free_handle`]: a value type such as
/// `yk_bytes`, which the caller owns, cannot.
pub(crate) trait Handle {
    /// Who allocates and frees the handle's memory.
    type Ownership;

    /// The process that made the handle, for a handle bound to it: one
    /// that owns connections, sessions, threads or engine tasks, which a
    /// fork does not copy. `None` for a handle of plain data, which a fork
    /// copies whole and a child may go on using.
    fn made_in(&self) -> Option<&MadeIn>;
}

/// The process a handle was made in, recorded by its `_new`.
pub(crate) struct MadeIn(u32);

impl MadeIn {
    /// This process.
    pub(crate) fn this_process() -> MadeIn {
        MadeIn(process_id())
    }
}

/// This process's id as last read, 0 when it must be read again. Every
/// borrow of a handle compares it, and `getpid` is a system call (glibc
/// stopped caching it): on the consumer's per-message calls it was a
/// large part of their cost (BENCHMARKS.md, "Reading messages across the
/// C boundary").
static PROCESS_ID: AtomicU32 = AtomicU32::new(0);
static FORGET_IN_CHILD: Once = Once::new();

/// Runs in a child right after `fork()`: the cached id is the parent's.
extern "C" fn forget_process_id() {
    PROCESS_ID.store(0, Ordering::Relaxed);
}

/// This process's id, cached. A `pthread_atfork` child handler, registered
/// before the first id is cached, clears it in every child `fork()` makes.
/// (A child made by a raw `clone` system call skips the handlers; such a
/// child cannot run this library's threads either.)
fn process_id() -> u32 {
    let cached = PROCESS_ID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    FORGET_IN_CHILD.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic, which
        // is async-signal-safe as a handler that runs after fork must be.
        unsafe { nix::libc::pthread_atfork(None, None, Some(forget_process_id)) };
    });
    let id = std::process::id();
    PROCESS_ID.store(id, Ordering::Relaxed);
    id
}

/// A handle bound to another process (this is a child forked after the
/// handle was made) is `WrongState` naming `what` and fork.
fn check_process<T: Handle>(handle: &T, what: &str) -> Result<()> {
    match handle.made_in() {
        Some(MadeIn(maker)) if *maker != process_id() => Err(Error::new(
            ErrorCode::WrongState,
            format!(
                "{what} was made in process {maker} and this process is a child forked after that: \
                 its connections and threads did not survive the fork; make a new handle here"
            ),
        )),
        _ => Ok(()),
    }
}

/// The ownership of a handle the library allocates as a `Box` (in its
/// `_new` function, or the call that returns it in `*out`) and releases in
/// its `_free` function.
pub(crate) enum Boxed {}

/// Borrows a handle; NULL is `InvalidArgument` naming `what`, a handle
/// made before this process was forked is `WrongState`.
///
/// # Safety
/// `ptr` is NULL or a live handle of type `T` made by this library.
pub(crate) unsafe fn handle<'a, T: Handle>(ptr: *const T, what: &str) -> Result<&'a T> {
    let handle = ptr
        .as_ref()
        .ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))?;
    check_process(handle, what)?;
    Ok(handle)
}

/// Borrows a handle mutably; NULL is `InvalidArgument` naming `what`, a
/// handle made before this process was forked is `WrongState`.
///
/// # Safety
/// `ptr` is NULL or a live handle of type `T` that nothing else uses now.
pub(crate) unsafe fn handle_mut<'a, T: Handle>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    let handle = ptr
        .as_mut()
        .ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))?;
    check_process(&*handle, what)?;
    Ok(handle)
}

/// Borrows an array of `count` handle pointers; a NULL array (with a
/// non-zero count) or a NULL element is `InvalidArgument`.
///
/// # Safety
/// `items` is NULL or points at `count` pointers, each NULL or a live handle.
pub(crate) unsafe fn handle_array<'a, T: Handle>(
    items: *const *const T,
    count: usize,
    what: &str,
) -> Result<Vec<&'a T>> {
    c_slice(items, count, what)?
        .iter()
        .enumerate()
        .map(|(i, ptr)| handle(*ptr, &format!("{what}[{i}]")))
        .collect()
}

/// Writes a new Box-backed handle to a checked out-parameter.
///
/// # Safety
/// `out` passed [`check_out`](crate::ffi::arguments::check_out) and points
/// at writable memory for one pointer.
pub(crate) unsafe fn write_handle<T: Handle<Ownership = Boxed>>(out: *mut *mut T, value: T) {
    *out = Box::into_raw(Box::new(value));
}

/// Destroys a Box-backed handle for the `_free` export `function`; NULL is
/// a no-op. A handle made before this process was forked is left alone
/// (its drop would wait for threads that exist only in the parent) and
/// the last error says so.
///
/// # Safety
/// `ptr` is NULL or a handle made by [`write_handle`] not freed before.
pub(crate) unsafe fn free_handle<T: Handle<Ownership = Boxed>>(ptr: *mut T, function: &str) {
    if !ptr.is_null() {
        let boxed = Box::from_raw(ptr);
        boundary_value(function, (), || {
            if let Err(error) = check_process(&*boxed, "the handle") {
                std::mem::forget(boxed);
                return Err(error);
            }
            drop(boxed);
            Ok(())
        });
    }
}
