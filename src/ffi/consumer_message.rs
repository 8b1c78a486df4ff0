//! `yk_message`: a consumed message and its accessors.

use std::ffi::c_char;

use crate::consumer::Message;
use crate::ffi::arguments::check_out;
use crate::ffi::boundary::{boundary_value, function_name};
use crate::ffi::handles::{free_handle, handle, Boxed, Handle, MadeIn};

/// A message taken from a consumer. Owned by the caller until
/// `yk_message_free`; everything its accessors return is owned by it and
/// valid until then (also after the consumer is closed or freed). Read-only:
/// usable from several threads at once.
pub struct yk_message {
    pub(crate) message: Message,
}

impl Handle for yk_message {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

/// The message's topic; NULL when `message` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_message_topic(message: *const yk_message) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(handle(message, "message")?.message.topic().as_c_str().as_ptr())
    })
}

/// The message's partition; −1 when `message` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_message_partition(message: *const yk_message) -> i32 {
    boundary_value(function_name!(), -1, || {
        Ok(handle(message, "message")?.message.partition())
    })
}

/// The message's offset; −1 when `message` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_message_offset(message: *const yk_message) -> i64 {
    boundary_value(function_name!(), -1, || {
        Ok(handle(message, "message")?.message.offset())
    })
}

/// The message's timestamp (milliseconds since the Unix epoch, as its
/// record batch says); −1 when `message` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_message_timestamp(message: *const yk_message) -> i64 {
    boundary_value(function_name!(), -1, || {
        Ok(handle(message, "message")?.message.timestamp())
    })
}

/// The key's bytes, their number in `*len`. A null key gives NULL with
/// `*len` 0; an empty key a non-NULL pointer with `*len` 0. When `message`
/// or `len` is NULL: NULL, the last error set and `*len` untouched.
#[no_mangle]
pub unsafe extern "C" fn yk_message_key(message: *const yk_message, len: *mut usize) -> *const u8 {
    boundary_value(function_name!(), std::ptr::null(), || {
        check_out(len, "len")?;
        Ok(lend(handle(message, "message")?.message.key(), len))
    })
}

/// The value's bytes, their number in `*len`; as `yk_message_key` (a null
/// value, a tombstone, gives NULL with `*len` 0).
#[no_mangle]
pub unsafe extern "C" fn yk_message_value(message: *const yk_message, len: *mut usize) -> *const u8 {
    boundary_value(function_name!(), std::ptr::null(), || {
        check_out(len, "len")?;
        Ok(lend(handle(message, "message")?.message.value(), len))
    })
}

/// Writes the length to `*len` and returns the bytes' address (NULL for none).
///
/// # Safety
/// `len` passed `check_out`.
unsafe fn lend(bytes: Option<&[u8]>, len: *mut usize) -> *const u8 {
    *len = bytes.map_or(0, <[u8]>::len);
    bytes.map_or(std::ptr::null(), <[u8]>::as_ptr)
}

/// Frees a message. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_message_free(message: *mut yk_message) {
    free_handle(message, function_name!());
}
