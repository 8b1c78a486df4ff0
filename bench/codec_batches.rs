//! Kafka-like record batches for the codec benches (`bench/gzip-backends`,
//! `bench/lz4-backends`, `bench/zstd-backends`, each of which includes this file): records of a
//! keyed, mixed-size workload, values 70% 100–300 B, 25% 1–4 KiB, 5% 16 KiB
//! of log-like text, each after a key and a few bytes standing for the
//! record header, as in a record batch before compression. The same seed
//! gives every build the same batches. Also how long each measurement of
//! those benches runs.

use std::time::Duration;

/// How long each measurement runs: `CODEC_BENCH_MS` milliseconds, 1000
/// when unset.
pub fn budget() -> Duration {
    Duration::from_millis(
        std::env::var("CODEC_BENCH_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(1000),
    )
}

/// xorshift64: reproducible input without a dependency.
pub struct Random(pub u64);

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

pub fn batch(random: &mut Random, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 20 * 1024);
    while out.len() < bytes {
        out.extend_from_slice(&random.next().to_le_bytes());
        out.extend_from_slice(format!("key-{}", random.below(100_000)).as_bytes());
        let length = value_length(random);
        log_text(random, length, &mut out);
    }
    out
}
