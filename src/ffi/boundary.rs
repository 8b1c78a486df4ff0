//! The panic boundary and this thread's last error: every export runs its
//! body through [`boundary`] (or [`boundary_value`] for functions that
//! return a value instead of a code), which catches panics and records a
//! failure in the thread-local last-error slot that `yk_last_error_*` read.
//! The failure names the export, as [`function_name!`] derives it from the
//! export itself.
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

/// The name of the function this expands in (`"yk_producer_new"` in the
/// body of `yk_producer_new`, closures skipped): the name an export's
/// failures are recorded under, taken from the export itself so that it
/// cannot differ from it. The exports stay plain `#[no_mangle] extern "C"`
/// functions, which cbindgen reads (it does not expand macros).
///
/// The name is cut out of the type name once per call site and kept in a
/// static: exports on the per-message path (`yk_task_done`,
/// `yk_producer_produce`) evaluate this on every call, and the search cost
/// about 560 instructions each time (callgrind, BENCHMARKS.md).
macro_rules! function_name {
    () => {{
        fn here() {}
        static NAME: ::std::sync::OnceLock<&'static str> = ::std::sync::OnceLock::new();
        *NAME.get_or_init(|| $crate::ffi::boundary::enclosing_function(::std::any::type_name_of_val(&here)))
    }};
}
pub(crate) use function_name;

/// The enclosing function's name in the type name of the function `here`
/// that [`function_name!`] declares in it (`crate::ffi::producer::yk_producer_new::here`,
/// or `...::yk_producer_new::{{closure}}::here` inside a closure).
pub(crate) fn enclosing_function(here: &'static str) -> &'static str {
    here.rsplit("::")
        .skip(1)
        .find(|segment| !segment.starts_with('{'))
        .unwrap_or(here)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_name_is_the_enclosing_function() {
        assert_eq!(function_name!(), "function_name_is_the_enclosing_function");
    }

    #[test]
    fn function_name_skips_closures() {
        let outer = || {
            let inner = || function_name!();
            inner()
        };
        assert_eq!(outer(), "function_name_skips_closures");
    }

    #[test]
    fn a_failure_is_recorded_under_the_function_name() {
        let code = boundary(function_name!(), || Err(Error::invalid_argument("out is NULL")));
        assert_eq!(code, ErrorCode::InvalidArgument);
        assert_eq!(last_error_code(), ErrorCode::InvalidArgument);
        // SAFETY: the pointer is this thread's last message, alive until the next failure here.
        let message = unsafe { CStr::from_ptr(last_error_message_ptr()) };
        assert_eq!(
            message.to_str(),
            Ok("a_failure_is_recorded_under_the_function_name: out is NULL")
        );
    }
}
