//! `yk_multiprocessing_group`: Python yelp_kafka's `MultiprocessingConsumerGroup` in
//! C (docs/consumer-groups.md) — a worker per acquired partition, as a thread running the
//! application's callbacks or as a process running its worker program —
//! and `yk_worker_list`, the live workers.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use crate::consumer::{Message, TopicPartition};
use crate::error::{Error, ErrorCode, Result};
use crate::ffi::arguments::{c_ref, c_strings, check_index, check_out, deadline_ms};
use crate::ffi::boundary::{boundary, boundary_value, call_with_error_buffer, function_name};
use crate::ffi::consumer::yk_consumer;
use crate::ffi::consumer_config::yk_consumer_config;
use crate::ffi::consumer_message::yk_message;
use crate::ffi::handles::{free_handle, handle, write_handle, Boxed, Handle, MadeIn};
use crate::groups::multiprocessing::process::consumer_from_env;
use crate::groups::multiprocessing::thread::{PartitionWorker, WorkerFactory};
use crate::groups::multiprocessing::{MultiprocessingGroup, WorkerInfo, WorkerKind, WorkerMode};

/// The application's thread workers. Every callback runs on the worker
/// thread of its partition — a library thread, by design — and several
/// workers run at once: the callbacks must be thread-safe. `opaque` must
/// stay valid until the group is freed; once `yk_multiprocessing_group_free`
/// returns no callback runs again.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_worker_callbacks {
    /// Passed back to every callback.
    pub opaque: *mut c_void,
    /// Starts the worker of `topic`/`partition`; returns its state (any
    /// non-NULL pointer), or NULL to give up (the group tries again later).
    pub initialize:
        Option<unsafe extern "C" fn(opaque: *mut c_void, topic: *const c_char, partition: i32) -> *mut c_void>,
    /// Processes one message (lent for the call); 0 when done, anything else
    /// ends the worker (text in `error`, optional), which is then restarted
    /// from the last commit.
    pub process: Option<
        unsafe extern "C" fn(
            opaque: *mut c_void,
            worker: *mut c_void,
            message: *const yk_message,
            error: *mut c_char,
            error_size: usize,
        ) -> i32,
    >,
    /// The worker ends (stopped, failed, or its partition moved); free its state.
    pub dispose: Option<unsafe extern "C" fn(opaque: *mut c_void, worker: *mut c_void)>,
}

// SAFETY: the application promises thread-safe callbacks (documented above).
unsafe impl Send for yk_worker_callbacks {}
unsafe impl Sync for yk_worker_callbacks {}

impl WorkerFactory for yk_worker_callbacks {
    fn create(&self, partition: &TopicPartition) -> std::result::Result<Box<dyn PartitionWorker>, String> {
        let initialize = self.initialize.expect("checked at creation");
        // SAFETY: the application supplied the callback; the topic string lives for the call.
        let state = unsafe { initialize(self.opaque, partition.topic.as_c_str().as_ptr(), partition.partition) };
        if state.is_null() {
            return Err(format!("initialize returned NULL for {partition}"));
        }
        Ok(Box::new(CWorker { table: *self, state }))
    }
}

struct CWorker {
    table: yk_worker_callbacks,
    state: *mut c_void,
}

// SAFETY: the state belongs to one worker thread at a time.
unsafe impl Send for CWorker {}

impl PartitionWorker for CWorker {
    fn process(&mut self, message: &Message) -> std::result::Result<(), String> {
        let process = self.table.process.expect("checked at creation");
        let lent = yk_message::new(message.clone(), None);
        // SAFETY: as in `create`; the message and the buffer live for the call.
        call_with_error_buffer(|error, size| unsafe { process(self.table.opaque, self.state, &lent, error, size) })
    }

    fn dispose(&mut self) {
        if let Some(dispose) = self.table.dispose {
            // SAFETY: as in `create`; called once per worker.
            unsafe { dispose(self.table.opaque, self.state) };
        }
    }
}

/// A multiprocessing group member.
pub struct yk_multiprocessing_group {
    group: MultiprocessingGroup,
    /// The process that made it (docs/c-abi.md: fork).
    made_in: MadeIn,
}

impl Handle for yk_multiprocessing_group {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        Some(&self.made_in)
    }
}

/// Creates a member of `config`'s group for `topics[0..count]` that runs a
/// thread per acquired partition with `callbacks` (copied; `initialize` and
/// `process` required). Each worker has its own consumer of its partition
/// with the group's offsets and `config`'s commit settings. On release a
/// worker is asked to stop, waited for up to `max_termination_timeout_secs`
/// (all together), and then fenced: its consumer is closed, so its later
/// commits are refused and `process` is not called again, and its thread
/// finishes the callback it is in and `dispose`. While a fenced thread
/// runs, `yk_multiprocessing_group_stop` and `yk_multiprocessing_group_start`
/// say so with `YK_ERROR_WORKERS_RUNNING`, and
/// `yk_multiprocessing_group_free` waits for it. `*out` is written only on
/// success.
/// A topic name outside Kafka's rule (`[a-zA-Z0-9._-]`, at most 249
/// characters, not `.` or `..`: docs/configuration.md) is
/// `YK_ERROR_INVALID_ARGUMENT` naming it.
#[no_mangle]
pub unsafe extern "C" fn yk_multiprocessing_group_new_threads(
    topics: *const *const c_char,
    count: usize,
    config: *const yk_consumer_config,
    callbacks: *const yk_worker_callbacks,
    out: *mut *mut yk_multiprocessing_group,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let callbacks = *c_ref(callbacks, "callbacks")?;
        if callbacks.initialize.is_none() || callbacks.process.is_none() {
            return Err(Error::invalid_argument("callbacks need initialize and process"));
        }
        new_group(topics, count, config, WorkerMode::Threads(Arc::new(callbacks)), out)
    })
}

/// Creates a member of `config`'s group for `topics[0..count]` that starts
/// the program `argv[0]` with arguments `argv[1..argc]` once per acquired
/// partition. The worker finds its partition, group and cluster in its
/// environment (`YK_WORKER_*`), and `yk_multiprocessing_worker_consumer`
/// turns that into its consumer. A worker that exits is started again; on
/// release workers get SIGTERM, and SIGKILL after
/// `max_termination_timeout_secs`. `*out` is written only on success.
/// A topic name outside Kafka's rule (`[a-zA-Z0-9._-]`, at most 249
/// characters, not `.` or `..`: docs/configuration.md) is
/// `YK_ERROR_INVALID_ARGUMENT` naming it.
#[no_mangle]
pub unsafe extern "C" fn yk_multiprocessing_group_new_processes(
    topics: *const *const c_char,
    count: usize,
    config: *const yk_consumer_config,
    argv: *const *const c_char,
    argc: usize,
    out: *mut *mut yk_multiprocessing_group,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let command = c_strings(argv, argc, "argv")?;
        new_group(topics, count, config, WorkerMode::Processes(command), out)
    })
}

/// Creates the group of `mode` for the exports above and writes it to `*out`.
///
/// # Safety
/// `out` passed `check_out`; `topics` and `config` are as the exports state.
unsafe fn new_group(
    topics: *const *const c_char,
    count: usize,
    config: *const yk_consumer_config,
    mode: WorkerMode,
    out: *mut *mut yk_multiprocessing_group,
) -> Result<()> {
    let config = handle(config, "config")?;
    let topics = c_strings(topics, count, "topics")?;
    let group = MultiprocessingGroup::new(&topics, config.config.clone(), mode)?;
    write_handle(
        out,
        yk_multiprocessing_group {
            group,
            made_in: MadeIn::this_process(),
        },
    );
    Ok(())
}

/// Joins the group and runs workers for the partitions it holds, watching
/// them every 250 ms and restarting any that ended, until
/// `yk_multiprocessing_group_stop` (`YK_ERROR_OK`) or the loss of the
/// ZooKeeper session (`YK_ERROR_PARTITIONER`). While the session is in
/// doubt (connection down, or not confirmed within two thirds of the
/// session timeout) thread workers call `process` no more, after
/// committing once what they finished, and worker processes are held
/// with SIGSTOP; they go on when it is confirmed again (SIGCONT). Thread
/// workers' commits go only while it is trusted; a worker process's own
/// commits are outside that check (docs/consumer-groups.md). Blocks; runs
/// once per group. Whatever ends it, the loss or an error included
/// (`YK_ERROR_CONSUMER_GROUP` when a worker cannot be started), the
/// workers are asked to stop and commit (after the loss thread workers'
/// commits are refused), waited for up to
/// `max_termination_timeout_secs`, the rest killed (processes, reaped) or
/// fenced (threads), and the party left before this returns. When it
/// would return `YK_ERROR_OK` but a fenced thread worker still runs the
/// application's code, it returns `YK_ERROR_WORKERS_RUNNING`. After a
/// stop, made before `start` too, `start` returns `YK_ERROR_OK` at once
/// without joining or starting a worker.
#[no_mangle]
pub unsafe extern "C" fn yk_multiprocessing_group_start(group: *const yk_multiprocessing_group) -> ErrorCode {
    boundary(function_name!(), || handle(group, "group")?.group.start_group())
}

/// Asks `yk_multiprocessing_group_start` to stop its workers and leave, and
/// waits up to `timeout_ms` (≥ 0) for it to return; `YK_ERROR_TIMED_OUT`
/// when it has not yet (it still stops, and its workers may still run).
/// After `YK_ERROR_OK` no thread of the library runs the application's
/// callbacks; `YK_ERROR_WORKERS_RUNNING` says that thread workers fenced
/// after `max_termination_timeout_secs` still do (they call `process` no
/// more; they finish the call they are in, then `dispose`), and
/// `yk_multiprocessing_group_free` waits for them. Callable from any
/// thread, and before `start` (which then never joins).
#[no_mangle]
pub unsafe extern "C" fn yk_multiprocessing_group_stop(
    group: *const yk_multiprocessing_group,
    timeout_ms: i32,
) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let timeout = deadline_ms(timeout_ms)?;
        group.group.stop_group(timeout)
    })
}

/// The live workers (`get_consumers`), in `*out`; free with `yk_worker_list_free`.
#[no_mangle]
pub unsafe extern "C" fn yk_multiprocessing_group_consumers(
    group: *const yk_multiprocessing_group,
    out: *mut *mut yk_worker_list,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let workers = handle(group, "group")?.group.consumers();
        write_handle(out, yk_worker_list { workers });
        Ok(())
    })
}

/// Frees a group; `yk_multiprocessing_group_start` must have returned.
/// Waits for fenced thread workers still inside the application's
/// callbacks; after this returns the library never again calls a callback
/// of the group or touches `opaque`. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_multiprocessing_group_free(group: *mut yk_multiprocessing_group) {
    free_handle(group, function_name!());
}

/// In a worker program started by a process-mode group: the simple consumer
/// of its partition, with the group's configuration and offsets, in `*out`
/// (not yet connected: call `yk_consumer_connect`; free with
/// `yk_consumer_free`). Under `group_protocol=kafka` or `kafka_consumer`
/// its commits carry the group member's generation, which the group
/// publishes to its workers (`YK_WORKER_MEMBERSHIP`); a commit between
/// generations, or after the group is gone, is `YK_ERROR_OFFSET_COMMIT`
/// (docs/consumer-groups.md). `YK_ERROR_CONFIGURATION` when the
/// `YK_WORKER_*` environment is missing or malformed. `*out` is written
/// only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_multiprocessing_worker_consumer(out: *mut *mut yk_consumer) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        write_handle(out, yk_consumer::new(consumer_from_env()?));
        Ok(())
    })
}

/// A snapshot of a group's live workers.
/// Read-only once made: usable from several threads at once.
pub struct yk_worker_list {
    workers: Vec<WorkerInfo>,
}

impl Handle for yk_worker_list {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

/// How many workers the list holds (0 when `list` is NULL).
#[no_mangle]
pub unsafe extern "C" fn yk_worker_list_count(list: *const yk_worker_list) -> usize {
    boundary_value(function_name!(), 0, || Ok(handle(list, "list")?.workers.len()))
}

/// The topic of worker `index`, owned by the list; NULL on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn yk_worker_list_topic(list: *const yk_worker_list, index: usize) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(worker_at(list, index)?.partition.topic.as_c_str().as_ptr())
    })
}

/// The partition of worker `index`; −1 on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn yk_worker_list_partition(list: *const yk_worker_list, index: usize) -> i32 {
    boundary_value(function_name!(), -1, || Ok(worker_at(list, index)?.partition.partition))
}

/// How many times worker `index` was restarted; −1 on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn yk_worker_list_restarts(list: *const yk_worker_list, index: usize) -> i64 {
    boundary_value(function_name!(), -1, || Ok(i64::from(worker_at(list, index)?.restarts)))
}

/// The process id of worker `index`: 0 for a thread worker, −1 on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn yk_worker_list_pid(list: *const yk_worker_list, index: usize) -> i64 {
    boundary_value(function_name!(), -1, || {
        let worker = worker_at(list, index)?;
        Ok(match worker.kind {
            WorkerKind::Thread => 0,
            WorkerKind::Process => i64::from(worker.pid.unwrap_or(0)),
        })
    })
}

/// Worker `index` of `list`; NULL or an index out of range is `InvalidArgument`.
///
/// # Safety
/// `list` is NULL or a live `yk_worker_list`.
unsafe fn worker_at<'a>(list: *const yk_worker_list, index: usize) -> Result<&'a WorkerInfo> {
    let workers = &handle(list, "list")?.workers;
    Ok(&workers[check_index(index, workers.len(), "worker index")?])
}

/// Frees a worker list. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_worker_list_free(list: *mut yk_worker_list) {
    free_handle(list, function_name!());
}
