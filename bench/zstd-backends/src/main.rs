//! Times zstd compression of Kafka-like record batches at level 3 (libzstd's
//! default, the library's and librdkafka's) with the libzstd this build was
//! given (a cargo feature), and prints one line per batch size:
//! `libzstd-VERSION batch_bytes compress_MB_per_cpu_s decompress_MB_per_cpu_s ratio`,
//! in megabytes of input per second of this thread's CPU time. One reused
//! context compresses each batch in one call, as `src/kafka/compression.rs`
//! does. Every frame is checked by decompressing it. The batches are those
//! of `bench/codec_batches.rs`, as for gzip and LZ4.

use std::time::{Duration, Instant};

#[path = "../../codec_batches.rs"]
mod codec_batches;
use codec_batches::{batch, Random};

use zstd::zstd_safe::{CCtx, CParameter, DCtx};

const LEVEL: i32 = 3;

/// This thread's CPU time: on a machine shared with other work, wall time
/// would count the time the bench waits for a core.
fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) },
        0
    );
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Runs `work` over `batches` until `budget` has passed: MB per CPU second
/// of the uncompressed bytes.
fn rate(batches: &[Vec<u8>], budget: Duration, mut work: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut bytes = 0usize;
    while start.elapsed() < budget {
        for (index, batch) in batches.iter().enumerate() {
            work(index);
            bytes += batch.len();
        }
    }
    bytes as f64 / (thread_cpu_seconds() - cpu_start) / 1e6
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("CODEC_BENCH_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(1000),
    );
    let version = zstd::zstd_safe::version_number();
    let name = format!("libzstd-{}.{}.{}", version / 10000, version / 100 % 100, version % 100);
    let mut compressor = CCtx::create();
    compressor.set_parameter(CParameter::CompressionLevel(LEVEL)).unwrap();
    let mut decompressor = DCtx::create();
    let mut random = Random(0x5eed_1234_abcd_0001);
    for size in [64 * 1024, 256 * 1024, 1024 * 1024] {
        let batches: Vec<Vec<u8>> = (0..8).map(|_| batch(&mut random, size)).collect();
        let frames: Vec<Vec<u8>> = batches
            .iter()
            .map(|batch| {
                let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(batch.len()));
                compressor.compress2(&mut frame, batch).unwrap();
                let mut inflated = Vec::with_capacity(batch.len());
                decompressor.decompress(&mut inflated, &frame).unwrap();
                assert!(inflated == *batch, "{name} does not round-trip");
                frame
            })
            .collect();
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(size + 20 * 1024));
        let compress_rate = rate(&batches, budget, |index| {
            out.clear();
            compressor.compress2(&mut out, &batches[index]).unwrap();
            std::hint::black_box(&out);
        });
        let mut inflated = Vec::with_capacity(size + 20 * 1024);
        let decompress_rate = rate(&batches, budget, |index| {
            inflated.clear();
            decompressor.decompress(&mut inflated, &frames[index]).unwrap();
            std::hint::black_box(&inflated);
        });
        let compressed: usize = frames.iter().map(Vec::len).sum();
        let raw: usize = batches.iter().map(Vec::len).sum();
        println!(
            "{name} {size} {compress_rate:.1} {decompress_rate:.1} {:.3}",
            compressed as f64 / raw as f64
        );
    }
}
