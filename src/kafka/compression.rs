//! The codecs of record batch payloads: compressing a producer's records at
//! its configured level, and bounded decompression of what brokers return.
//!
//! Every codec, on both paths, is one crate chosen here: gzip through
//! `flate2` on zlib-rs, snappy through `snap` (in the xerial framing Kafka's
//! Java clients use), LZ4 through `lz4_flex`'s block encoder in frames written
//! here and its frame decoder, zstd through libzstd
//! (`zstd`, linked against the system library so a host that also links
//! librdkafka or libzstd carries one copy). `kafka-protocol` is built
//! without codecs; docs/dependencies.md says why each crate was chosen.
//!
//! Decompression is bounded: a batch that inflates past the limit is an
//! error, never an unbounded allocation. Snappy blocks and zstd frames state
//! their inflated size, which is checked before anything is allocated.

use std::cell::RefCell;
use std::io::{Read, Write};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::Compression;

/// The `compression_level` that asks for the codec's own default.
pub const DEFAULT_LEVEL: i32 = -1;

/// gzip's levels, as zlib numbers them; `-1` is zlib's default, 6.
const GZIP_LEVELS: std::ops::RangeInclusive<i32> = 0..=9;
/// zstd's levels accepted here; `-1` is libzstd's default, 3. Negative
/// levels (libzstd's "fast" mode) are left out so that `-1` keeps the
/// meaning it has for every codec and in librdkafka.
const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=22;

/// A codec and the level it compresses at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCompression {
    /// The codec.
    pub compression: Compression,
    /// The codec's level, or [`DEFAULT_LEVEL`].
    pub level: i32,
}

impl From<Compression> for BatchCompression {
    fn from(compression: Compression) -> BatchCompression {
        BatchCompression {
            compression,
            level: DEFAULT_LEVEL,
        }
    }
}

impl BatchCompression {
    /// `compression` at `level`, when the codec has that level: gzip 0–9,
    /// zstd 1–22, snappy and LZ4 only 0 (each has one level here), and `-1`
    /// for the codec's default with every codec. The error names the
    /// codec's range.
    pub fn new(compression: Compression, level: i32) -> Result<BatchCompression, String> {
        let (range, name): (&[i32], _) = match compression {
            Compression::None => (&[], "none"),
            Compression::Gzip => (&[*GZIP_LEVELS.start(), *GZIP_LEVELS.end()], "gzip"),
            Compression::Snappy => (&[0, 0], "snappy"),
            Compression::Lz4 => (&[0, 0], "lz4"),
            Compression::Zstd => (&[*ZSTD_LEVELS.start(), *ZSTD_LEVELS.end()], "zstd"),
        };
        let accepted = level == DEFAULT_LEVEL || matches!(range, [low, high] if (*low..=*high).contains(&level));
        match (accepted, range) {
            (true, _) => Ok(BatchCompression { compression, level }),
            (false, [low, high]) => Err(format!(
                "level {level} is out of {name}'s range: {low} to {high}, or -1 for its default"
            )),
            (false, _) => Err(format!(
                "level {level} needs a codec (compression is none): only -1 is accepted"
            )),
        }
    }
}

/// Compresses the concatenation of `pieces` (a batch's segments) into
/// `out` as `codec` says: gzip, snappy and LZ4 read the pieces where they
/// are; zstd joins them first (`compress_zstd` says why).
pub fn compress(pieces: &[impl AsRef<[u8]>], out: &mut BytesMut, codec: BatchCompression) -> anyhow::Result<()> {
    let pieces = pieces.iter().map(AsRef::as_ref);
    match codec.compression {
        Compression::None => pieces.for_each(|piece| out.put_slice(piece)),
        Compression::Gzip => {
            let level = match codec.level {
                DEFAULT_LEVEL => flate2::Compression::default(),
                level => flate2::Compression::new(level as u32),
            };
            let mut encoder = flate2::write::GzEncoder::new(out.writer(), level);
            for piece in pieces {
                encoder.write_all(piece).map_err(|e| codec_error("gzip", e))?;
            }
            encoder.finish().map_err(|e| codec_error("gzip", e))?;
        }
        Compression::Snappy => compress_snappy(pieces, out)?,
        Compression::Lz4 => compress_lz4(pieces, out),
        Compression::Zstd => compress_zstd(pieces, out, codec.level)?,
    }
    Ok(())
}

/// Inflates `input`, a batch payload compressed with `compression`, to at
/// most `max_inflated` bytes.
pub fn decompress(input: &Bytes, compression: Compression, max_inflated: usize) -> anyhow::Result<Bytes> {
    match compression {
        Compression::None => Ok(input.clone()),
        Compression::Gzip => read_bounded(
            flate2::read::GzDecoder::new(input.clone().reader()),
            gzip_stated_size(input),
            max_inflated,
            "gzip",
        ),
        Compression::Snappy => decompress_snappy(input, max_inflated),
        Compression::Lz4 => read_bounded(
            lz4_flex::frame::FrameDecoder::new(input.clone().reader()),
            0,
            max_inflated,
            "lz4",
        ),
        Compression::Zstd => decompress_zstd(input, max_inflated),
    }
}

fn codec_error(what: &str, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{what}: {error}")
}

fn past_limit(codec: &str, limit: usize) -> anyhow::Error {
    anyhow::anyhow!("{codec}: batch inflates past {limit} bytes")
}

thread_local! {
    /// Each thread that compresses (the engine's workers and blocking
    /// threads, and an application's thread whose produce calls fill
    /// batches, docs/producer.md) keeps one
    /// libzstd compression context: making one per batch would allocate and
    /// clear its tables every time.
    static ZSTD_COMPRESSOR: RefCell<zstd::zstd_safe::CCtx<'static>> = RefCell::new(zstd::zstd_safe::CCtx::create());
    /// And one buffer libzstd compresses into, as large as the bound of the
    /// largest batch it compressed (up to [`ZSTD_SCRATCH_KEPT`]).
    static ZSTD_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// And one the pieces of a batch are joined in (up to the same size).
    static ZSTD_INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The largest buffer a compressing thread keeps between batches for zstd;
/// a larger one (a batch of one huge message) is freed after use.
const ZSTD_SCRATCH_KEPT: usize = 4 << 20;

/// libzstd compresses the batch in one call, from one buffer: a batch in
/// several pieces is joined into this thread's input buffer first.
/// Streaming the pieces through libzstd instead (which copies its input
/// into a window buffer of its own) cost more CPU and more peak RSS in
/// interleaved runs (BENCHMARKS.md, records written as they are appended).
/// libzstd writes to the scratch buffer's spare room, which needs no
/// clearing, and the compressed bytes, a fraction of the batch, are copied
/// into `out`. Compressing into `out` directly would mean zeroing the whole
/// bound (the batch's size and more) first: pages the request buffer then
/// keeps resident in the buffer pool for batches that compress to a fifth.
fn compress_zstd<'a>(mut pieces: impl Iterator<Item = &'a [u8]>, out: &mut BytesMut, level: i32) -> anyhow::Result<()> {
    // libzstd's 0 means its default level.
    let level = if level == DEFAULT_LEVEL { 0 } else { level };
    let zstd_error = |code| codec_error("zstd", zstd::zstd_safe::get_error_name(code));
    let first = pieces.next().unwrap_or_default();
    ZSTD_INPUT.with_borrow_mut(|input| {
        input.clear();
        let records = match pieces.next() {
            None => first,
            Some(second) => {
                input.extend_from_slice(first);
                input.extend_from_slice(second);
                pieces.for_each(|piece| input.extend_from_slice(piece));
                &input[..]
            }
        };
        let compressed = ZSTD_SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            scratch.reserve(zstd::zstd_safe::compress_bound(records.len()));
            let compressed = ZSTD_COMPRESSOR.with_borrow_mut(|context| -> anyhow::Result<()> {
                context
                    .set_parameter(zstd::zstd_safe::CParameter::CompressionLevel(level))
                    .map_err(zstd_error)?;
                context.compress2(&mut *scratch, records).map_err(zstd_error)?;
                Ok(())
            });
            if compressed.is_ok() {
                out.put_slice(scratch);
            }
            if scratch.capacity() > ZSTD_SCRATCH_KEPT {
                *scratch = Vec::new();
            }
            compressed
        });
        if input.capacity() > ZSTD_SCRATCH_KEPT {
            *input = Vec::new();
        }
        compressed
    })
}

thread_local! {
    /// One libzstd decompression context per fetching thread, for the
    /// same reason as [`ZSTD_COMPRESSOR`].
    static ZSTD_DECOMPRESSOR: RefCell<zstd::zstd_safe::DCtx<'static>> = RefCell::new(zstd::zstd_safe::DCtx::create());
}

fn decompress_zstd(input: &Bytes, max_inflated: usize) -> anyhow::Result<Bytes> {
    // One frame that states its size (ours does) is inflated in one call
    // into a buffer of that size. Others are streamed: librdkafka linked
    // against a shared libzstd (Debian's) leaves the size out.
    let one_frame = zstd::zstd_safe::find_frame_compressed_size(input) == Ok(input.len());
    let stated_size = zstd::zstd_safe::get_frame_content_size(input)
        .ok()
        .flatten()
        .filter(|_| one_frame);
    ZSTD_DECOMPRESSOR.with_borrow_mut(|context| match stated_size {
        Some(size) if size > max_inflated as u64 => Err(past_limit("zstd", max_inflated)),
        Some(size) => {
            let mut inflated = Vec::with_capacity(size as usize);
            context
                .decompress(&mut inflated, input)
                .map_err(|code| codec_error("zstd", zstd::zstd_safe::get_error_name(code)))?;
            Ok(Bytes::from(inflated))
        }
        None => {
            // A stream an earlier batch left half read must not leak into this one.
            context
                .reset(zstd::zstd_safe::ResetDirective::SessionOnly)
                .map_err(|code| codec_error("zstd", zstd::zstd_safe::get_error_name(code)))?;
            read_bounded(
                zstd::stream::read::Decoder::with_context(&input[..], context),
                0,
                max_inflated,
                "zstd",
            )
        }
    })
}

/// The most input one LZ4 block holds: librdkafka's (liblz4's default) and
/// the frame descriptor's "64 KiB" block size.
const LZ4_BLOCK_LENGTH: usize = 64 * 1024;
/// The high bit of a block's length marks a block stored uncompressed.
const LZ4_UNCOMPRESSED_BLOCK: u32 = 1 << 31;

/// The frame header of every LZ4 frame written here: blocks of at most
/// 64 KiB compressed independently, no content size, no checksums, as
/// librdkafka writes them. Cut from `lz4_flex`'s own encoding of an empty
/// frame (header, then a four-byte end mark), so the descriptor's checksum
/// is the crate's.
fn lz4_frame_header() -> &'static [u8] {
    static HEADER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    HEADER.get_or_init(|| {
        let settings = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent);
        let mut frame = lz4_flex::frame::FrameEncoder::with_frame_info(settings, Vec::new())
            .finish()
            .expect("an empty frame is written to memory");
        frame.truncate(frame.len() - 4);
        frame
    })
}

thread_local! {
    /// Each compressing thread keeps one LZ4 hash table (16 KiB) across blocks
    /// and batches instead of clearing a new one for each.
    static LZ4_TABLE: RefCell<lz4_flex::block::CompressTable> = RefCell::new(lz4_flex::block::CompressTable::large());
}

/// Writes the pieces as one LZ4 frame of independent blocks into `out`,
/// each piece in blocks of its own (a block may hold less than 64 KiB).
/// `lz4_flex`'s frame encoder would copy the batch into a block buffer of
/// its own first and, for a batch over 256 KiB, allocate 4 MiB blocks
/// (BENCHMARKS.md, LZ4 encoders).
fn compress_lz4<'a>(pieces: impl Iterator<Item = &'a [u8]>, out: &mut BytesMut) {
    use lz4_flex::block::{compress_into_with_table, get_maximum_output_size};
    out.put_slice(lz4_frame_header());
    LZ4_TABLE.with_borrow_mut(|table| {
        for block in pieces.flat_map(|piece| piece.chunks(LZ4_BLOCK_LENGTH)) {
            with_block_room(get_maximum_output_size(block.len()), |room| {
                match compress_into_with_table(block, room, table) {
                    Ok(written) if written < block.len() => {
                        out.put_u32_le(written as u32);
                        out.put_slice(&room[..written]);
                    }
                    // Incompressible (or, never with room of the maximum
                    // size, too large): the frame format stores the block as is.
                    _ => {
                        out.put_u32_le(block.len() as u32 | LZ4_UNCOMPRESSED_BLOCK);
                        out.put_slice(block);
                    }
                }
            });
        }
    });
    // The end mark: a block of length zero.
    out.put_u32_le(0);
}

thread_local! {
    /// Each compressing thread keeps the room one block of a block codec
    /// (LZ4, snappy) is compressed into, zeroed once. Compressing straight
    /// into the request buffer meant zeroing the block's maximum output
    /// size there for every block, about as many bytes as the batch, to
    /// keep the compressed fraction of them.
    static BLOCK_ROOM: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `compress_block` on this thread's block room, at least `bound`
/// bytes (a block's maximum compressed size: at most 64 KiB and a little).
fn with_block_room<R>(bound: usize, compress_block: impl FnOnce(&mut [u8]) -> R) -> R {
    BLOCK_ROOM.with_borrow_mut(|room| {
        if room.len() < bound {
            room.resize(bound, 0);
        }
        compress_block(&mut room[..bound])
    })
}

/// The framing Kafka's Java clients wrap snappy blocks in (xerial's
/// snappy-java): this header, then blocks of a 4-byte length and a raw
/// snappy block. Without it the input is one raw block.
const XERIAL_SNAPPY_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// The uncompressed size of each block snappy-java writes.
const XERIAL_BLOCK_LENGTH: usize = 32 * 1024;

/// Each piece goes into blocks of its own: xerial's readers take blocks of
/// any length up to the one they state.
fn compress_snappy<'a>(pieces: impl Iterator<Item = &'a [u8]>, out: &mut BytesMut) -> anyhow::Result<()> {
    out.put_slice(XERIAL_SNAPPY_HEADER);
    let mut encoder = snap::raw::Encoder::new();
    for block in pieces.flat_map(|piece| piece.chunks(XERIAL_BLOCK_LENGTH)) {
        with_block_room(snap::raw::max_compress_len(block.len()), |room| {
            let written = encoder.compress(block, room)?;
            out.put_u32(written as u32);
            out.put_slice(&room[..written]);
            Ok(())
        })
        .map_err(|e: snap::Error| codec_error("snappy", e))?;
    }
    Ok(())
}

/// The raw snappy blocks of `input`: the xerial framing's, or `input` itself.
fn snappy_blocks(input: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let Some(mut framed) = input.strip_prefix(&XERIAL_SNAPPY_HEADER[..]) else {
        return Ok(vec![input]);
    };
    let mut blocks = Vec::new();
    while !framed.is_empty() {
        let length = framed
            .get(..4)
            .map(|length| u32::from_be_bytes(length.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| codec_error("snappy", "a block length is cut short"))?;
        let block = framed
            .get(4..4usize.saturating_add(length))
            .ok_or_else(|| codec_error("snappy", "a block is cut short"))?;
        blocks.push(block);
        framed = &framed[4 + length..];
    }
    Ok(blocks)
}

/// Each raw block starts with its inflated length, and is inflated into a
/// buffer of that length: the claims are added up and checked against the
/// limit first, or five bytes could claim 4 GiB (docs/protocol-notes.md).
fn decompress_snappy(input: &Bytes, max_inflated: usize) -> anyhow::Result<Bytes> {
    let blocks = snappy_blocks(input)?;
    let mut total = 0usize;
    for block in &blocks {
        let length = snap::raw::decompress_len(block).map_err(|e| codec_error("snappy", e))?;
        total = total.saturating_add(length);
        if total > max_inflated {
            return Err(past_limit("snappy", max_inflated));
        }
    }
    let mut inflated = vec![0; total];
    let mut decoder = snap::raw::Decoder::new();
    let mut at = 0;
    for block in blocks {
        at += decoder
            .decompress(block, &mut inflated[at..])
            .map_err(|e| codec_error("snappy", e))?;
    }
    inflated.truncate(at);
    Ok(Bytes::from(inflated))
}

/// The size a gzip stream's trailer states (ISIZE, the last member's
/// inflated length modulo 2^32); 0 when there is no trailer.
fn gzip_stated_size(input: &[u8]) -> usize {
    match input.last_chunk::<4>() {
        Some(trailer) => u32::from_le_bytes(*trailer) as usize,
        None => 0,
    }
}

/// Reads `reader` to its end, failing past `limit` bytes. The output starts
/// with room for `stated` bytes (at most `limit`), what the input says it
/// inflates to: a batch inflated into a buffer of its size is not grown
/// and copied on the way. Only a first capacity, so input that states a
/// wrong size reads as well, into a buffer grown or left part unused.
fn read_bounded(reader: impl Read, stated: usize, limit: usize, codec: &str) -> anyhow::Result<Bytes> {
    let mut inflated = Vec::with_capacity(stated.min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| codec_error(codec, e))?;
    if inflated.len() > limit {
        return Err(past_limit(codec, limit));
    }
    Ok(Bytes::from(inflated))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn log_lines(bytes: usize) -> Vec<u8> {
        (0..)
            .map(|i| {
                format!(
                    "2026-12-05T05:40:{:02} INFO request {i} served in {} ms\n",
                    i % 60,
                    i % 97
                )
            })
            .flat_map(String::into_bytes)
            .take(bytes)
            .collect()
    }

    #[test]
    fn every_codec_round_trips_at_every_level() {
        // 100 KiB spans several snappy blocks.
        let records = log_lines(100 * 1024);
        for compression in CODECS {
            for level in -1..=22 {
                let Ok(codec) = BatchCompression::new(compression, level) else {
                    continue;
                };
                // Whole, and in pieces of a batch's segment sizes (a
                // small first one, 64 KiB, a remainder), cut anywhere.
                let (first, rest) = records.split_at(1000);
                let (second, third) = rest.split_at(64 * 1024);
                for pieces in [vec![&records[..]], vec![first, second, third]] {
                    let mut out = BytesMut::from(&b"frame"[..]);
                    compress(&pieces, &mut out, codec).unwrap();
                    assert_eq!(&out[..5], b"frame", "{codec:?}");
                    let inflated = decompress(&out.freeze().slice(5..), compression, records.len()).unwrap();
                    assert_eq!(inflated, records, "{codec:?}");
                }
            }
        }
    }

    #[test]
    fn levels_are_checked_per_codec() {
        let accepted = |compression, level| BatchCompression::new(compression, level).is_ok();
        assert!(CODECS.iter().all(|&compression| accepted(compression, -1)));
        assert!(accepted(Compression::Gzip, 0) && accepted(Compression::Gzip, 9));
        assert!(!accepted(Compression::Gzip, 10));
        assert!(accepted(Compression::Zstd, 1) && accepted(Compression::Zstd, 22));
        assert!(!accepted(Compression::Zstd, 0) && !accepted(Compression::Zstd, 23));
        assert!(accepted(Compression::Snappy, 0) && !accepted(Compression::Snappy, 1));
        assert!(accepted(Compression::Lz4, 0) && !accepted(Compression::Lz4, 12));
        assert!(!accepted(Compression::None, 0));
        let error = BatchCompression::new(Compression::Zstd, 30).unwrap_err();
        assert!(error.contains("zstd's range: 1 to 22"), "{error}");
    }

    #[test]
    fn a_gzip_batch_is_read_into_the_size_it_states_within_the_limit() {
        let records = log_lines(50_000);
        let mut out = BytesMut::new();
        compress(
            &[&records],
            &mut out,
            BatchCompression::new(Compression::Gzip, -1).unwrap(),
        )
        .unwrap();
        let batch = out.freeze();
        assert_eq!(gzip_stated_size(&batch), records.len());
        assert_eq!(gzip_stated_size(&batch[..3]), 0);
        assert_eq!(decompress(&batch, Compression::Gzip, records.len()).unwrap(), records);
        assert!(decompress(&batch, Compression::Gzip, records.len() - 1).is_err());
        // A trailer stating 4 GiB: a buffer no larger than the limit, and
        // the stream refused for its wrong size.
        let mut lying = batch.to_vec();
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decompress(&Bytes::from(lying), Compression::Gzip, records.len()).is_err());
    }

    /// `records` in a zstd frame that does not state its size, as
    /// librdkafka linked against a shared libzstd writes them.
    fn unsized_zstd_frame(records: &[u8]) -> Bytes {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.write_all(records).unwrap();
        Bytes::from(encoder.finish().unwrap())
    }

    #[test]
    fn a_zstd_frame_without_its_size_is_streamed_within_the_limit() {
        let records = log_lines(50_000);
        let frame = unsized_zstd_frame(&records);
        assert!(matches!(zstd::zstd_safe::get_frame_content_size(&frame), Ok(None)));
        assert_eq!(decompress(&frame, Compression::Zstd, records.len()).unwrap(), records);
        assert!(decompress(&frame, Compression::Zstd, records.len() - 1).is_err());
    }

    #[test]
    fn a_broken_zstd_stream_leaves_the_next_batch_readable() {
        let records = log_lines(50_000);
        let frame = unsized_zstd_frame(&records);
        assert!(decompress(&frame.slice(..frame.len() / 2), Compression::Zstd, 1 << 20).is_err());
        assert!(decompress(&frame, Compression::Zstd, 100).is_err());
        assert_eq!(decompress(&frame, Compression::Zstd, records.len()).unwrap(), records);
    }

    /// xorshift64 bytes: input LZ4 finds no matches in.
    fn noise(bytes: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..bytes)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn lz4_frames_have_librdkafkas_settings_and_store_incompressible_blocks() {
        // Two compressible blocks around one that is noise, then a short one.
        let records = [log_lines(LZ4_BLOCK_LENGTH), noise(LZ4_BLOCK_LENGTH), log_lines(70_000)].concat();
        let mut out = BytesMut::new();
        compress(&[&records], &mut out, Compression::Lz4.into()).unwrap();
        let header = lz4_frame_header();
        assert_eq!(&out[..4], &0x184D_2204u32.to_le_bytes(), "LZ4 frame magic");
        assert_eq!(
            out[4], 0b0110_0000,
            "version 1, independent blocks, no checksums, size or dictionary"
        );
        assert_eq!(out[5], 4 << 4, "64 KiB blocks");
        let mut at = header.len();
        let mut blocks = Vec::new();
        loop {
            let length = u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
            if length == 0 {
                break;
            }
            let stored = length & LZ4_UNCOMPRESSED_BLOCK != 0;
            let length = (length & !LZ4_UNCOMPRESSED_BLOCK) as usize;
            blocks.push((stored, length));
            at += 4 + length;
        }
        assert_eq!(at + 4, out.len(), "the end mark closes the frame");
        assert_eq!(blocks.len(), 4, "{blocks:?}");
        assert_eq!(blocks[1], (true, LZ4_BLOCK_LENGTH), "noise is stored as is");
        assert!(blocks.iter().enumerate().all(|(i, (stored, _))| *stored == (i == 1)));
        let inflated = decompress(&out.freeze(), Compression::Lz4, records.len()).unwrap();
        assert_eq!(inflated, records);
    }

    #[test]
    fn a_truncated_snappy_frame_is_refused() {
        let mut out = BytesMut::new();
        compress(&[log_lines(1000)], &mut out, Compression::Snappy.into()).unwrap();
        let cut = out.freeze().slice(..30);
        assert!(decompress(&cut, Compression::Snappy, 1 << 20).is_err());
    }
}
