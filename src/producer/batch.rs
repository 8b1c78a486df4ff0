//! One batch: the messages of one partition that travel in one Produce
//! request, written as records in Kafka's wire form (record batch format
//! v2) into 64 KiB segments as they are appended (an allocation per
//! segment, not per message), the completions that learn their fate, and
//! the attempts and idempotence sequence of their sending. Encoding one
//! for a request adds only its header, with the records copied or
//! compressed from the segments (docs/protocol-notes.md, "Record batches
//! as they are appended"), or from the compressed records the producing
//! thread made of a batch it filled (docs/producer.md, "Compressed as
//! they are sealed").

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE};

use crate::error::Result;
use crate::kafka::compression::BatchCompression;
use crate::kafka::records::{batch_header, encode_batch, write_record, BatchHeader, RecordParts};
use crate::producer::accumulator::{Completion, OutgoingMessage};
use crate::producer::buffers::BufferPool;
use crate::topic_partition::TopicPartition;

/// The size of the segments that hold a batch's bytes. A batch grows one
/// segment at a time: it leaves at most one segment's room unused and never
/// copies what it holds, where one buffer doubling left up to half of it
/// unused and copied the batch at each doubling (BENCHMARKS.md, where the
/// producer's resident memory goes). All of one size, settled batches'
/// segments serve any new batch; and below glibc's default mmap threshold
/// (128 KiB), a segment freed past the pool stays in the allocator's heap
/// for the next one.
pub const SEGMENT_BYTES: usize = 64 << 10;

/// Segments of settled batches waiting for new batches: 64 of them (4 MiB)
/// at most.
pub type SegmentPool = BufferPool<64>;

/// Messages of one partition sent in one request. Their records live in
/// the batch's segments (a few allocations per batch, not one per message).
#[derive(Debug)]
pub struct Batch {
    /// Where it goes.
    pub partition: TopicPartition,
    /// The records while the batch takes messages, segment by segment, one
    /// running on from one segment into the next.
    data: Vec<BytesMut>,
    /// The same bytes once the batch is sealed, until it is encoded for
    /// good (see [`Batch::encoded`]).
    payload: Vec<Bytes>,
    /// The record batch as sent, kept for another attempt in place of
    /// `payload` (empty once this is set).
    encoded: Option<Bytes>,
    /// The records compressed by the thread that filled the batch, in
    /// place of `payload`: each attempt writes only a header before them.
    compressed: Option<CompressedRecords>,
    /// Set while the producing thread compresses the records, taken out
    /// of `payload`: the ticket that finds the batch again. Until then
    /// the batch is not sent.
    compression_ticket: Option<u64>,
    /// How many records the segments hold.
    record_count: i32,
    /// The first record's timestamp, which the others' deltas count from,
    /// and the largest.
    first_timestamp: i64,
    max_timestamp: i64,
    /// One completion per message.
    pub completions: Vec<Completion>,
    /// Sum of message sizes.
    pub bytes: usize,
    /// When its first message was produced.
    pub created: Instant,
    /// Sends so far.
    pub attempts: u32,
    /// Idempotence: producer id, epoch and base sequence, fixed at first send.
    pub sequence: Option<(i64, i16, i32)>,
}

impl Batch {
    /// A batch whose first bytes go into `first` (its later segments come
    /// from the pool `push` is given).
    pub(super) fn new(partition: TopicPartition, created: Instant, first: BytesMut) -> Batch {
        Batch {
            partition,
            data: vec![first],
            payload: Vec::new(),
            encoded: None,
            compressed: None,
            compression_ticket: None,
            record_count: 0,
            first_timestamp: 0,
            max_timestamp: 0,
            completions: Vec::new(),
            bytes: 0,
            created,
            attempts: 0,
            sequence: None,
        }
    }

    /// Writes `message` in as the batch's next record, taking new segments
    /// from `segments` as the last one fills.
    pub(super) fn push(&mut self, message: OutgoingMessage<'_>, segments: &mut SegmentPool) {
        if self.record_count == 0 {
            self.first_timestamp = message.timestamp;
            self.max_timestamp = message.timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(message.timestamp);
        let record = RecordParts {
            timestamp_delta: message.timestamp.wrapping_sub(self.first_timestamp),
            offset_delta: self.record_count,
            key: message.key,
            value: message.value,
            headers: message.headers,
        };
        write_record(&record, |piece| put(&mut self.data, piece, segments));
        self.record_count += 1;
        self.bytes += message.size();
    }

    /// Stops taking messages: the bytes become shareable without a copy.
    /// Whole segments move into the payload (not split-off parts), so once
    /// the batch is settled nothing else holds their memory and the pool
    /// can take them back.
    pub(super) fn seal(mut self) -> Batch {
        self.payload = std::mem::take(&mut self.data)
            .into_iter()
            .map(BytesMut::freeze)
            .collect();
        self
    }

    /// The batch's segments, to be written again: the open ones, or the
    /// payload once sealed.
    pub(super) fn into_segments(self) -> impl Iterator<Item = Bytes> {
        self.data.into_iter().map(BytesMut::freeze).chain(self.payload)
    }

    /// Takes the sealed batch's segments out to be compressed off the
    /// queue's lock; the batch is not sent until [`Batch::compressed_into`]
    /// or [`Batch::restore_segments`] ends that with the same `ticket`.
    pub(super) fn start_compression(&mut self, ticket: u64) -> Vec<Bytes> {
        self.compression_ticket = Some(ticket);
        std::mem::take(&mut self.payload)
    }

    /// Whether the records are out being compressed under `ticket`.
    pub(super) fn compresses_under(&self, ticket: u64) -> bool {
        self.compression_ticket == Some(ticket)
    }

    /// Whether the records are out being compressed.
    pub(super) fn is_compressing(&self) -> bool {
        self.compression_ticket.is_some()
    }

    /// Keeps `records`, the segments' records compressed with
    /// `compression`, in their place, and sends them from now on.
    pub(super) fn compressed_into(&mut self, compression: Compression, records: Bytes) {
        self.compression_ticket = None;
        self.compressed = Some(CompressedRecords { compression, records });
    }

    /// Puts back segments whose compression failed, for the sender to
    /// compress (and report the failure) as for any batch.
    pub(super) fn restore_segments(&mut self, segments: Vec<Bytes>) {
        self.compression_ticket = None;
        self.payload = segments;
    }

    /// Appends the sealed batch to `out` as one record batch compressed as
    /// `codec` says (with no codec, its records copied): its header and its
    /// records read from the segments, or copied from those compressed
    /// when it was sealed.
    pub fn encode(&self, out: &mut BytesMut, codec: BatchCompression) -> Result<()> {
        match &self.compressed {
            Some(compressed) => {
                batch_header(
                    out,
                    std::slice::from_ref(&compressed.records),
                    &self.header(),
                    compressed.compression,
                )?;
                out.extend_from_slice(&compressed.records);
                Ok(())
            }
            None => encode_batch(out, &self.payload, &self.header(), codec),
        }
    }

    /// Whether the batch can be sent as [`Batch::pieces`] (no codec at
    /// all, or records compressed when it was sealed) rather than encoded.
    pub fn sent_in_pieces(&self, codec: Compression) -> bool {
        codec == Compression::None || self.compressed.is_some()
    }

    /// The sealed batch as a record batch in pieces: its header, then its
    /// compressed records or (with no codec) its segments as they are, for
    /// the frame to send in place (docs/protocol-notes.md).
    pub fn pieces(&self) -> Result<Vec<Bytes>> {
        let (records, compression) = match &self.compressed {
            Some(compressed) => (std::slice::from_ref(&compressed.records), compressed.compression),
            None => (&self.payload[..], Compression::None),
        };
        let mut header = BytesMut::new();
        batch_header(&mut header, records, &self.header(), compression)?;
        let records = records.iter().filter(|piece| !piece.is_empty()).cloned();
        Ok(std::iter::once(header.freeze()).chain(records).collect())
    }

    /// The header of the batch as this attempt sends it: with the batch's
    /// sequence, or without idempotence −1s.
    fn header(&self) -> BatchHeader {
        let (producer_id, producer_epoch, base_sequence) =
            self.sequence
                .unwrap_or((NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE));
        BatchHeader {
            record_count: self.record_count,
            first_timestamp: self.first_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
        }
    }

    /// The record batch an earlier attempt encoded, to be sent again as it
    /// is.
    pub fn encoded(&self) -> Option<&Bytes> {
        self.encoded.as_ref()
    }

    /// Keeps `encoded`, the batch as this attempt sends it, for the next
    /// attempt when that one would encode the same bytes, and gives up the
    /// segments it was encoded from (to be written again): in flight a
    /// batch is then held once, not twice. With idempotence it keeps its
    /// segments instead: losing the producer's state gives the batch a new
    /// sequence, written in the header of a new encoding.
    pub fn keep_encoded(&mut self, encoded: &Bytes) -> Vec<Bytes> {
        if self.sequence.is_some() {
            return Vec::new();
        }
        self.encoded = Some(encoded.clone());
        std::mem::take(&mut self.payload)
    }

    /// The encoded form kept for another attempt, to be written again
    /// once the batch is settled.
    pub fn take_encoded(&mut self) -> Option<Bytes> {
        self.encoded.take()
    }

    /// How many messages the batch holds.
    pub fn len(&self) -> usize {
        self.record_count as usize
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }
}

/// A batch's records compressed on their own, without the header that
/// each attempt writes before them.
#[derive(Debug)]
struct CompressedRecords {
    compression: Compression,
    records: Bytes,
}

/// Appends `bytes` to `segments`, filling the last one before taking another
/// from `pool`.
fn put(segments: &mut Vec<BytesMut>, mut bytes: &[u8], pool: &mut SegmentPool) {
    loop {
        let last = segments.last_mut().expect("a batch has a segment");
        let fits = bytes.len().min(last.capacity() - last.len());
        last.put_slice(&bytes[..fits]);
        bytes = &bytes[fits..];
        if bytes.is_empty() {
            return;
        }
        segments.push(pool.take(SEGMENT_BYTES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::compression::compress;
    use crate::kafka::records::{compression_by_name, decode_data_batches, Record, COMPRESSION_NAMES};
    use crate::producer::accumulator::OutgoingHeader;
    use crate::topic_partition::Topic;

    fn batch_in(reserved: BytesMut) -> Batch {
        Batch::new(
            TopicPartition::new(Topic::new("topic").unwrap(), 0),
            Instant::now(),
            reserved,
        )
    }

    fn value(value: &[u8]) -> OutgoingMessage<'_> {
        OutgoingMessage {
            key: None,
            value: Some(value),
            headers: &[],
            timestamp: 0,
        }
    }

    /// The records of a sealed batch as `kafka-protocol`'s decoder reads
    /// them back from the batch encoded with `codec`, which also checks
    /// the CRC.
    fn decoded(batch: &Batch, codec: Compression) -> Vec<Record> {
        let mut encoded = BytesMut::new();
        batch.encode(&mut encoded, codec.into()).unwrap();
        decoded_batch(encoded.freeze(), codec)
    }

    /// The records of `encoded`, one record batch compressed with `codec`.
    fn decoded_batch(encoded: Bytes, codec: Compression) -> Vec<Record> {
        let mut sets = decode_data_batches(encoded, 64 << 20).unwrap();
        assert_eq!(sets.len(), 1, "one record batch");
        let set = sets.pop().unwrap();
        assert_eq!(set.compression, codec);
        set.records
    }

    #[test]
    fn a_sealed_batch_gives_its_segments_back_to_be_written_again() {
        let mut pool = SegmentPool::default();
        let first = pool.take(SEGMENT_BYTES);
        let address = first.as_ptr();
        let mut batch = batch_in(first);
        batch.push(value(&[7; 10_000]), &mut pool);
        let sealed = batch.seal();
        assert_eq!(sealed.len(), 1);
        let mut segments = sealed.into_segments();
        pool.give(segments.next().expect("the first segment"));
        assert!(segments.next().is_none(), "10,000 bytes fit in one segment");
        let again = pool.take(SEGMENT_BYTES);
        assert_eq!(again.as_ptr(), address, "the same memory is written again");
        assert!(again.capacity() >= SEGMENT_BYTES);
    }

    #[test]
    fn a_batch_grows_by_whole_segments_and_reads_back_what_it_was_given() {
        let mut segments = SegmentPool::default();
        let mut batch = batch_in(BytesMut::with_capacity(1000));
        let first = batch.data[0].as_ptr();
        let sizes = [600, 400, SEGMENT_BYTES - 1, 0, 2, 3 * SEGMENT_BYTES, 10];
        let values: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(index, length)| (0..*length).map(|at| (at * 7 + index) as u8).collect())
            .collect();
        for bytes in &values {
            batch.push(value(bytes), &mut segments);
        }
        assert_eq!(batch.data[0].as_ptr(), first, "what was written never moves");
        let capacities: Vec<usize> = batch.data.iter().map(BytesMut::capacity).collect();
        let written: usize = batch.data.iter().map(BytesMut::len).sum();
        assert_eq!(capacities[0], 1000);
        assert!(capacities[1..].iter().all(|capacity| *capacity == SEGMENT_BYTES));
        assert_eq!(
            capacities.len(),
            1 + (written - 1000).div_ceil(SEGMENT_BYTES),
            "no segment more than needed"
        );
        let sealed = batch.seal();
        let read: Vec<Vec<u8>> = decoded(&sealed, Compression::None)
            .into_iter()
            .map(|record| record.value.expect("a value").to_vec())
            .collect();
        assert_eq!(read, values);
        assert_eq!(sealed.into_segments().count(), capacities.len());
    }

    #[test]
    fn a_sent_batch_keeps_its_encoded_form_in_place_of_its_segments_unless_idempotent() {
        let encoded = Bytes::from_static(b"the record batch as sent");
        for sequence in [None, Some((7, 0, 0))] {
            let mut segments = SegmentPool::default();
            let mut batch = batch_in(BytesMut::with_capacity(100));
            batch.push(value(&[1; 300]), &mut segments);
            let mut batch = batch.seal();
            batch.sequence = sequence;
            let released = batch.keep_encoded(&encoded);
            if sequence.is_none() {
                assert_eq!(released.len(), 2, "both segments are given up");
                assert_eq!(batch.encoded(), Some(&encoded));
                assert_eq!(batch.take_encoded(), Some(encoded.clone()));
                assert_eq!(batch.into_segments().count(), 0);
            } else {
                assert!(released.is_empty());
                assert_eq!(batch.encoded(), None, "a new sequence would need it encoded again");
                assert_eq!(
                    decoded(&batch, Compression::None)[0].value.as_deref(),
                    Some(&[1; 300][..])
                );
            }
        }
    }

    /// What a record holds besides its position: key, value, headers and
    /// timestamp.
    type Contents = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Option<Vec<u8>>)>, i64);

    fn contents_of(record: &Record) -> Contents {
        let headers = record
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_ref().map(|v| v.to_vec())))
            .collect();
        (
            record.key.as_ref().map(|key| key.to_vec()),
            record.value.as_ref().map(|value| value.to_vec()),
            headers,
            record.timestamp,
        )
    }

    #[test]
    fn a_batch_written_as_appended_decodes_to_its_messages_with_every_codec() {
        let headers: &[OutgoingHeader<'_>] = &[("trace", Some(b"abc")), ("empty", Some(b"")), ("null", None)];
        let large: Vec<u8> = (0..SEGMENT_BYTES + 5000).map(|at| (at % 251) as u8).collect();
        let base = 1_700_000_000_000;
        // Null and empty keys and values, headers, a value larger than a
        // segment, the clock going back (negative deltas, and a timestamp
        // before the epoch).
        let messages = [
            (Some(&b"k1"[..]), Some(&b"one"[..]), headers, base),
            (None, Some(&b"two"[..]), &[][..], base - 5_000),
            (Some(&b""[..]), None, &headers[2..], base + 300_000_000),
            (Some(&b"k4"[..]), Some(&large[..]), &headers[..1], base + 1),
            (None, None, &[][..], -1),
        ];
        let expected: Vec<Contents> = messages
            .iter()
            .map(|(key, value, headers, timestamp)| {
                let headers = headers
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.map(<[u8]>::to_vec)))
                    .collect();
                (key.map(<[u8]>::to_vec), value.map(<[u8]>::to_vec), headers, *timestamp)
            })
            .collect();
        for sequence in [None, Some((4_000, 3, 41))] {
            let mut segments = SegmentPool::default();
            // A first segment of 12 bytes: the first record runs across it.
            let mut batch = batch_in(BytesMut::with_capacity(12));
            for (key, value, headers, timestamp) in messages {
                batch.push(
                    OutgoingMessage {
                        key,
                        value,
                        headers,
                        timestamp,
                    },
                    &mut segments,
                );
            }
            assert!(batch.data.len() >= 3, "records run across segments");
            let mut batch = batch.seal();
            batch.sequence = sequence;
            let mut copied = BytesMut::new();
            batch.encode(&mut copied, Compression::None.into()).unwrap();
            let pieces = batch.pieces().unwrap();
            assert_eq!(pieces.len(), 1 + batch.payload.len(), "a header, then the segments");
            assert_eq!(
                pieces.concat(),
                copied,
                "sent in place, the segments make the same batch"
            );
            for name in COMPRESSION_NAMES {
                let codec = compression_by_name(name).unwrap();
                let records = decoded(&batch, codec);
                let seen: Vec<Contents> = records.iter().map(contents_of).collect();
                assert_eq!(seen, expected, "{name}");
                let offsets: Vec<i64> = records.iter().map(|record| record.offset).collect();
                assert_eq!(offsets, [0, 1, 2, 3, 4], "{name}");
                let (producer_id, producer_epoch, base_sequence) = sequence.unwrap_or((-1, -1, -1));
                for (delta, record) in records.iter().enumerate() {
                    assert_eq!(
                        (record.producer_id, record.producer_epoch),
                        (producer_id, producer_epoch)
                    );
                    // The decoder counts each record's sequence from the
                    // header's base sequence.
                    assert_eq!(
                        record.sequence,
                        base_sequence.wrapping_add(delta as i32),
                        "{name}, record {delta}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_batch_compressed_as_sealed_decodes_to_its_messages_under_a_new_sequence_too() {
        let values: Vec<Vec<u8>> = (0..300)
            .map(|at| format!("GET /item/{at} 200 ").repeat(at % 40 + 1).into_bytes())
            .collect();
        for name in &COMPRESSION_NAMES[1..] {
            let codec = compression_by_name(name).unwrap();
            let mut segments = SegmentPool::default();
            let mut batch = batch_in(BytesMut::with_capacity(100));
            for bytes in &values {
                batch.push(value(bytes), &mut segments);
            }
            let mut batch = batch.seal();
            let appended = batch.start_compression(9);
            assert!(appended.len() > 1, "{name}: records across segments");
            assert!(batch.compresses_under(9) && batch.is_compressing());
            let mut records = BytesMut::new();
            compress(&appended, &mut records, codec.into()).unwrap();
            batch.compressed_into(codec, records.freeze());
            assert!(!batch.is_compressing() && batch.sent_in_pieces(codec));
            // A first attempt without idempotence, then one that numbers
            // the batch anew (as after lost producer state): only the
            // header changes.
            for sequence in [None, Some((4_000, 3, 41))] {
                batch.sequence = sequence;
                let mut copied = BytesMut::new();
                batch.encode(&mut copied, codec.into()).unwrap();
                assert_eq!(batch.pieces().unwrap().concat(), copied, "{name}: in pieces as copied");
                let records = decoded_batch(copied.freeze(), codec);
                let read: Vec<Vec<u8>> = records.iter().map(|r| r.value.clone().unwrap().to_vec()).collect();
                assert_eq!(read, values, "{name}");
                let (producer_id, _, base_sequence) = sequence.unwrap_or((-1, -1, -1));
                assert_eq!(records[7].producer_id, producer_id, "{name}");
                assert_eq!(records[7].sequence, base_sequence.wrapping_add(7), "{name}");
            }
            assert_eq!(batch.into_segments().count(), 0, "{name}: it holds no segment");
        }
    }
}
