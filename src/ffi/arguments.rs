//! The plain C arguments: strings, arrays, indexes, out-parameters and
//! timeouts checked and borrowed, and Rust strings made C strings. Each
//! helper says what it checks; a bad argument is `InvalidArgument` naming it.

use std::ffi::{c_char, CStr, CString};
use std::time::Duration;

use crate::error::{Error, Result};

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

/// Checks an out-parameter before any work is done, so that it can be
/// written only on success.
pub(crate) fn check_out<T>(ptr: *mut T, what: &str) -> Result<()> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{what} is NULL")));
    }
    Ok(())
}

/// Borrows a struct the caller owns and passes by pointer (not a handle);
/// NULL is `InvalidArgument` naming `what`.
///
/// # Safety
/// `ptr` is NULL or points at an initialized `T` that outlives `'a`.
pub(crate) unsafe fn c_ref<'a, T>(ptr: *const T, what: &str) -> Result<&'a T> {
    ptr.as_ref()
        .ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))
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
