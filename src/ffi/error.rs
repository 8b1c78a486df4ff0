//! C functions for error codes and this thread's last error.

use std::ffi::c_char;

use crate::error::ErrorCode;
use crate::ffi::boundary::{
    boundary_value, function_name, last_error_code, last_error_kafka_code, last_error_message_ptr,
};

/// The name of `code`: the Python exception it stands for
/// (`"KafkaUnavailableError"`) or the C condition (`"InvalidArgument"`).
/// An unknown code gives `"UnknownErrorCode"`. The string is static: never free it.
#[no_mangle]
pub extern "C" fn yk_error_name(code: i32) -> *const c_char {
    boundary_value(function_name!(), c"UnknownErrorCode".as_ptr(), || {
        Ok(ErrorCode::from_i32(code).map_or(c"UnknownErrorCode".as_ptr(), |c| c.name_nul().as_ptr().cast()))
    })
}

/// A one-line description of `code`; `"Unknown error code"` for an unknown
/// code. The string is static: never free it.
#[no_mangle]
pub extern "C" fn yk_error_description(code: i32) -> *const c_char {
    boundary_value(function_name!(), c"Unknown error code".as_ptr(), || {
        Ok(ErrorCode::from_i32(code).map_or(c"Unknown error code".as_ptr(), |c| c.description_nul().as_ptr().cast()))
    })
}

/// Whether a call that failed with `code` may succeed when simply retried
/// (leader moved, broker unavailable, timeout). False for success and for
/// unknown codes. For `YK_ERROR_BROKER` the answer depends on the Kafka
/// code: use `yk_last_error_is_retriable` right after the failure.
#[no_mangle]
pub extern "C" fn yk_error_is_retriable(code: i32) -> bool {
    boundary_value(function_name!(), false, || {
        Ok(ErrorCode::from_i32(code).is_some_and(ErrorCode::is_retriable))
    })
}

/// Whether the last failure on this thread may succeed when retried,
/// Kafka's own table refining `YK_ERROR_BROKER`.
#[no_mangle]
pub extern "C" fn yk_last_error_is_retriable() -> bool {
    boundary_value(function_name!(), false, || {
        let code = last_error_code();
        let kafka = last_error_kafka_code();
        Ok(code != ErrorCode::Ok && crate::error::retriable(code, (kafka != 0).then_some(kafka)))
    })
}

/// The code of the last failure on this thread (`YK_ERROR_OK` when none).
/// Success does not clear it.
#[no_mangle]
pub extern "C" fn yk_last_error_code() -> ErrorCode {
    boundary_value(function_name!(), ErrorCode::Internal, || Ok(last_error_code()))
}

/// The message of the last failure on this thread, naming the function and
/// the problem; `""` when there was none. Owned by the library and valid
/// until the next failing call on this thread: copy it to keep it.
#[no_mangle]
pub extern "C" fn yk_last_error_message() -> *const c_char {
    boundary_value(function_name!(), c"".as_ptr(), || Ok(last_error_message_ptr()))
}

/// The raw Kafka error code a broker sent with the last failure on this
/// thread, or 0 when the failure did not come from a broker.
#[no_mangle]
pub extern "C" fn yk_last_error_kafka_code() -> i16 {
    boundary_value(function_name!(), 0, || Ok(last_error_kafka_code()))
}

/// The library's version, `"MAJOR.MINOR.PATCH"`. Static: never free it.
#[no_mangle]
pub extern "C" fn yk_version() -> *const c_char {
    boundary_value(function_name!(), c"".as_ptr(), || {
        Ok(concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast())
    })
}
