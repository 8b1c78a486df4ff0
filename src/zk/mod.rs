//! ZooKeeper sessions for the library: connecting with `zookeeper-client`
//! from code that a C program may link statically.
//!
//! `zookeeper-client` spawns its session task through `spawns`, which finds
//! tokio through a link-time registry; a release `staticlib` without LTO
//! drops that registry and the first connect panics with "no spawner" (docs/protocol-notes.md). So every future that may spawn (a connect, and the tasks spawned
//! from it) runs inside [`WithEngineSpawner`], which enters a spawner over
//! the engine's runtime around each poll. Owns nothing else: what is stored
//! where in ZooKeeper belongs to the callers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use zookeeper_client::Client;

use crate::engine;
use crate::error::{Error, ErrorCode, Result};

/// The ZooKeeper session timeout of offset stores, and the default of
/// `zookeeper_session_timeout_ms` for group members (kazoo's default,
/// which the Python library keeps).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Spawns `spawns` tasks on the engine's runtime (or the runtime of the
/// calling thread), each again under this spawner.
struct EngineSpawner;

static ENGINE_SPAWNER: EngineSpawner = EngineSpawner;

impl spawns_core::Spawn for EngineSpawner {
    fn spawn(&self, task: spawns_core::Task) {
        let future = WithEngineSpawner::new(Box::into_pin(task.future));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(future)),
            // Dropping the task would end the session it serves, and there is
            // no caller to report to: without an engine the process is
            // already failing every call.
            Err(_) => {
                if let Ok(runtime) = engine::runtime() {
                    drop(runtime.spawn(future));
                }
            }
        }
    }
}

/// A future polled with the engine spawner entered, so that whatever it
/// spawns through `spawns` lands on the engine's runtime.
pub struct WithEngineSpawner<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> WithEngineSpawner<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> WithEngineSpawner<F> {
        WithEngineSpawner {
            inner: Box::pin(future),
        }
    }
}

impl<F: Future> Future for WithEngineSpawner<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _scope = spawns_core::enter(&ENGINE_SPAWNER);
        self.inner.as_mut().poll(cx)
    }
}

/// How long a connect waits before it tries the ensemble again after every
/// host refused or failed.
const CONNECT_RETRY: Duration = Duration::from_millis(200);

/// Opens a session with the ensemble `hosts` (`h1:2181,h2:2181`, no chroot:
/// callers put the cluster's chroot in their paths, so that they can create
/// it) within `timeout`, trying every host again every 200 ms until then.
///
/// Each attempt tries each host once (`with_fail_eagerly`): left to itself,
/// zookeeper-client cycles the hosts with a backoff that doubles up to
/// seconds, so a connect begun while ZooKeeper was down still waited in
/// that backoff when ZooKeeper came back and failed at its deadline
/// (docs/consumer-groups.md, "Losing ZooKeeper").
pub async fn connect(hosts: &str, session_timeout: Duration, timeout: Duration) -> Result<Client> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let attempt = Client::connector()
            .with_session_timeout(session_timeout)
            .with_fail_eagerly()
            .connect(hosts);
        let failure = match tokio::time::timeout_at(deadline, WithEngineSpawner::new(attempt)).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) => format!("cannot connect to ZooKeeper {hosts} within {timeout:?}: {e}"),
            Err(_) => format!("cannot connect to ZooKeeper {hosts} within {timeout:?}"),
        };
        if tokio::time::Instant::now() + CONNECT_RETRY >= deadline {
            return Err(Error::new(ErrorCode::Transport, failure));
        }
        tokio::time::sleep(CONNECT_RETRY).await;
    }
}

/// A ZooKeeper failure as a library error with `code`, naming what was done.
pub fn error(code: ErrorCode, what: impl std::fmt::Display, error: zookeeper_client::Error) -> Error {
    Error::new(code, format!("ZooKeeper {what}: {error}"))
}
