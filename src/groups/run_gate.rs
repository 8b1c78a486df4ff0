//! The run-until-stopped pattern of the callback and multiprocessing
//! groups: one blocking `run` at a time, a stop request from any thread,
//! and a bounded wait for the run to end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode, Result};
use crate::sync::{Locking, Waiting};

/// Whether a run is going on, and whether it was asked to stop.
#[derive(Debug, Default)]
pub struct RunGate {
    stop_requested: AtomicBool,
    running: Mutex<bool>,
    run_ended: Condvar,
}

impl RunGate {
    /// Runs `body` as the one run of its owner: `WrongState` when another
    /// run is going on. Whoever waits in [`RunGate::stop`] is released when
    /// `body` returns. A stop asked for before the run is the stop of that
    /// run: it returns `Ok` at once without calling `body`, so a group
    /// stopped before it ran never joins (and no callback of it runs).
    pub fn run(&self, body: impl FnOnce() -> Result<()>) -> Result<()> {
        {
            let mut running = self.running.locked();
            if *running {
                return Err(Error::new(ErrorCode::WrongState, "the group is running already"));
            }
            if self.stop_requested() {
                return Ok(());
            }
            *running = true;
        }
        let result = body();
        *self.running.locked() = false;
        self.run_ended.notify_all();
        result
    }

    /// Whether the run was asked to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::Acquire)
    }

    /// Asks the run to stop, without waiting.
    pub fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::Release);
    }

    /// Asks the run to stop and waits up to `timeout` for it to end:
    /// `TimedOut` when it has not (it still stops).
    pub fn stop(&self, timeout: Duration) -> Result<()> {
        self.request_stop();
        let deadline = Instant::now() + timeout;
        let mut running = self.running.locked();
        while *running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::new(
                    ErrorCode::TimedOut,
                    format!("the group did not stop within {timeout:?}"),
                ));
            }
            running = self.run_ended.wait_timeout_locked(running, left).0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_run_at_a_time_and_stop_waits_for_it() {
        let gate = Arc::new(RunGate::default());
        let runner = Arc::clone(&gate);
        let run = std::thread::spawn(move || {
            runner.run(|| {
                while !runner.stop_requested() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
        });
        while gate.run(|| Ok(())).is_ok() {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(gate.run(|| Ok(())).unwrap_err().code(), ErrorCode::WrongState);
        gate.stop(Duration::from_secs(5)).unwrap();
        run.join().unwrap().unwrap();
    }

    #[test]
    fn a_stop_before_the_run_ends_it_before_it_starts() {
        let gate = RunGate::default();
        gate.stop(Duration::ZERO).unwrap();
        let mut ran = false;
        gate.run(|| {
            ran = true;
            Ok(())
        })
        .unwrap();
        assert!(!ran);
    }

    #[test]
    fn stop_gives_up_at_its_deadline() {
        let gate = Arc::new(RunGate::default());
        let runner = Arc::clone(&gate);
        let (started, wait) = std::sync::mpsc::channel();
        let run = std::thread::spawn(move || {
            runner.run(|| {
                started.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
        });
        wait.recv().unwrap();
        assert_eq!(
            gate.stop(Duration::from_millis(20)).unwrap_err().code(),
            ErrorCode::TimedOut
        );
        run.join().unwrap().unwrap();
        gate.stop(Duration::from_millis(20)).unwrap();
    }
}
