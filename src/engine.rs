//! The engine: the library's tokio runtime.
//!
//! One multi-threaded runtime serves every handle of the process. Calls from
//! application threads drive their futures with [`block_on`]; connection
//! reader tasks run on the runtime's worker threads. A forked child cannot
//! use its parent's runtime (its threads did not survive the fork), so the
//! runtime remembers the process id that built it and a child builds its own.
//!
//! No engine task runs unowned: a producer's and a consumer's tasks are
//! spawned through their [`TaskSet`], a connection keeps its reader task,
//! a set partitioner its ZooKeeper member, a fetcher its fetch jobs, and
//! every other future is awaited where it starts. A task that
//! holds work others wait for (a producer's batches) settles that work
//! itself when it unwinds, so that a panic fails the work instead of
//! leaving its waiters to their deadline.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::error::{Error, ErrorCode, Result};
use crate::sync::Locking;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime of this process, built on first use.
pub fn runtime() -> Result<Arc<Runtime>> {
    let mut slot = RUNTIME.locked();
    let pid = std::process::id();
    match slot.take() {
        Some((owner, runtime)) if owner == pid => {
            *slot = Some((owner, Arc::clone(&runtime)));
            return Ok(runtime);
        }
        // The parent's runtime: its worker threads do not exist here, and
        // dropping it would wait for them, so it is left alone.
        Some(inherited) => std::mem::forget(inherited),
        None => {}
    }
    let runtime = Arc::new(
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("yk-engine")
            .enable_all()
            .build()
            .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot start the engine runtime: {e}")))?,
    );
    *slot = Some((pid, Arc::clone(&runtime)));
    Ok(runtime)
}

/// Runs `future` to completion on the calling thread, with the engine's
/// runtime available for the tasks it spawns. Must not be called from an
/// engine thread (callbacks never run there).
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::new(
            ErrorCode::Reentrant,
            "a blocking library call was made from inside the library's runtime",
        ));
    }
    Ok(runtime()?.block_on(future))
}

/// Waits up to `timeout` for `task` to end, aborting it past that; the
/// error then says that `what` took longer.
pub fn join_within(mut task: JoinHandle<()>, timeout: Duration, what: &str) -> Result<()> {
    block_on(async {
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(_) => Ok(()),
            Err(_) => {
                task.abort();
                Err(Error::new(
                    ErrorCode::TimedOut,
                    format!("{what} took longer than {timeout:?}"),
                ))
            }
        }
    })
    .and_then(|ended| ended)
}

/// The engine tasks of one owner (a producer, a consumer). Each task's
/// handle is kept until the task ends; ended tasks are reaped as new ones
/// start. Dropping the set aborts the tasks still running.
pub struct TaskSet {
    runtime: Handle,
    tasks: Mutex<JoinSet<()>>,
}

impl TaskSet {
    /// A set whose tasks run on `runtime`.
    pub fn new(runtime: &Runtime) -> TaskSet {
        TaskSet {
            runtime: runtime.handle().clone(),
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// Starts `task`; the handle aborts it.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> AbortHandle {
        let mut tasks = self.tasks.locked();
        // A task that panicked settled what it held before it unwound.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(task, &self.runtime)
    }

    /// Starts `work` on the runtime's blocking threads, for CPU-bound work
    /// that must not hold up a worker thread's connections.
    pub fn spawn_blocking(&self, work: impl FnOnce() + Send + 'static) {
        let mut tasks = self.tasks.locked();
        while tasks.try_join_next().is_some() {}
        tasks.spawn_blocking_on(work, &self.runtime);
    }
}
