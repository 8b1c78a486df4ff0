//! MB per second of CPU time for the codec benches that report it
//! (`bench/lz4-backends`, `bench/zstd-backends`, each of which includes
//! this file): on a machine shared with other work, wall time would count
//! the time a bench waits for a core.

use std::time::{Duration, Instant};

/// This thread's CPU time in seconds.
fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) },
        0
    );
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Runs `pass`, which works through `bytes_per_pass` bytes of input, until
/// `budget` has passed: MB of input per second of this thread's CPU time.
pub fn mb_per_cpu_second(budget: Duration, bytes_per_pass: usize, mut pass: impl FnMut()) -> f64 {
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut bytes = 0usize;
    while start.elapsed() < budget {
        pass();
        bytes += bytes_per_pass;
    }
    bytes as f64 / (thread_cpu_seconds() - cpu_start) / 1e6
}
