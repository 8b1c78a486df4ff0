//! `yk_callback_group`: Python yelp_kafka's callback-style `ConsumerGroup` in C
//! (docs/consumer-groups.md): `run` calls the application's process callback for every
//! message until `stop`.

use std::ffi::{c_char, c_void};

use crate::consumer::Message;
use crate::error::{Error, ErrorCode};
use crate::ffi::arguments::{c_strings, check_out, deadline_ms};
use crate::ffi::boundary::{boundary, call_with_error_buffer, function_name};
use crate::ffi::consumer_config::{yk_consumer_config, RebalanceCallbacks};
use crate::ffi::consumer_group::{group_responder, CRebalance};
use crate::ffi::consumer_message::yk_message;
use crate::ffi::handles::{free_handle, handle, write_handle, Boxed, Handle, MadeIn};
use crate::ffi::metrics::yk_metrics_responder;
use crate::ffi::reentrancy::{enter_handle, is_entered};
use crate::groups::callback::{CallbackGroup, MessageProcessor};

/// Processes one message on the thread running `yk_callback_group_run`.
/// `message` is lent for the call (do not free it). Return 0 when done; any
/// other value stops the group with `YK_ERROR_PROCESS_MESSAGE`, whose
/// message carries the NUL-terminated text written to `error` (at most
/// `error_size` bytes, optional). The callback must not call back into the
/// same group (`YK_ERROR_REENTRANT`), except `yk_callback_group_stop`.
pub type yk_process_callback = Option<
    unsafe extern "C" fn(opaque: *mut c_void, message: *const yk_message, error: *mut c_char, error_size: usize) -> i32,
>;

/// A callback-style group member.
pub struct yk_callback_group {
    group: CallbackGroup,
    rebalance: RebalanceCallbacks,
    process: CProcessor,
    /// The process that made it (docs/c-abi.md: fork).
    made_in: MadeIn,
}

impl Handle for yk_callback_group {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        Some(&self.made_in)
    }
}

#[derive(Clone, Copy)]
struct CProcessor {
    callback: unsafe extern "C" fn(*mut c_void, *const yk_message, *mut c_char, usize) -> i32,
    opaque: usize,
}

impl MessageProcessor for CProcessor {
    fn process(&mut self, message: &Message) -> std::result::Result<(), String> {
        let lent = yk_message::new(message.clone(), None);
        // SAFETY: the application supplied the callback and its opaque
        // pointer; the message and the error buffer live for the call.
        call_with_error_buffer(|error, size| unsafe { (self.callback)(self.opaque as *mut c_void, &lent, error, size) })
    }
}

/// Creates a callback-style member of `config`'s group for
/// `topics[0..count]` in `*out`: the same balancing, ZooKeeper layout,
/// commits and rebalance callbacks as `yk_consumer_group_new`, plus
/// `process` (required) with `process_opaque`. `config` and
/// `metrics_responder` (NULL: none) are copied. Free with
/// `yk_callback_group_free`. `*out` is written only on success.
/// A topic name outside Kafka's rule (`[a-zA-Z0-9._-]`, at most 249
/// characters, not `.` or `..`: docs/configuration.md) is
/// `YK_ERROR_INVALID_ARGUMENT` naming it.
#[no_mangle]
pub unsafe extern "C" fn yk_callback_group_new(
    topics: *const *const c_char,
    count: usize,
    config: *const yk_consumer_config,
    metrics_responder: *const yk_metrics_responder,
    process: yk_process_callback,
    process_opaque: *mut c_void,
    out: *mut *mut yk_callback_group,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let config = handle(config, "config")?;
        let callback = process.ok_or_else(|| Error::invalid_argument("process is NULL"))?;
        let topics = c_strings(topics, count, "topics")?;
        let responder = group_responder(config, metrics_responder)?;
        let group = CallbackGroup::new(&topics, config.config.clone(), responder)?;
        let process = CProcessor {
            callback,
            opaque: process_opaque as usize,
        };
        write_handle(
            out,
            yk_callback_group {
                group,
                rebalance: config.rebalance,
                process,
                made_in: MadeIn::this_process(),
            },
        );
        Ok(())
    })
}

/// Joins the group and calls the process callback for every message of the
/// partitions it holds, on this thread, marking each processed, until
/// `yk_callback_group_stop`; then commits and leaves. Returns
/// `YK_ERROR_OK` after a stop; `YK_ERROR_PROCESS_MESSAGE` (with the
/// callback's text) when the callback failed; `YK_ERROR_PARTITIONER` when
/// the ZooKeeper session was lost. Runs once per group: after a stop,
/// made before `run` too, `run` returns `YK_ERROR_OK` at once without
/// joining, and no callback of the group runs.
#[no_mangle]
pub unsafe extern "C" fn yk_callback_group_run(group: *const yk_callback_group) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        let mut processor = group.process;
        group.group.run(&mut processor, &mut CRebalance(group.rebalance))
    })
}

/// Asks `yk_callback_group_run` to stop after the message it is processing
/// and waits up to `timeout_ms` (≥ 0) for it to have committed and left;
/// `YK_ERROR_TIMED_OUT` when it has not yet (it still stops). Callable from
/// any thread, from the process callback too, and before `run` (which
/// then never joins).
#[no_mangle]
pub unsafe extern "C" fn yk_callback_group_stop(group: *const yk_callback_group, timeout_ms: i32) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let timeout = deadline_ms(timeout_ms)?;
        if is_entered(group) {
            // From the process callback: run is below us on this stack.
            group.group.request_stop();
            return Ok(());
        }
        group.group.stop(timeout)
    })
}

/// Frees a group; `yk_callback_group_run` must have returned. Every emitter
/// of its metrics responder is freed here, on the calling thread; after this
/// returns the library never again calls a callback of the group or touches
/// a pointer the application gave it. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_callback_group_free(group: *mut yk_callback_group) {
    free_handle(group, function_name!());
}
