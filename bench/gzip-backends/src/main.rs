//! Times gzip compression and decompression at the default level (6) of
//! Kafka-like record batches with whichever flate2 backend this build was
//! given (a cargo feature), and prints one line per batch size:
//! `backend batch_bytes compress_MBps decompress_MBps ratio`.
//!
//! A batch is records of a keyed, mixed-size workload: values 70% 100–300 B,
//! 25% 1–4 KiB, 5% 16 KiB of log-like text, each after a key and a few bytes
//! standing for the record header, as in a record batch before compression.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

const BACKEND: &str = if cfg!(feature = "zlib-rs") {
    "zlib-rs"
} else if cfg!(feature = "libz") {
    "libz"
} else {
    "miniz_oxide"
};

/// xorshift64: reproducible input without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn log_text(random: &mut Random, length: usize, out: &mut Vec<u8>) {
    const LEVELS: [&str; 4] = ["INFO", "INFO", "WARN", "DEBUG"];
    const SERVICES: [&str; 6] = ["checkout", "search", "reviews", "ads", "geo", "users"];
    const PATHS: [&str; 5] = ["/v1/biz", "/v2/search", "/v1/user/photos", "/v3/ads/bid", "/health"];
    let end = out.len() + length;
    while out.len() < end {
        let line = format!(
            "2026-12-05T06:{:02}:{:02}.{:03}Z {} {} request_id={:016x} path={} status={} latency_ms={} user={}\n",
            random.below(60),
            random.below(60),
            random.below(1000),
            LEVELS[random.below(4) as usize],
            SERVICES[random.below(6) as usize],
            random.next(),
            PATHS[random.below(5) as usize],
            [200, 200, 200, 404, 500][random.below(5) as usize],
            random.below(2000),
            random.below(100_000),
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(end);
}

fn value_length(random: &mut Random) -> usize {
    match random.below(100) {
        0..=69 => 100 + random.below(201) as usize,
        70..=94 => 1024 + random.below(3 * 1024 + 1) as usize,
        _ => 16 * 1024,
    }
}

fn batch(random: &mut Random, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 20 * 1024);
    while out.len() < bytes {
        out.extend_from_slice(&random.next().to_le_bytes());
        out.extend_from_slice(format!("key-{}", random.below(100_000)).as_bytes());
        let length = value_length(random);
        log_text(random, length, &mut out);
    }
    out
}

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
    let budget = Duration::from_millis(
        std::env::var("GZIP_BENCH_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(1000),
    );
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
