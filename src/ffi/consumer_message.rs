//! `yk_message`: a consumed message, its accessors, and `yk_task_done`,
//! which marks it done on whichever consumer or group handed it out.

use std::ffi::c_char;

use crate::consumer::Message;
use crate::error::ErrorCode;
use crate::ffi::arguments::check_out;
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::handles::{free_handle, handle, Boxed, Handle, MadeIn};
use crate::ffi::task_source::TaskSourceLink;

/// A message taken from a consumer. Owned by the caller until
/// `yk_message_free`; everything its accessors return is owned by it and
/// valid until then (also after the consumer is closed or freed). Read-only:
/// usable from several threads at once.
pub struct yk_message {
    pub(crate) message: Message,
    /// The consumer or group that handed it out; `None` for a message lent
    /// to a process callback, which its group marks done itself.
    source: Option<TaskSourceLink>,
}

impl yk_message {
    /// `message`, handed out by `source` (`None`: lent to a callback).
    pub(crate) fn new(message: Message, source: Option<TaskSourceLink>) -> yk_message {
        yk_message { message, source }
    }
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

/// Marks `message` processed on whichever consumer (`yk_consumer_next`,
/// `yk_consumer_get_message`) or consumer group (`yk_consumer_group_next`)
/// handed it out: the same as `yk_consumer_task_done` or
/// `yk_consumer_group_task_done` with that handle. Safe from any thread,
/// whatever became of the handle: a message whose consumer was closed or
/// whose group was stopped is `YK_ERROR_CLOSED_HANDLE` (nothing is marked),
/// and so is one whose handle was freed — the message stays valid and
/// never reaches the freed handle. A message lent to a process callback
/// (`yk_callback_group_run`, thread workers) is marked done by its group
/// when the callback returns 0: this returns `YK_ERROR_OK` and does
/// nothing. `message` stays the caller's.
#[no_mangle]
pub unsafe extern "C" fn yk_task_done(message: *const yk_message) -> ErrorCode {
    boundary(function_name!(), || {
        let message = handle(message, "message")?;
        match &message.source {
            Some(source) => source.task_done(&message.message),
            None => Ok(()),
        }
    })
}

/// Frees a message. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_message_free(message: *mut yk_message) {
    free_handle(message, function_name!());
}
