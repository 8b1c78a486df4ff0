//! The value types several C objects share: plain `#[repr(C)]` structs the
//! caller builds and owns (no `_new`, no `_free`), as opposed to handles.

use std::ffi::c_char;

/// A byte buffer: `len` bytes at `data` (`data` may be NULL only when `len` is 0).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_bytes {
    /// First byte.
    pub data: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// A topic and a partition. Strings are NUL-terminated UTF-8, owned by
/// whoever made the array.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_topic_partition {
    /// The topic.
    pub topic: *const c_char,
    /// The partition.
    pub partition: i32,
}

/// A record header: a name and a value, each `len` bytes at its pointer
/// (neither is NUL-terminated). A NULL `value` is a null value (Kafka's
/// headers may have one); a non-NULL `value` with `value_len` 0 is empty.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_header {
    /// The name's UTF-8 bytes.
    pub name: *const c_char,
    /// Bytes in `name`.
    pub name_len: usize,
    /// The value's bytes; NULL for a null value.
    pub value: *const u8,
    /// Bytes in `value`.
    pub value_len: usize,
}
