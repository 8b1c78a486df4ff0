//! Request frames that refer to a Produce request's record batches instead
//! of copying them (issue #13: the copy of each batch into the frame was
//! the one copy left on the produce path, BENCHMARKS.md).
//!
//! `kafka-protocol` writes every byte of a request through `bytes::BufMut`,
//! a record batch with one `put_slice`. [`FrameWriter`] keeps the header
//! and the small fields in its own buffer and, when a slice is one of the
//! batches it was handed, keeps that batch in its place by reference;
//! [`Frame::write_to`] sends the pieces with vectored writes.
//!
//! A batch may also be sent in pieces (an uncompressed batch: its header,
//! then the producer's segments as they are, docs/protocol-notes.md). The
//! request then holds a stand-in of the batch's length, a slice of
//! `stand_in_zeros` that is never sent: the writer keeps the pieces in
//! its place.
//!
//! `BufMut` is an unsafe trait: this is the one module outside `src/ffi/`
//! that may hold `unsafe` code (docs/architecture.md, `unsafe` policy), and
//! all of it forwards to `BytesMut`'s own implementation.

use std::io::IoSlice;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The longest batch sent in pieces: longer ones are joined into one
/// buffer first (a batch is at most `batch_size_bytes` and one message).
pub const MAX_PIECES_BATCH: usize = 16 << 20;

/// Zeros that stand-ins are cut from, allocated once and never written or
/// read: a fresh allocation this large is mapped, not faulted in, so it
/// holds no resident memory.
fn stand_in_zeros() -> &'static Bytes {
    static ZEROS: OnceLock<Bytes> = OnceLock::new();
    ZEROS.get_or_init(|| Bytes::from(vec![0; 2 * MAX_PIECES_BATCH]))
}

/// One record batch of a request as the frame sends it.
#[derive(Debug, Clone)]
pub struct FramedBatch {
    /// What the request holds in the batch's place.
    stand_in: Bytes,
    /// What is sent: the stand-in itself, or the batch's pieces.
    pieces: Vec<Bytes>,
}

impl FramedBatch {
    /// A batch in one buffer: the request holds and the frame sends it.
    pub fn whole(batch: Bytes) -> FramedBatch {
        FramedBatch {
            stand_in: batch.clone(),
            pieces: vec![batch],
        }
    }

    /// A batch sent as `pieces`, the `index`th batch of its request (which
    /// keeps the stand-ins of one request apart); `None` when longer than
    /// [`MAX_PIECES_BATCH`] or when the request has more batches than a
    /// stand-in can tell apart.
    pub fn in_pieces(pieces: Vec<Bytes>, index: usize) -> Option<FramedBatch> {
        let length: usize = pieces.iter().map(Bytes::len).sum();
        if length > MAX_PIECES_BATCH || index >= MAX_PIECES_BATCH || length == 0 {
            return None;
        }
        Some(FramedBatch {
            stand_in: stand_in_zeros().slice(index..index + length),
            pieces,
        })
    }

    /// What the request holds in the batch's place: the batch, or a
    /// stand-in of its length.
    pub fn stand_in(&self) -> &Bytes {
        &self.stand_in
    }

    /// The batch's length.
    pub fn len(&self) -> usize {
        self.stand_in.len()
    }
}

/// Whether `source` lies in the stand-ins' zeros: bytes never to be sent.
fn is_stand_in(source: &[u8]) -> bool {
    let zeros = stand_in_zeros().as_ptr_range();
    !source.is_empty() && zeros.contains(&source.as_ptr())
}

/// A frame being encoded: its own bytes, and the batches it refers to.
#[derive(Debug)]
pub struct FrameWriter {
    /// Every byte of the frame but the referenced batches, in order.
    copied: BytesMut,
    /// Each referenced batch or piece of one, after the first `.0` bytes of
    /// `copied`.
    references: Vec<(usize, Bytes)>,
    /// The length of the referenced batches together.
    referenced: usize,
    /// Batches not met yet, referred to when the encoder writes one.
    batches: Vec<FramedBatch>,
}

/// An encoded frame, ready to be written.
#[derive(Debug)]
pub struct Frame {
    copied: Bytes,
    references: Vec<(usize, Bytes)>,
}

impl FrameWriter {
    /// A frame written into `buffer` (empty; its capacity is reused) that
    /// refers to any of `batches` the encoder writes whole.
    pub fn new(buffer: BytesMut, batches: Vec<FramedBatch>) -> FrameWriter {
        FrameWriter {
            copied: buffer,
            references: Vec::new(),
            referenced: 0,
            batches,
        }
    }

    /// The frame's length so far, referenced batches included.
    pub fn len(&self) -> usize {
        self.copied.len() + self.referenced
    }

    /// The frame's first `N` bytes, which never hold a batch: the length
    /// prefix is written there once the length is known.
    pub fn prefix_mut<const N: usize>(&mut self) -> &mut [u8; N] {
        assert!(
            self.references.first().is_none_or(|(at, _)| *at >= N),
            "a batch within the first {N} bytes of a frame"
        );
        (&mut self.copied[..N]).try_into().expect("N bytes were written")
    }

    /// The finished frame, and the rest of the buffer's capacity for the next.
    pub fn finish(mut self) -> (Frame, BytesMut) {
        let copied = self.copied.split().freeze();
        let frame = Frame {
            copied,
            references: self.references,
        };
        (frame, self.copied)
    }

    /// Where the byte at `offset` of the frame sits in `copied`.
    fn copied_offset(&self, offset: usize) -> usize {
        let mut before = 0;
        for (at, batch) in &self.references {
            if *at + before >= offset {
                break;
            }
            assert!(
                offset >= *at + before + batch.len(),
                "offset {offset} lies inside a referenced batch"
            );
            before += batch.len();
        }
        offset - before
    }
}

// SAFETY: `chunk_mut`, `advance_mut` and `remaining_mut` are `BytesMut`'s,
// on `copied`, so their contract is `BytesMut`'s: the chunk handed out is
// `copied`'s spare capacity, and `advance_mut` only counts bytes of that
// chunk the caller initialised. `put_slice` writes through the safe
// `extend_from_slice`, or stores a `Bytes` and touches no memory.
unsafe impl BufMut for FrameWriter {
    fn remaining_mut(&self) -> usize {
        self.copied.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, count: usize) {
        // SAFETY: our caller initialised `count` bytes of the chunk
        // `chunk_mut` returned, which is `copied`'s.
        unsafe { self.copied.advance_mut(count) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.copied.chunk_mut()
    }

    fn put_slice(&mut self, source: &[u8]) {
        let batch = self.batches.iter().position(|batch| {
            !source.is_empty() && batch.stand_in.as_ptr() == source.as_ptr() && batch.stand_in.len() == source.len()
        });
        match batch {
            Some(index) => {
                let batch = self.batches.swap_remove(index);
                self.referenced += batch.len();
                let at = self.copied.len();
                self.references
                    .extend(batch.pieces.into_iter().map(|piece| (at, piece)));
            }
            None => {
                assert!(!is_stand_in(source), "a batch's stand-in would be sent in its place");
                self.copied.extend_from_slice(source)
            }
        }
    }
}

impl ByteBufMut for FrameWriter {
    fn offset(&self) -> usize {
        self.len()
    }

    fn seek(&mut self, offset: usize) {
        let at = self.copied_offset(offset);
        self.copied.resize(at, 0);
    }

    fn range(&mut self, range: Range<usize>) -> &mut [u8] {
        let start = self.copied_offset(range.start);
        &mut self.copied[start..start + range.len()]
    }
}

impl Frame {
    /// The frame's length, referenced batches included.
    pub fn len(&self) -> usize {
        self.copied.len() + self.references.iter().map(|(_, batch)| batch.len()).sum::<usize>()
    }

    /// How many batches the frame refers to instead of holding a copy.
    #[cfg(test)]
    pub fn referenced_batches(&self) -> usize {
        self.references.len()
    }

    /// The frame's pieces in order.
    fn pieces(&self) -> Vec<&[u8]> {
        let mut pieces = Vec::with_capacity(2 * self.references.len() + 1);
        let mut from = 0;
        for (at, batch) in &self.references {
            pieces.push(&self.copied[from..*at]);
            pieces.push(&batch[..]);
            from = *at;
        }
        pieces.push(&self.copied[from..]);
        pieces.retain(|piece| !piece.is_empty());
        pieces
    }

    /// Writes the whole frame to `writer`, its pieces gathered by vectored
    /// writes.
    pub async fn write_to(&self, writer: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        let pieces = self.pieces();
        let total = self.len();
        let mut written = 0;
        while written < total {
            let mut skip = written;
            let mut slices = Vec::with_capacity(pieces.len());
            for piece in &pieces {
                if skip >= piece.len() {
                    skip -= piece.len();
                } else {
                    slices.push(IoSlice::new(&piece[skip..]));
                    skip = 0;
                }
            }
            match writer.write_vectored(&slices).await? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                count => written += count,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(fill: u8, length: usize) -> Bytes {
        Bytes::from(vec![fill; length])
    }

    /// A writer that takes at most `step` bytes per call, to exercise
    /// writes that stop inside a piece.
    struct Trickle {
        written: Vec<u8>,
        step: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buffer: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let count = buffer.len().min(self.step);
            self.written.extend_from_slice(&buffer[..count]);
            std::task::Poll::Ready(Ok(count))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn written(frame: &Frame, step: usize) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut writer = Trickle {
            written: Vec::new(),
            step,
        };
        runtime.block_on(frame.write_to(&mut writer)).unwrap();
        writer.written
    }

    #[test]
    fn batches_handed_over_are_referenced_and_written_in_place() {
        let (first, second, stranger) = (batch(1, 1000), batch(2, 500), batch(3, 300));
        let mut writer = FrameWriter::new(
            BytesMut::new(),
            vec![FramedBatch::whole(first.clone()), FramedBatch::whole(second.clone())],
        );
        let pieces: [&[u8]; 6] = [b"header", &first, &[9], &stranger, &second, b"end"];
        // The length prefix goes through `chunk_mut`, the pieces through `put_slice`.
        writer.put_i32(0);
        for piece in pieces {
            writer.put_slice(piece);
        }
        assert_eq!(writer.len(), 4 + 6 + 1000 + 1 + 300 + 500 + 3);
        let length = (writer.len() - 4) as i32;
        *writer.prefix_mut::<4>() = length.to_be_bytes();
        let (frame, _) = writer.finish();
        assert_eq!(frame.references.len(), 2, "the stranger was copied");
        assert_eq!(frame.copied.len(), 4 + 6 + 1 + 300 + 3);
        let expected: Vec<u8> = length.to_be_bytes().into_iter().chain(pieces.concat()).collect();
        for step in [1, 7, 4096] {
            assert_eq!(written(&frame, step), expected, "step {step}");
        }
    }

    #[test]
    fn gaps_after_a_batch_map_to_the_copied_bytes() {
        let first = batch(1, 100);
        let mut writer = FrameWriter::new(BytesMut::new(), vec![FramedBatch::whole(first.clone())]);
        writer.put_slice(b"ab");
        writer.put_slice(&first);
        let gap = writer.put_gap(4);
        assert_eq!(writer.offset(), 2 + 100 + 4);
        writer.gap_buf(gap).copy_from_slice(b"wxyz");
        let (frame, _) = writer.finish();
        let mut expected = b"ab".to_vec();
        expected.extend_from_slice(&first);
        expected.extend_from_slice(b"wxyz");
        assert_eq!(written(&frame, 64), expected);
    }

    #[test]
    fn a_batch_in_pieces_is_sent_in_place_of_its_stand_in() {
        let pieces = vec![batch(1, 61), batch(2, 1000), batch(3, 7)];
        let in_pieces = FramedBatch::in_pieces(pieces.clone(), 0).unwrap();
        let other = FramedBatch::in_pieces(vec![batch(4, 1068)], 1).unwrap();
        assert_eq!(in_pieces.len(), 1068);
        assert_ne!(in_pieces.stand_in().as_ptr(), other.stand_in().as_ptr(), "told apart");
        let stand_ins = [in_pieces.stand_in().clone(), other.stand_in().clone()];
        let mut writer = FrameWriter::new(BytesMut::new(), vec![in_pieces, other]);
        writer.put_slice(b"ab");
        writer.put_slice(&stand_ins[1]);
        writer.put_slice(&stand_ins[0]);
        let gap = writer.put_gap(4);
        writer.gap_buf(gap).copy_from_slice(b"wxyz");
        writer.put_slice(b"end");
        let (frame, _) = writer.finish();
        let mut expected = b"ab".to_vec();
        expected.extend_from_slice(&[4; 1068]);
        expected.extend_from_slice(&pieces.concat());
        expected.extend_from_slice(b"wxyzend");
        for step in [1, 100, 4096] {
            assert_eq!(written(&frame, step), expected, "step {step}");
        }
    }

    #[test]
    #[should_panic(expected = "stand-in would be sent")]
    fn a_stand_in_the_frame_was_not_given_is_never_sent() {
        let stray = FramedBatch::in_pieces(vec![batch(1, 10)], 0).unwrap();
        FrameWriter::new(BytesMut::new(), Vec::new()).put_slice(stray.stand_in());
    }

    #[test]
    fn the_buffer_is_reused_once_the_frame_is_gone() {
        let mut writer = FrameWriter::new(BytesMut::with_capacity(4096), Vec::new());
        writer.put_slice(&[5; 100]);
        let address = writer.copied.as_ptr();
        let (frame, rest) = writer.finish();
        drop(frame);
        let mut rest = rest;
        rest.reserve(4096);
        assert_eq!(rest.as_ptr(), address);
    }
}
