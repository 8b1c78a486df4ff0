//! Times zstd compression of Kafka-like record batches at level 3 (libzstd's
//! default, the library's and librdkafka's) with the libzstd this build was
//! given (a cargo feature), and prints one line per batch size:
//! `libzstd-VERSION batch_bytes compress_MB_per_cpu_s decompress_MB_per_cpu_s ratio`,
//! in megabytes of input per second of this thread's CPU time. One reused
//! context compresses each batch in one call, as `src/kafka/compression.rs`
//! does. Every frame is checked by decompressing it. The batches are those
//! of `bench/codec_batches.rs`, as for gzip and LZ4.

#[path = "../../codec_batches.rs"]
mod codec_batches;
use codec_batches::{batch, budget, Random};
#[path = "../../codec_cpu_time.rs"]
mod codec_cpu_time;
use codec_cpu_time::mb_per_cpu_second;

use zstd::zstd_safe::{CCtx, CParameter, DCtx};

const LEVEL: i32 = 3;

fn main() {
    let budget = budget();
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
        let compressed: usize = frames.iter().map(Vec::len).sum();
        let raw: usize = batches.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(size + 20 * 1024));
        let compress_rate = mb_per_cpu_second(budget, raw, || {
            for batch in &batches {
                out.clear();
                compressor.compress2(&mut out, batch).unwrap();
                std::hint::black_box(&out);
            }
        });
        let mut inflated = Vec::with_capacity(size + 20 * 1024);
        let decompress_rate = mb_per_cpu_second(budget, raw, || {
            for frame in &frames {
                inflated.clear();
                decompressor.decompress(&mut inflated, frame).unwrap();
                std::hint::black_box(&inflated);
            }
        });
        println!(
            "{name} {size} {compress_rate:.1} {decompress_rate:.1} {:.3}",
            compressed as f64 / raw as f64
        );
    }
}
