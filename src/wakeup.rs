//! Wakeups (docs/c-abi.md, "Wakeups"): what makes a blocked `next`, `poll`
//! or `flush` of a consumer, group or producer return at once with
//! `WokenUp`, asked from any thread or from a signal handler.
//!
//! Asking ([`Wakeup::request`]) is async-signal-safe: an atomic store and
//! one `write(2)` to a socket pair, no lock, no allocation. The blocked
//! thread waits on a condition variable, which a signal handler must not
//! touch, so a small engine task ([`notify_on_request`]) waits on the
//! other end of the socket and wakes the waiters, under their lock. A
//! request that finds no call waiting is kept: the next blocking call
//! returns `WokenUp` at once, and each request ends one call.

use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::{Error, ErrorCode, Result};
use crate::sync::Locking;

/// The wakeup of one handle.
pub struct Wakeup {
    requested: AtomicBool,
    writer: UnixStream,
    /// The other end, until [`notify_on_request`] takes it.
    reader: Mutex<Option<UnixStream>>,
}

impl Wakeup {
    /// A wakeup nobody asked for yet.
    pub fn new() -> Result<Wakeup> {
        let (writer, reader) = UnixStream::pair()
            .map_err(|e| Error::new(ErrorCode::Internal, format!("creating a wakeup socket pair: {e}")))?;
        for end in [&writer, &reader] {
            end.set_nonblocking(true)
                .map_err(|e| Error::new(ErrorCode::Internal, format!("setting up a wakeup socket: {e}")))?;
        }
        Ok(Wakeup {
            requested: AtomicBool::new(false),
            writer,
            reader: Mutex::new(Some(reader)),
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

    /// The engine task that runs `notify` after every request (once for
    /// several close together); `None` when another took it already. Spawn
    /// it with the tasks of the owner whose waiters `notify` wakes.
    pub fn notify_on_request(&self, notify: impl Fn() + Send + 'static) -> Option<impl Future<Output = ()> + Send> {
        let reader = self.reader.locked().take()?;
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
            }
        })
    }
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
}
