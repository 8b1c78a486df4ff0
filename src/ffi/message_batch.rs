//! `yk_message_batch`: messages taken several at a time, with their views,
//! so that a reader makes one C call per batch instead of several per
//! message (docs/c-abi.md, "Batches and views"). The batch keeps its
//! storage from one fill to the next: taking a batch allocates nothing per
//! message (a message with headers allocates its header array). A run of a
//! batch's messages can also be read a field at a time, into memory the
//! caller owns (`yk_message_batch_columns`, `yk_message_batch_copy_values`
//! and `_keys`), for a binding that pays per value it reads across the
//! boundary.

use std::ffi::c_char;
use std::ops::Range;

use crate::consumer::Message;
use crate::error::{Error, ErrorCode, Result};
use crate::ffi::arguments::{c_ref, check_out};
use crate::ffi::boundary::{boundary, function_name};
use crate::ffi::consumer_message::{yk_message, yk_message_view};
use crate::ffi::handles::{free_handle, handle, handle_mut, write_handle, Boxed, Handle, MadeIn};
use crate::ffi::task_source::TaskSource;

/// The most messages one batch holds.
const MAX_CAPACITY: usize = 1 << 16;

/// Up to `capacity` messages taken by one `yk_consumer_next_batch` or
/// `yk_consumer_group_next_batch`, and their views. The messages belong to
/// the batch (never `yk_message_free` them) and live until the batch is
/// filled again or freed. Not synchronized: one thread at a time.
pub struct yk_message_batch {
    /// Never grows past its first capacity, so the views' pointers into it stay valid.
    messages: Vec<yk_message>,
    views: Vec<yk_message_view>,
}

impl Handle for yk_message_batch {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

impl yk_message_batch {
    /// Releases what the batch holds, then takes messages from `take` (which
    /// is given the capacity and where to put each), all from `source`.
    fn fill(
        &mut self,
        source: &TaskSource,
        take: impl FnOnce(usize, &mut dyn FnMut(Message)) -> Result<usize>,
    ) -> Result<()> {
        self.views.clear();
        self.messages.clear();
        let capacity = self.messages.capacity();
        let messages = &mut self.messages;
        take(capacity, &mut |message| {
            debug_assert!(messages.len() < capacity, "a batch never grows");
            messages.push(yk_message::new(message, Some(source.link())));
        })?;
        self.views.extend(self.messages.iter().map(yk_message::view));
        Ok(())
    }

    /// The indexes of `count` messages from the `first`; `InvalidArgument`
    /// when they reach past the messages the batch holds.
    fn range(&self, first: usize, count: usize) -> Result<Range<usize>> {
        first
            .checked_add(count)
            .filter(|end| *end <= self.messages.len())
            .map(|end| first..end)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "messages {first} to {first} + {count} are out of range (the batch holds {})",
                    self.messages.len()
                ))
            })
    }
}

/// The body of a `next_batch` export once its handle is borrowed: checks
/// the batch and the out-parameters, fills the batch from `take` with
/// messages of `source`, and lends the views.
///
/// # Safety
/// `batch` is NULL or a live batch nothing else uses now; `views` and
/// `count` are NULL or writable.
pub(crate) unsafe fn fill_batch(
    batch: *mut yk_message_batch,
    views: *mut *const yk_message_view,
    count: *mut usize,
    source: &TaskSource,
    take: impl FnOnce(usize, &mut dyn FnMut(Message)) -> Result<usize>,
) -> Result<()> {
    check_out(views, "views")?;
    check_out(count, "count")?;
    let batch = handle_mut(batch, "batch")?;
    batch.fill(source, take)?;
    *views = batch.views.as_ptr();
    *count = batch.views.len();
    Ok(())
}

/// Creates an empty batch of up to `capacity` messages (1 to 65536) in
/// `*out`. Free with `yk_message_batch_free`. `*out` is written only on
/// success.
#[no_mangle]
pub unsafe extern "C" fn yk_message_batch_new(capacity: usize, out: *mut *mut yk_message_batch) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(Error::invalid_argument(format!(
                "capacity {capacity} is out of range (1 to {MAX_CAPACITY})"
            )));
        }
        write_handle(
            out,
            yk_message_batch {
                messages: Vec::with_capacity(capacity),
                views: Vec::with_capacity(capacity),
            },
        );
        Ok(())
    })
}

/// Marks `count` messages of `batch`, from the `first` (0-based, in the
/// order of its views), processed, in order: what `yk_task_done` does for
/// each, in one call, which is what a binding that pays per C call (Ruby's
/// ffi) wants for a whole batch. Each is marked on whichever consumer or
/// group handed it out, as `yk_task_done` says (also a message already
/// marked, which changes nothing). Stops at the first failure and returns
/// it, its message naming the failing index: the messages before it stay
/// marked. `first + count` beyond the messages the batch holds is
/// `YK_ERROR_INVALID_ARGUMENT` and marks nothing; `count` 0 marks nothing.
/// Not while another thread fills `batch`.
#[no_mangle]
pub unsafe extern "C" fn yk_message_batch_task_done(
    batch: *const yk_message_batch,
    first: usize,
    count: usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        let batch = handle(batch, "batch")?;
        let range = batch.range(first, count)?;
        batch.messages[range.clone()]
            .iter()
            .zip(range)
            .try_for_each(|(message, index)| message.task_done().map_err(|e| e.context(format!("message {index}"))))
    })
}

/// Where `yk_message_batch_columns` writes fields of a run of a batch's
/// messages, one array per field: each NULL (not wanted) or room for the
/// run's `count` entries, entry `i` being message `first + i`'s field.
#[repr(C)]
pub struct yk_message_columns {
    /// The offsets.
    pub offsets: *mut i64,
    /// The partitions.
    pub partitions: *mut i32,
    /// The timestamps, milliseconds since the Unix epoch.
    pub timestamps: *mut i64,
    /// The topics, NUL-terminated: the views' `topic`, valid as long as the
    /// messages are; the messages of one topic share one pointer.
    pub topics: *mut *const c_char,
}

/// Writes the fields `columns` asks for (its non-NULL arrays) of `count`
/// messages of `batch`, from the `first` (0-based, in the order of its
/// views): what the views hold, a field at a time, for a binding that pays
/// per value it reads from a view (Ruby's ffi reads each array in one
/// call). `first + count` beyond the messages the batch holds is
/// `YK_ERROR_INVALID_ARGUMENT`, as is a NULL `columns`; nothing is written
/// then. Not while another thread fills `batch`.
#[no_mangle]
pub unsafe extern "C" fn yk_message_batch_columns(
    batch: *const yk_message_batch,
    first: usize,
    count: usize,
    columns: *const yk_message_columns,
) -> ErrorCode {
    boundary(function_name!(), || {
        let batch = handle(batch, "batch")?;
        let messages = &batch.messages[batch.range(first, count)?];
        let columns = c_ref(columns, "columns")?;
        let fields = messages.iter().map(|m| &m.message);
        // SAFETY: each non-NULL column has room for `count` entries, one per
        // message (this function's contract).
        unsafe {
            write_column(columns.offsets, fields.clone().map(Message::offset));
            write_column(columns.partitions, fields.clone().map(Message::partition));
            write_column(columns.timestamps, fields.clone().map(Message::timestamp));
            write_column(columns.topics, fields.map(|m| m.topic().as_c_str().as_ptr()));
        }
        Ok(())
    })
}

/// Writes each of `items` at `column`, one after the other; nothing when
/// `column` is NULL.
///
/// # Safety
/// `column` is NULL or has room for every item.
unsafe fn write_column<T>(column: *mut T, items: impl Iterator<Item = T>) {
    if column.is_null() {
        return;
    }
    for (i, item) in items.enumerate() {
        // SAFETY: `column` has room for every item (the caller's contract).
        unsafe { column.add(i).write(item) };
    }
}

/// Copies the values of `count` messages of `batch`, from the `first` (as
/// `yk_message_batch_columns` counts them), back to back into `buffer`:
/// one copy per run, for a binding that makes one string per value more
/// cheaply from one buffer than from a pointer each (Ruby's
/// `String#unpack`). Writes each value's length to `lengths` (`count`
/// entries; -1 for a null value, which takes no bytes) and the bytes they
/// take together to `*size`; copies them only when `*size` fits in
/// `capacity`, leaving `buffer` untouched otherwise (call again with a
/// buffer that big; NULL with `capacity` 0 asks for the size alone).
/// `first + count` out of range, NULL `lengths` (unless `count` is 0),
/// NULL `size`, or NULL `buffer` with a non-zero `capacity` is
/// `YK_ERROR_INVALID_ARGUMENT`; nothing is written then. Not while another
/// thread fills `batch`.
#[no_mangle]
pub unsafe extern "C" fn yk_message_batch_copy_values(
    batch: *const yk_message_batch,
    first: usize,
    count: usize,
    lengths: *mut i64,
    buffer: *mut u8,
    capacity: usize,
    size: *mut usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        copy_bytes(batch, first, count, Message::value, lengths, buffer, capacity, size)
    })
}

/// The same as `yk_message_batch_copy_values` for the keys (-1 for a null
/// key).
#[no_mangle]
pub unsafe extern "C" fn yk_message_batch_copy_keys(
    batch: *const yk_message_batch,
    first: usize,
    count: usize,
    lengths: *mut i64,
    buffer: *mut u8,
    capacity: usize,
    size: *mut usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        copy_bytes(batch, first, count, Message::key, lengths, buffer, capacity, size)
    })
}

/// The body of `yk_message_batch_copy_values` and `_keys`, the bytes of
/// each message being `bytes(message)`.
///
/// # Safety
/// As those functions say: `batch` is NULL or a live batch nothing fills
/// now; `lengths` NULL or room for `count` entries; `buffer` NULL or room
/// for `capacity` bytes; `size` NULL or writable.
#[allow(clippy::too_many_arguments)]
unsafe fn copy_bytes(
    batch: *const yk_message_batch,
    first: usize,
    count: usize,
    bytes: fn(&Message) -> Option<&[u8]>,
    lengths: *mut i64,
    buffer: *mut u8,
    capacity: usize,
    size: *mut usize,
) -> Result<()> {
    let batch = handle(batch, "batch")?;
    let messages = &batch.messages[batch.range(first, count)?];
    if lengths.is_null() && count > 0 {
        return Err(Error::invalid_argument("lengths is NULL"));
    }
    check_out(size, "size")?;
    if buffer.is_null() && capacity > 0 {
        return Err(Error::invalid_argument(format!(
            "buffer is NULL with capacity {capacity}"
        )));
    }
    let all = || messages.iter().filter_map(|m| bytes(&m.message));
    let total = all().map(<[u8]>::len).sum();
    // SAFETY: `lengths` has room for `count` entries, one per message, and
    // `size` is writable (this function's contract, checked non-NULL above).
    unsafe {
        write_column(
            lengths,
            messages
                .iter()
                .map(|m| bytes(&m.message).map_or(-1, |b| b.len() as i64)),
        );
        size.write(total);
    }
    if total == 0 || total > capacity {
        return Ok(());
    }
    let mut at = 0;
    for value in all() {
        // SAFETY: `buffer` (not NULL: `capacity` ≥ `total` > 0) has room
        // for `capacity` bytes and the values take `total` of them; they
        // live in the batch's messages, never in memory the caller owns.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), buffer.add(at), value.len()) };
        at += value.len();
    }
    Ok(())
}

/// Frees a batch and the messages it holds (their views go with them).
/// NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_message_batch_free(batch: *mut yk_message_batch) {
    free_handle(batch, function_name!());
}
