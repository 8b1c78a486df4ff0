//! `yk_message`: a consumed message, its accessors, and `yk_task_done`,
//! which marks it done on whichever consumer or group handed it out.

use std::ffi::c_char;

use crate::consumer::Message;
use crate::error::{ErrorCode, Result};
use crate::ffi::arguments::check_out;
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::handles::{free_handle, handle, Boxed, Handle, MadeIn};
use crate::ffi::task_source::TaskSourceLink;
use crate::ffi::values::yk_header;

/// A message taken from a consumer. Owned by the caller until
/// `yk_message_free`; everything its accessors return is owned by it and
/// valid until then (also after the consumer is closed or freed). Read-only:
/// usable from several threads at once.
pub struct yk_message {
    pub(crate) message: Message,
    /// The consumer or group that handed it out; `None` for a message lent
    /// to a process callback, which its group marks done itself.
    source: Option<TaskSourceLink>,
    /// The headers as C sees them, pointing into `message` (empty, and
    /// not allocated, for a message without headers).
    headers: Vec<yk_header>,
}

impl yk_message {
    /// `message`, handed out by `source` (`None`: lent to a callback).
    pub(crate) fn new(message: Message, source: Option<TaskSourceLink>) -> yk_message {
        let headers = message
            .headers()
            .map(|(name, value)| yk_header {
                name: name.as_ptr().cast(),
                name_len: name.len(),
                value: value.map_or(std::ptr::null(), <[u8]>::as_ptr),
                value_len: value.map_or(0, <[u8]>::len),
            })
            .collect();
        yk_message {
            message,
            source,
            headers,
        }
    }

    /// Every field at once, pointing into this message.
    pub(crate) fn view(&self) -> yk_message_view {
        let message = &self.message;
        let (key, key_len) = parts(message.key());
        let (value, value_len) = parts(message.value());
        yk_message_view {
            message: self,
            topic: message.topic().as_c_str().as_ptr(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp(),
            timestamp_type: if message.log_append_time() {
                yk_timestamp_type::LogAppendTime
            } else {
                yk_timestamp_type::CreateTime
            },
            key,
            key_len,
            value,
            value_len,
            headers: if self.headers.is_empty() {
                std::ptr::null()
            } else {
                self.headers.as_ptr()
            },
            header_count: self.headers.len(),
        }
    }

    /// Marks this message done on the consumer or group that handed it out
    /// (see `yk_task_done`); nothing for a message lent to a callback.
    pub(crate) fn task_done(&self) -> Result<()> {
        match &self.source {
            Some(source) => source.task_done(&self.message),
            None => Ok(()),
        }
    }
}

/// The bytes' address (NULL for none) and length.
fn parts(bytes: Option<&[u8]>) -> (*const u8, usize) {
    bytes.map_or((std::ptr::null(), 0), |bytes| (bytes.as_ptr(), bytes.len()))
}

/// Who set a message's timestamp.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yk_timestamp_type {
    /// The producer, when it created the message.
    CreateTime = 0,
    /// The broker, when it appended the message to the log (the topic's
    /// `message.timestamp.type` is `LogAppendTime`).
    LogAppendTime = 1,
}

/// Every field of a message in one struct: one call
/// (`yk_message_get_view`, or one per batch with
/// `yk_consumer_next_batch` / `yk_consumer_group_next_batch`) instead of
/// one accessor per field. Every pointer points into `message` and is
/// valid as long as it is. Keys and values: NULL with length 0 is a null
/// key (or value: a tombstone), non-NULL with length 0 an empty one.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_message_view {
    /// The message itself, for `yk_task_done` and the other message calls.
    pub message: *const yk_message,
    /// The topic, NUL-terminated.
    pub topic: *const c_char,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Who set `timestamp`.
    pub timestamp_type: yk_timestamp_type,
    /// The key's bytes; NULL for a null key.
    pub key: *const u8,
    /// Bytes in `key`.
    pub key_len: usize,
    /// The value's bytes; NULL for a null value.
    pub value: *const u8,
    /// Bytes in `value`.
    pub value_len: usize,
    /// The headers in record order; NULL when there are none. A name that
    /// repeats within one record is kept once, with its last value.
    pub headers: *const yk_header,
    /// Entries in `headers`.
    pub header_count: usize,
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
    let (address, count) = parts(bytes);
    *len = count;
    address
}

/// Writes every field of `message` to `*out` at once (see
/// `yk_message_view`); the pointers are owned by `message`. `*out` is
/// written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_message_get_view(message: *const yk_message, out: *mut yk_message_view) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        *out = handle(message, "message")?.view();
        Ok(())
    })
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
    boundary(function_name!(), || handle(message, "message")?.task_done())
}

/// Frees a message. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_message_free(message: *mut yk_message) {
    free_handle(message, function_name!());
}
