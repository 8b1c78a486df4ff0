//! The C boundary: every `extern "C"` function of the library, and all of
//! its `unsafe` code.
//!
//! One file per C object. Every export runs its body through [`boundary`]
//! (or [`boundary_value`] for functions that return a value instead of a
//! code), which catches panics and records the failure in this thread's
//! last-error slot. The helpers below are the only places that turn raw
//! pointers into references; each says what it checks.
//!
//! Ownership: every handle is Box-backed, created by its `_new` function and
//! destroyed by its `_free` function, which accepts NULL.

#![allow(non_camel_case_types)]
// The safety contract of every export is the C contract its doc comment states.
#![allow(clippy::missing_safety_doc)]

pub mod callback_group;
pub mod cluster_config;
pub mod config;
pub mod consumer;
pub mod consumer_config;
pub mod consumer_group;
pub mod consumer_message;
pub mod discovery;
pub mod error;
pub mod metrics;
pub mod multiprocessing_group;
pub mod offsets;
pub mod producer;
pub mod topology;

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};

struct LastError {
    code: ErrorCode,
    message: CString,
    kafka_code: i16,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn record_error(function: &str, error: &Error) {
    let text = format!("{function}: {}", error.message()).replace('\0', "\\0");
    let message = CString::new(text).expect("NULs were replaced");
    LAST_ERROR.with(|slot| {
        *slot.borrow_mut() = Some(LastError {
            code: error.code(),
            message,
            kafka_code: error.kafka_code().unwrap_or(0),
        });
    });
}

fn panic_error(function: &str, panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Error::new(ErrorCode::Internal, format!("panic inside {function}: {what}"))
}

thread_local! {
    /// Handles whose entry point is running on this thread (a callback of
    /// theirs may be running too).
    static ACTIVE_HANDLES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a handle as in use by this thread for the life of the guard.
pub(crate) struct HandleEntry(usize);

/// Enters `handle` on this thread; a nested entry — a callback calling back
/// into the handle that is running it — is `Reentrant` rather than a deadlock.
pub(crate) fn enter_handle<T>(handle: &T, what: &str) -> Result<HandleEntry> {
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
pub(crate) fn is_entered<T>(handle: &T) -> bool {
    let address = handle as *const T as usize;
    ACTIVE_HANDLES.with(|active| active.borrow().contains(&address))
}

impl Drop for HandleEntry {
    fn drop(&mut self) {
        ACTIVE_HANDLES.with(|active| active.borrow_mut().retain(|a| *a != self.0));
    }
}

/// Runs the body of an export that returns a code: success is `YK_ERROR_OK`,
/// an error or a panic sets this thread's last error and returns its code.
pub(crate) fn boundary(function: &str, body: impl FnOnce() -> Result<()>) -> ErrorCode {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => ErrorCode::Ok,
        Ok(Err(error)) => {
            record_error(function, &error);
            error.code()
        }
        Err(panic) => {
            let error = panic_error(function, panic);
            record_error(function, &error);
            error.code()
        }
    }
}

/// Runs the body of an export that returns a value: on an error or a panic
/// the last error is set and `fallback` is returned.
pub(crate) fn boundary_value<T>(function: &str, fallback: T, body: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            record_error(function, &error);
            fallback
        }
        Err(panic) => {
            record_error(function, &panic_error(function, panic));
            fallback
        }
    }
}

/// Borrows a NUL-terminated UTF-8 string; NULL or bad UTF-8 is `InvalidArgument` naming `what`.
///
/// # Safety
/// `ptr` is NULL or points at a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{what} is NULL")));
    }
    CStr::from_ptr(ptr)
        .to_str()
        .map_err(|e| Error::invalid_argument(format!("{what} is not valid UTF-8 ({e})")))
}

/// Like [`c_str`], but NULL is `None`.
///
/// # Safety
/// As for [`c_str`].
pub(crate) unsafe fn optional_c_str<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        c_str(ptr, what).map(Some)
    }
}

/// Borrows a handle; NULL is `InvalidArgument` naming `what`.
///
/// # Safety
/// `ptr` is NULL or a live handle of type `T` made by this library.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T> {
    ptr.as_ref()
        .ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))
}

/// Borrows a handle mutably; NULL is `InvalidArgument` naming `what`.
///
/// # Safety
/// `ptr` is NULL or a live handle of type `T` that nothing else uses now.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    ptr.as_mut()
        .ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))
}

/// Checks an out-parameter before any work is done, so that it can be
/// written only on success.
pub(crate) fn check_out<T>(ptr: *mut T, what: &str) -> Result<()> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{what} is NULL")));
    }
    Ok(())
}

/// Writes a new Box-backed handle to a checked out-parameter.
///
/// # Safety
/// `out` passed [`check_out`] and points at writable memory for one pointer.
pub(crate) unsafe fn write_handle<T>(out: *mut *mut T, value: T) {
    *out = Box::into_raw(Box::new(value));
}

/// Destroys a Box-backed handle; NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or a handle made by [`write_handle`] not freed before.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        let boxed = Box::from_raw(ptr);
        boundary_value("free", (), || {
            drop(boxed);
            Ok(())
        });
    }
}

/// Borrows an array of `count` handle pointers; a NULL array (with a
/// non-zero count) or a NULL element is `InvalidArgument`.
///
/// # Safety
/// `items` is NULL or points at `count` pointers, each NULL or a live handle.
pub(crate) unsafe fn handle_array<'a, T>(items: *const *const T, count: usize, what: &str) -> Result<Vec<&'a T>> {
    c_slice(items, count, what)?
        .iter()
        .enumerate()
        .map(|(i, ptr)| handle(*ptr, &format!("{what}[{i}]")))
        .collect()
}

/// Borrows `count` items at `items`; NULL is allowed only with a count of
/// 0, else `InvalidArgument` naming `what`.
///
/// # Safety
/// `items` is NULL or points at `count` initialized items that outlive `'a`.
pub(crate) unsafe fn c_slice<'a, T>(items: *const T, count: usize, what: &str) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if items.is_null() {
        return Err(Error::invalid_argument(format!(
            "{what} is NULL but its count is {count}"
        )));
    }
    Ok(std::slice::from_raw_parts(items, count))
}

/// Copies an array of `count` C strings; a NULL array (with a non-zero
/// count), a NULL element or bad UTF-8 is `InvalidArgument` naming it.
///
/// # Safety
/// `items` is NULL or points at `count` pointers, each NULL or a NUL-terminated string.
pub(crate) unsafe fn c_strings(items: *const *const c_char, count: usize, what: &str) -> Result<Vec<String>> {
    c_slice(items, count, what)?
        .iter()
        .enumerate()
        .map(|(i, item)| c_str(*item, &format!("{what}[{i}]")).map(str::to_string))
        .collect()
}

/// Runs a C callback that reports failure with a non-zero result and may
/// explain it in a buffer we lend it; the text (or the code) on failure.
pub(crate) fn call_with_error_buffer(call: impl FnOnce(*mut c_char, usize) -> i32) -> std::result::Result<(), String> {
    let mut buffer = [0 as c_char; 512];
    let code = call(buffer.as_mut_ptr(), buffer.len());
    if code == 0 {
        return Ok(());
    }
    *buffer.last_mut().expect("the buffer is not empty") = 0;
    // SAFETY: the buffer is NUL-terminated: its last byte was just zeroed.
    let text = unsafe { CStr::from_ptr(buffer.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Err(if text.is_empty() {
        format!("the callback returned {code}")
    } else {
        text
    })
}

/// "No limit" for a C call that waits: a year, so that every deadline
/// computed from it stays representable.
pub(crate) const NO_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// A C deadline in milliseconds (≥ 0); a negative one is `InvalidArgument`.
pub(crate) fn deadline_ms(timeout_ms: i32) -> Result<Duration> {
    u64::try_from(timeout_ms)
        .map(Duration::from_millis)
        .map_err(|_| Error::invalid_argument(format!("timeout_ms {timeout_ms} is negative")))
}

/// A Rust string as an owned C string; an inner NUL is `InvalidArgument`.
pub(crate) fn to_c_string(text: &str, what: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::invalid_argument(format!("{what} contains a NUL byte")))
}

/// `Some(index)` when `index < len`, else `InvalidArgument`.
pub(crate) fn check_index(index: usize, len: usize, what: &str) -> Result<usize> {
    if index < len {
        Ok(index)
    } else {
        Err(Error::invalid_argument(format!(
            "{what} {index} is out of range (count {len})"
        )))
    }
}

/// The last error's message as a C string pointer ("" when none).
fn last_error_message_ptr() -> *const c_char {
    LAST_ERROR.with(|slot| {
        slot.borrow()
            .as_ref()
            .map_or(c"".as_ptr(), |last| last.message.as_ptr())
    })
}

fn last_error_code() -> ErrorCode {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(ErrorCode::Ok, |last| last.code))
}

fn last_error_kafka_code() -> i16 {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(0, |last| last.kafka_code))
}
