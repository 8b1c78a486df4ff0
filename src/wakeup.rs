//! Wakeups (docs/c-abi.md, "Wakeups"): what makes a blocked call of a
//! consumer, group or producer (`next`, `poll`, `flush`, a synchronous
//! send, a commit) return at once with `WokenUp`, asked from any thread or
//! from a signal handler. Also the ready descriptors ([`Readiness`]) that
//! event loops wait on.
//!
//! Asking ([`Wakeup::request`]) is async-signal-safe: an atomic store and
//! one `write(2)` to a socket pair, no lock, no allocation. A blocked
//! thread waits on a condition variable or on a future, which a signal
//! handler must not touch, so a small engine task ([`notify_on_request`])
//! waits on the other end of the socket and wakes the waiters: the
//! owner's condition variables, under their lock, and the futures raced
//! against the wakeup ([`Wakeup::or_woken`]). A request that finds no call
//! waiting is kept: the next blocking call returns `WokenUp` at once, and
//! each request ends one call.

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::error::{Error, ErrorCode, Result};
use crate::sync::Locking;

/// The wakeup of one handle.
pub struct Wakeup {
    requested: AtomicBool,
    writer: UnixStream,
    /// The other end, until [`notify_on_request`] takes it.
    reader: Mutex<Option<UnixStream>>,
    /// Told by the notifier after each request, for [`Wakeup::or_woken`].
    requests_seen: Arc<Notify>,
}

impl Wakeup {
    /// A wakeup nobody asked for yet.
    pub fn new() -> Result<Wakeup> {
        let (writer, reader) = nonblocking_pair()?;
        Ok(Wakeup {
            requested: AtomicBool::new(false),
            writer,
            reader: Mutex::new(Some(reader)),
            requests_seen: Arc::new(Notify::new()),
        })
    }

    /// Asks the blocked call (or the next one) to return. Async-signal-safe.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
        // A full socket already holds a byte that wakes the notifier.
        let _ = (&self.writer).write(&[1]);
    }

    /// Whether a request waits to be taken.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Takes the pending request, if any, as the error the woken call returns.
    pub fn take(&self) -> Result<()> {
        if self.requested.swap(false, Ordering::AcqRel) {
            return Err(Error::new(ErrorCode::WokenUp, "a wakeup call interrupted the wait"));
        }
        Ok(())
    }

    /// Runs `future` until it ends, or until a request is taken (then
    /// `WokenUp`, and `future` is dropped where it stands). Only the
    /// owner's notifier task ([`Wakeup::notify_on_request`]) wakes this
    /// when a request comes during the wait, so the owner must have
    /// spawned it; a request already pending ends the wait at once.
    pub async fn or_woken<F: Future>(&self, future: F) -> Result<F::Output> {
        tokio::pin!(future);
        loop {
            tokio::select! {
                biased;
                output = &mut future => return Ok(output),
                () = self.requested() => self.take()?,
            }
        }
    }

    /// Returns once a request is pending.
    async fn requested(&self) {
        loop {
            let seen = self.requests_seen.notified();
            tokio::pin!(seen);
            // Registered before the flag is read: a request between the
            // two is not missed.
            seen.as_mut().enable();
            if self.is_requested() {
                return;
            }
            seen.await;
        }
    }

    /// The engine task that runs `notify` after every request (once for
    /// several close together) and wakes the futures of
    /// [`Wakeup::or_woken`]; `None` when another took it already. Spawn
    /// it with the tasks of the owner whose waiters `notify` wakes.
    pub fn notify_on_request(&self, notify: impl Fn() + Send + 'static) -> Option<impl Future<Output = ()> + Send> {
        let reader = self.reader.locked().take()?;
        let requests_seen = Arc::clone(&self.requests_seen);
        Some(async move {
            let Ok(reader) = tokio::net::UnixStream::from_std(reader) else {
                return;
            };
            let mut drained = [0u8; 64];
            loop {
                if reader.readable().await.is_err() {
                    return;
                }
                while let Ok(read) = reader.try_read(&mut drained) {
                    if read == 0 {
                        return;
                    }
                }
                notify();
                requests_seen.notify_waiters();
            }
        })
    }
}

/// A file descriptor that is readable while something waits to be taken
/// (messages, delivery reports), for event loops (docs/c-abi.md, "Ready
/// descriptors"). Its owner calls [`Readiness::set`] when its queue goes
/// from empty to not empty and [`Readiness::clear`] when a taker finds it
/// empty, both under the queue's lock, so the descriptor never says empty
/// while something waits. Holds at most one byte.
pub struct Readiness {
    signalled: AtomicBool,
    writer: UnixStream,
    reader: UnixStream,
}

impl Readiness {
    /// A descriptor that is not readable yet.
    pub fn new() -> Result<Readiness> {
        let (writer, reader) = nonblocking_pair()?;
        Ok(Readiness {
            signalled: AtomicBool::new(false),
            writer,
            reader,
        })
    }

    /// The descriptor to wait on; owned by this.
    pub fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Something waits: makes the descriptor readable.
    pub fn set(&self) {
        if !self.signalled.swap(true, Ordering::AcqRel) {
            let _ = (&self.writer).write(&[1]);
        }
    }

    /// Nothing waits: drains the descriptor.
    pub fn clear(&self) {
        if self.signalled.swap(false, Ordering::AcqRel) {
            let mut drained = [0u8; 8];
            while matches!((&self.reader).read(&mut drained), Ok(read) if read > 0) {}
        }
    }
}

/// A connected socket pair, both ends non-blocking.
fn nonblocking_pair() -> Result<(UnixStream, UnixStream)> {
    let failed = |e: std::io::Error| Error::new(ErrorCode::Internal, format!("creating a socket pair: {e}"));
    let (writer, reader) = UnixStream::pair().map_err(failed)?;
    writer.set_nonblocking(true).map_err(failed)?;
    reader.set_nonblocking(true).map_err(failed)?;
    Ok((writer, reader))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_request_is_taken_once_and_wakes_the_notifier() {
        let wakeup = Wakeup::new().unwrap();
        assert!(wakeup.take().is_ok());
        let notified = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&notified);
        let task = wakeup
            .notify_on_request(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        assert!(wakeup.notify_on_request(|| {}).is_none(), "one notifier per wakeup");
        let runtime = crate::engine::runtime().unwrap();
        let running = runtime.spawn(task);
        wakeup.request();
        let deadline = Instant::now() + Duration::from_secs(5);
        while notified.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(notified.load(Ordering::SeqCst), 1);
        assert!(wakeup.is_requested());
        assert_eq!(wakeup.take().unwrap_err().code(), ErrorCode::WokenUp);
        assert!(wakeup.take().is_ok(), "taken once");
        running.abort();
    }

    #[test]
    fn a_request_ends_a_future_raced_against_it_and_a_finished_one_leaves_it() {
        let wakeup = Arc::new(Wakeup::new().unwrap());
        let runtime = crate::engine::runtime().unwrap();
        let notifier = runtime.spawn(wakeup.notify_on_request(|| {}).unwrap());
        let requester = Arc::clone(&wakeup);
        let asking = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            requester.request();
        });
        let started = Instant::now();
        let never = crate::engine::block_on(wakeup.or_woken(std::future::pending::<()>())).unwrap();
        asking.join().unwrap();
        assert_eq!(never.unwrap_err().code(), ErrorCode::WokenUp);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "woken after {:?}",
            started.elapsed()
        );
        assert!(!wakeup.is_requested(), "the woken future took the request");

        wakeup.request();
        let ready = crate::engine::block_on(wakeup.or_woken(async { 7 })).unwrap();
        assert_eq!(ready.unwrap(), 7, "a future that is ready wins");
        assert!(wakeup.is_requested(), "and leaves the request for the next call");
        let pending = crate::engine::block_on(wakeup.or_woken(std::future::pending::<()>())).unwrap();
        assert_eq!(
            pending.unwrap_err().code(),
            ErrorCode::WokenUp,
            "a pending request ends the wait at once"
        );
        notifier.abort();
    }

    /// Bytes waiting on the descriptor (reading them, as a poller would not).
    fn pending(readiness: &Readiness) -> usize {
        let mut bytes = [0u8; 8];
        (&readiness.reader).read(&mut bytes).unwrap_or(0)
    }

    #[test]
    fn a_readiness_holds_one_byte_from_set_to_clear() {
        let readiness = Readiness::new().unwrap();
        assert_eq!(pending(&readiness), 0);
        readiness.set();
        readiness.set();
        assert_eq!(pending(&readiness), 1, "one byte however many sets");
        readiness.clear();
        readiness.clear();
        readiness.set();
        assert_eq!(pending(&readiness), 1, "set again after a clear");
    }
}
