//! The panic boundary and this thread's last error: every export runs its
//! body through [`boundary`] (or [`boundary_value`] for functions that
//! return a value instead of a code), which catches panics and records a
//! failure in the thread-local last-error slot that `yk_last_error_*` read.
//! Also the way back: [`call_with_error_buffer`] turns a C callback's
//! failure into text.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

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

/// The last error's message as a C string pointer ("" when none).
pub(crate) fn last_error_message_ptr() -> *const c_char {
    LAST_ERROR.with(|slot| {
        slot.borrow()
            .as_ref()
            .map_or(c"".as_ptr(), |last| last.message.as_ptr())
    })
}

pub(crate) fn last_error_code() -> ErrorCode {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(ErrorCode::Ok, |last| last.code))
}

pub(crate) fn last_error_kafka_code() -> i16 {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(0, |last| last.kafka_code))
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
