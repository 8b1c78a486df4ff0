//! Times gzip compression and decompression at the default level (6) of
//! Kafka-like record batches with whichever flate2 backend this build was
//! given (a cargo feature), and prints one line per batch size:
//! `backend batch_bytes compress_MBps decompress_MBps ratio`.
//!
//! The batches are those of `bench/codec_batches.rs`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[path = "../../codec_batches.rs"]
mod codec_batches;
use codec_batches::{batch, budget, Random};

const BACKEND: &str = if cfg!(feature = "zlib-rs-detect") {
    "zlib-rs+detect"
} else if cfg!(feature = "zlib-rs") {
    "zlib-rs"
} else if cfg!(feature = "libz") {
    "libz"
} else {
    "miniz_oxide"
};

/// Runs `work` over `batches` until `budget` has passed: MB/s of the
/// uncompressed bytes `work` reports.
fn rate(batches: &[Vec<u8>], budget: Duration, mut work: impl FnMut(&[u8]) -> usize) -> f64 {
    let start = Instant::now();
    let mut bytes = 0usize;
    while start.elapsed() < budget {
        bytes += batches.iter().map(|batch| work(batch)).sum::<usize>();
    }
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let budget = budget();
    let mut random = Random(0x5eed_1234_abcd_0001);
    for size in [64 * 1024, 256 * 1024, 1024 * 1024] {
        let raw: Vec<Vec<u8>> = (0..8).map(|_| batch(&mut random, size)).collect();
        let compress = |input: &[u8]| {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(input).unwrap();
            encoder.finish().unwrap()
        };
        let compressed: Vec<Vec<u8>> = raw.iter().map(|batch| compress(batch)).collect();
        let compress_rate = rate(&raw, budget, |batch| {
            std::hint::black_box(compress(batch));
            batch.len()
        });
        let mut inflated = Vec::new();
        let decompress_rate = rate(&compressed, budget, |batch| {
            inflated.clear();
            flate2::read::GzDecoder::new(batch).read_to_end(&mut inflated).unwrap();
            inflated.len()
        });
        let inflated_bytes: usize = raw.iter().map(Vec::len).sum();
        let compressed_bytes: usize = compressed.iter().map(Vec::len).sum();
        println!(
            "{BACKEND} {size} {compress_rate:.1} {decompress_rate:.1} {:.3}",
            compressed_bytes as f64 / inflated_bytes as f64
        );
    }
}
