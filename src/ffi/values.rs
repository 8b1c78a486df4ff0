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
