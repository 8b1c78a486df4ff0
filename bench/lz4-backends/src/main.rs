//! Times LZ4 frame compression of Kafka-like record batches with the
//! encoders this build was given (a cargo feature), and prints one line per
//! encoder and batch size: `encoder batch_bytes compress_MBps ratio`, in
//! megabytes of input per second of this thread's CPU time.
//!
//! - `flex-safe`: `lz4_flex` with its default features (safe encoder), as
//!   the library had it: the frame encoder with its block size chosen from
//!   the first write (4 MiB for a batch over 256 KiB), the frame encoder at
//!   librdkafka's settings (64 KiB independent blocks, no checksums), and
//!   a frame of 64 KiB blocks written around `lz4_flex`'s block encoder
//!   with one reused hash table.
//! - `flex-unsafe`: the same three with the encoder's unchecked fast path.
//! - `liblz4`: liblz4's frame API at librdkafka's settings, one reused
//!   context, as librdkafka compresses.
//!
//! Every frame is checked by decoding it with `lz4_flex`'s frame decoder.
//! The batches are those of `bench/codec_batches.rs`, as for gzip.

use std::io::Read;

#[path = "../../codec_batches.rs"]
mod codec_batches;
use codec_batches::{batch, budget, Random};
#[path = "../../codec_cpu_time.rs"]
mod codec_cpu_time;
use codec_cpu_time::mb_per_cpu_second;

const BUILD: &str = if cfg!(feature = "flex-safe") {
    "flex-safe"
} else if cfg!(feature = "flex-unsafe") {
    "flex-unsafe"
} else {
    "liblz4"
};

type Encoder = Box<dyn FnMut(&[u8], &mut Vec<u8>)>;

#[cfg(not(feature = "liblz4"))]
fn encoders() -> Vec<(&'static str, Encoder)> {
    use lz4_flex::block::{compress_into_with_table, get_maximum_output_size, CompressTable};
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;

    const BLOCK: usize = 64 * 1024;
    let settings = || {
        FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent)
    };
    let header = FrameEncoder::with_frame_info(settings(), Vec::new()).finish().unwrap();
    let header = header[..header.len() - 4].to_vec();
    let mut table = CompressTable::large();
    vec![
        (
            "frame-auto",
            Box::new(|batch: &[u8], out: &mut Vec<u8>| {
                let mut encoder = FrameEncoder::new(out);
                encoder.write_all(batch).unwrap();
                encoder.finish().unwrap();
            }) as Encoder,
        ),
        (
            "frame-64k",
            Box::new(move |batch: &[u8], out: &mut Vec<u8>| {
                let mut encoder = FrameEncoder::with_frame_info(settings(), out);
                encoder.write_all(batch).unwrap();
                encoder.finish().unwrap();
            }),
        ),
        (
            "blocks-64k",
            Box::new(move |batch: &[u8], out: &mut Vec<u8>| {
                out.extend_from_slice(&header);
                for block in batch.chunks(BLOCK) {
                    let at = out.len();
                    out.resize(at + 4 + get_maximum_output_size(block.len()), 0);
                    let written = compress_into_with_table(block, &mut out[at + 4..], &mut table).unwrap();
                    let length = if written < block.len() {
                        written as u32
                    } else {
                        out[at + 4..at + 4 + block.len()].copy_from_slice(block);
                        block.len() as u32 | 1 << 31
                    };
                    out[at..at + 4].copy_from_slice(&length.to_le_bytes());
                    out.truncate(at + 4 + (length & !(1 << 31)) as usize);
                }
                out.extend_from_slice(&[0; 4]);
            }),
        ),
    ]
}

#[cfg(feature = "liblz4")]
fn encoders() -> Vec<(&'static str, Encoder)> {
    use lz4_sys::*;
    let preferences = LZ4FPreferences {
        frame_info: LZ4FFrameInfo {
            block_size_id: BlockSize::Max64KB,
            block_mode: BlockMode::Independent,
            content_checksum_flag: ContentChecksum::NoChecksum,
            frame_type: FrameType::Frame,
            content_size: 0,
            dict_id: 0,
            block_checksum_flag: BlockChecksum::NoBlockChecksum,
        },
        compression_level: 0,
        auto_flush: 0,
        favor_dec_speed: 0,
        reserved: [0; 3],
    };
    let mut context = LZ4FCompressionContext(std::ptr::null_mut());
    // SAFETY: a bench calling liblz4's documented frame API.
    let check = |code: usize| assert_eq!(unsafe { LZ4F_isError(code) }, 0, "liblz4 error");
    check(unsafe { LZ4F_createCompressionContext(&mut context, LZ4F_VERSION) });
    vec![(
        "liblz4-frame-64k",
        Box::new(move |batch: &[u8], out: &mut Vec<u8>| unsafe {
            let bound = LZ4F_compressBound(batch.len(), &preferences) + 32;
            out.reserve(bound);
            let dst = out.as_mut_ptr();
            let mut at = LZ4F_compressBegin(context, dst, bound, &preferences);
            check(at);
            let written = LZ4F_compressUpdate(
                context,
                dst.add(at),
                bound - at,
                batch.as_ptr(),
                batch.len(),
                std::ptr::null(),
            );
            check(written);
            at += written;
            let written = LZ4F_compressEnd(context, dst.add(at), bound - at, std::ptr::null());
            check(written);
            out.set_len(at + written);
        }),
    )]
}

fn main() {
    let budget = budget();
    let mut random = Random(0x5eed_1234_abcd_0001);
    let sizes = [64 * 1024, 256 * 1024, 1024 * 1024];
    let raw: Vec<Vec<Vec<u8>>> = sizes
        .iter()
        .map(|&size| (0..8).map(|_| batch(&mut random, size)).collect())
        .collect();
    for (name, mut encode) in encoders() {
        for (size, batches) in sizes.iter().zip(&raw) {
            let mut compressed_bytes = 0;
            for batch in batches {
                let mut out = Vec::new();
                encode(batch, &mut out);
                compressed_bytes += out.len();
                let mut inflated = Vec::new();
                lz4_flex::frame::FrameDecoder::new(&out[..])
                    .read_to_end(&mut inflated)
                    .unwrap();
                assert!(inflated == *batch, "{name} does not round-trip");
            }
            let mut out = Vec::new();
            let inflated_bytes: usize = batches.iter().map(Vec::len).sum();
            let compress_rate = mb_per_cpu_second(budget, inflated_bytes, || {
                for batch in batches {
                    out.clear();
                    encode(batch, &mut out);
                    std::hint::black_box(&out);
                }
            });
            println!(
                "{BUILD}/{name} {size} {compress_rate:.1} {:.3}",
                compressed_bytes as f64 / inflated_bytes as f64
            );
        }
    }
}
