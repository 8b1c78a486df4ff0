//! One batch: the messages of one partition that travel in one Produce
//! request, their keys and values in 64 KiB segments (an allocation per
//! segment, not per message), the completions that learn their fate, and the
//! attempts and idempotence sequence of their sending.

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE};

use crate::consumer::message::Headers;
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

/// Where a queued message's key and value sit in its batch's bytes: key
/// first, then value, then its headers' names and values, message after
/// message, running on from one segment into the next.
#[derive(Debug, Clone, Copy)]
struct QueuedMessage {
    key_len: Option<u32>,
    value_len: Option<u32>,
    /// How many entries of the batch's `header_lens` are this message's.
    header_count: u32,
    timestamp: i64,
}

/// Messages of one partition sent in one request. Keys and values live in
/// the batch's segments (a few allocations per batch, not one per message).
#[derive(Debug)]
pub struct Batch {
    /// Where it goes.
    pub partition: TopicPartition,
    messages: Vec<QueuedMessage>,
    /// Name and value lengths of every message's headers, in order (empty,
    /// and not allocated, while no message has headers).
    header_lens: Vec<(u32, Option<u32>)>,
    /// Keys and values while the batch takes messages, segment by segment.
    data: Vec<BytesMut>,
    /// The same bytes once the batch is sealed, until it is encoded for
    /// good (see [`Batch::encoded`]).
    payload: Vec<Bytes>,
    /// The record batch as sent, kept for another attempt in place of
    /// `payload` (empty once this is set).
    encoded: Option<Bytes>,
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
            messages: Vec::new(),
            header_lens: Vec::new(),
            data: vec![first],
            payload: Vec::new(),
            encoded: None,
            completions: Vec::new(),
            bytes: 0,
            created,
            attempts: 0,
            sequence: None,
        }
    }

    /// Copies `message` in, taking new segments from `segments` as the
    /// last one fills.
    pub(super) fn push(&mut self, message: OutgoingMessage<'_>, segments: &mut SegmentPool) {
        let length = |part: Option<&[u8]>| part.map(|bytes| bytes.len() as u32);
        self.messages.push(QueuedMessage {
            key_len: length(message.key),
            value_len: length(message.value),
            header_count: message.headers.len() as u32,
            timestamp: message.timestamp,
        });
        self.put(message.key.unwrap_or_default(), segments);
        self.put(message.value.unwrap_or_default(), segments);
        for (name, value) in message.headers {
            self.header_lens.push((name.len() as u32, length(*value)));
            self.put(name.as_bytes(), segments);
            self.put(value.unwrap_or_default(), segments);
        }
        self.bytes += message.size();
    }

    /// Appends `bytes`, filling the last segment before taking another.
    fn put(&mut self, mut bytes: &[u8], segments: &mut SegmentPool) {
        loop {
            let last = self.data.last_mut().expect("a batch has a segment");
            let fits = bytes.len().min(last.capacity() - last.len());
            last.put_slice(&bytes[..fits]);
            bytes = &bytes[fits..];
            if bytes.is_empty() {
                return;
            }
            self.data.push(segments.take(SEGMENT_BYTES));
        }
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
    /// sequence, written in the encoded batch.
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
        self.messages.len()
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Key, value, headers and timestamp of each message of a sealed
    /// batch, sharing the batch's bytes; a part that runs from one segment
    /// into the next (at most one per segment) is copied into one piece.
    pub fn contents(&self) -> impl Iterator<Item = (Option<Bytes>, Option<Bytes>, Headers, i64)> + '_ {
        let mut reader = PayloadReader {
            segments: &self.payload,
            segment: 0,
            position: 0,
        };
        let mut header_lens = self.header_lens.iter();
        self.messages.iter().map(move |message| {
            let key = message.key_len.map(|length| reader.take(length as usize));
            let value = message.value_len.map(|length| reader.take(length as usize));
            let headers = header_lens
                .by_ref()
                .take(message.header_count as usize)
                .map(|(name_len, value_len)| {
                    let name = reader.take(*name_len as usize);
                    let name = StrBytes::from_utf8(name).expect("header names were UTF-8 strings");
                    (name, value_len.map(|length| reader.take(length as usize)))
                })
                .collect();
            (key, value, headers, message.timestamp)
        })
    }

    /// The records of the batch as the codec wants them: offsets are deltas from
    /// 0; sequences are the batch's base sequence plus the delta, or, without
    /// idempotence, −1 plus the delta, which keeps the encoder from splitting
    /// the batch and writes base sequence −1 (docs/protocol-notes.md).
    pub fn records(&self) -> Vec<Record> {
        let (producer_id, producer_epoch, base_sequence) =
            self.sequence
                .unwrap_or((NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE));
        self.contents()
            .enumerate()
            .map(|(delta, (key, value, headers, timestamp))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: delta as i64,
                sequence: base_sequence.wrapping_add(delta as i32),
                timestamp,
                key,
                value,
                headers,
            })
            .collect()
    }
}

/// Reads a sealed batch's parts in order across its segments.
struct PayloadReader<'a> {
    segments: &'a [Bytes],
    /// The segment being read, and where in it.
    segment: usize,
    position: usize,
}

impl PayloadReader<'_> {
    /// The next `length` bytes: a slice of their segment, or a copy when
    /// they run into the next one.
    fn take(&mut self, length: usize) -> Bytes {
        if self.position == self.segments[self.segment].len() && length > 0 {
            self.segment += 1;
            self.position = 0;
        }
        let segment = &self.segments[self.segment];
        if self.position + length <= segment.len() {
            let part = segment.slice(self.position..self.position + length);
            self.position += length;
            return part;
        }
        let mut joined = BytesMut::with_capacity(length);
        while joined.len() < length {
            let segment = &self.segments[self.segment];
            let count = (length - joined.len()).min(segment.len() - self.position);
            joined.put_slice(&segment[self.position..self.position + count]);
            self.position += count;
            if self.position == segment.len() && joined.len() < length {
                self.segment += 1;
                self.position = 0;
            }
        }
        joined.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn a_sealed_batch_gives_its_segments_back_to_be_written_again() {
        let mut pool = SegmentPool::default();
        let first = pool.take(SEGMENT_BYTES);
        let address = first.as_ptr();
        let mut batch = batch_in(first);
        batch.push(value(&[7; 10_000]), &mut pool);
        let sealed = batch.seal();
        assert_eq!(sealed.contents().count(), 1);
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
        let total: usize = sizes.iter().sum();
        assert_eq!(capacities[0], 1000);
        assert!(capacities[1..].iter().all(|capacity| *capacity == SEGMENT_BYTES));
        assert_eq!(
            capacities.len(),
            1 + (total - 1000).div_ceil(SEGMENT_BYTES),
            "no segment more than needed"
        );
        let sealed = batch.seal();
        let read: Vec<Vec<u8>> = sealed
            .contents()
            .map(|(_, value, _, _)| value.expect("a value").to_vec())
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
                assert_eq!(batch.records()[0].value.as_deref(), Some(&[1; 300][..]));
            }
        }
    }

    #[test]
    fn headers_travel_with_their_message() {
        let mut segments = SegmentPool::default();
        let mut batch = batch_in(BytesMut::with_capacity(12));
        let headers: &[OutgoingHeader<'_>] = &[("trace", Some(b"abc")), ("empty", Some(b"")), ("null", None)];
        for (value, headers) in [(&b"one"[..], headers), (b"two", &[][..]), (b"three", &headers[..1])] {
            batch.push(
                OutgoingMessage {
                    key: None,
                    value: Some(value),
                    headers,
                    timestamp: 0,
                },
                &mut segments,
            );
        }
        assert_eq!(batch.data.len(), 2, "the first message ran into a second segment");
        let records = batch.seal().records();
        let seen: Vec<Vec<(String, Option<Vec<u8>>)>> = records
            .iter()
            .map(|record| {
                record
                    .headers
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.as_ref().map(|v| v.to_vec())))
                    .collect()
            })
            .collect();
        let owned = |pairs: &[(&str, Option<&[u8]>)]| -> Vec<(String, Option<Vec<u8>>)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(<[u8]>::to_vec)))
                .collect()
        };
        assert_eq!(seen, [owned(headers), owned(&[]), owned(&headers[..1])]);
        assert_eq!(records[2].value.as_deref(), Some(&b"three"[..]));
    }
}
