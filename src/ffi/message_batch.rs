//! `yk_message_batch`: messages taken several at a time, with their views,
//! so that a reader makes one C call per batch instead of several per
//! message (docs/c-abi.md, "Batches and views"). The batch keeps its
//! storage from one fill to the next: taking a batch allocates nothing per
//! message (a message with headers allocates its header array).

use crate::consumer::Message;
use crate::error::{Error, ErrorCode, Result};
use crate::ffi::arguments::check_out;
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
        let messages = &handle(batch, "batch")?.messages;
        let range = first
            .checked_add(count)
            .filter(|end| *end <= messages.len())
            .map(|end| first..end)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "messages {first} to {first} + {count} are out of range (the batch holds {})",
                    messages.len()
                ))
            })?;
        messages[range.clone()]
            .iter()
            .zip(range)
            .try_for_each(|(message, index)| message.task_done().map_err(|e| e.context(format!("message {index}"))))
    })
}

/// Frees a batch and the messages it holds (their views go with them).
/// NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_message_batch_free(batch: *mut yk_message_batch) {
    free_handle(batch, function_name!());
}
