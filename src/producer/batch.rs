//! One batch: the messages of one partition that travel in one Produce
//! request, their keys and values in one buffer (one allocation per batch,
//! not per message), the completions that learn their fate, and the
//! attempts and idempotence sequence of their sending.

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE};

use crate::consumer::message::Headers;
use crate::producer::accumulator::{Completion, OutgoingMessage};
use crate::topic_partition::TopicPartition;

/// Where a queued message's key and value sit in its batch's bytes: key
/// first, then value, then its headers' names and values, message after
/// message.
#[derive(Debug, Clone, Copy)]
struct QueuedMessage {
    key_len: Option<u32>,
    value_len: Option<u32>,
    /// How many entries of the batch's `header_lens` are this message's.
    header_count: u32,
    timestamp: i64,
}

/// Messages of one partition sent in one request. Keys and values live in
/// one buffer per batch (one allocation per batch, not per message).
#[derive(Debug)]
pub struct Batch {
    /// Where it goes.
    pub partition: TopicPartition,
    messages: Vec<QueuedMessage>,
    /// Name and value lengths of every message's headers, in order (empty,
    /// and not allocated, while no message has headers).
    header_lens: Vec<(u32, Option<u32>)>,
    /// Keys and values while the batch takes messages.
    data: BytesMut,
    /// The same bytes once the batch is sealed.
    payload: Bytes,
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
    pub(super) fn new(partition: TopicPartition, created: Instant, data: BytesMut) -> Batch {
        Batch {
            partition,
            messages: Vec::new(),
            header_lens: Vec::new(),
            data,
            payload: Bytes::new(),
            completions: Vec::new(),
            bytes: 0,
            created,
            attempts: 0,
            sequence: None,
        }
    }

    pub(super) fn push(&mut self, message: OutgoingMessage<'_>) {
        let length = |part: Option<&[u8]>| part.map(|bytes| bytes.len() as u32);
        self.messages.push(QueuedMessage {
            key_len: length(message.key),
            value_len: length(message.value),
            header_count: message.headers.len() as u32,
            timestamp: message.timestamp,
        });
        self.data.put_slice(message.key.unwrap_or_default());
        self.data.put_slice(message.value.unwrap_or_default());
        for (name, value) in message.headers {
            self.header_lens.push((name.len() as u32, length(*value)));
            self.data.put_slice(name.as_bytes());
            self.data.put_slice(value.unwrap_or_default());
        }
        self.bytes += message.size();
    }

    /// Stops taking messages: the bytes become shareable without a copy.
    /// The whole buffer moves into the payload (not a split-off part), so
    /// once the batch is settled nothing else holds its memory and the
    /// pool can take it back.
    pub(super) fn seal(mut self) -> Batch {
        self.payload = std::mem::take(&mut self.data).freeze();
        self
    }

    /// The batch's buffer, to be written again: the open buffer, or the
    /// payload once sealed.
    pub(super) fn into_buffer(self) -> Bytes {
        if self.data.capacity() > 0 {
            self.data.freeze()
        } else {
            self.payload
        }
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
    /// batch, sharing the batch's bytes.
    pub fn contents(&self) -> impl Iterator<Item = (Option<Bytes>, Option<Bytes>, Headers, i64)> + '_ {
        let mut position = 0usize;
        let mut header_lens = self.header_lens.iter();
        self.messages.iter().map(move |message| {
            let mut take = |length: Option<u32>| {
                length.map(|length| {
                    let part = self.payload.slice(position..position + length as usize);
                    position += length as usize;
                    part
                })
            };
            let key = take(message.key_len);
            let value = take(message.value_len);
            let headers = header_lens
                .by_ref()
                .take(message.header_count as usize)
                .map(|(name_len, value_len)| {
                    let name = take(Some(*name_len)).expect("a name always has a length");
                    let name = StrBytes::from_utf8(name).expect("header names were UTF-8 strings");
                    (name, take(*value_len))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::accumulator::OutgoingHeader;
    use crate::producer::buffers::BufferPool;
    use crate::topic_partition::Topic;

    #[test]
    fn a_sealed_batch_gives_its_whole_buffer_back() {
        let mut pool = BufferPool::default();
        let buffer = pool.take(1 << 20);
        let address = buffer.as_ptr();
        let mut batch = Batch::new(
            TopicPartition::new(Topic::new("topic").unwrap(), 0),
            Instant::now(),
            buffer,
        );
        batch.push(OutgoingMessage {
            key: Some(b"key"),
            value: Some(&[7; 10_000]),
            headers: &[],
            timestamp: 0,
        });
        let sealed = batch.seal();
        assert_eq!(sealed.contents().count(), 1);
        pool.give(sealed.into_buffer());
        let again = pool.take(1 << 20);
        assert_eq!(again.as_ptr(), address, "the same memory is written again");
        assert!(again.capacity() >= 1 << 20);
    }

    #[test]
    fn headers_travel_with_their_message() {
        let mut batch = Batch::new(
            TopicPartition::new(Topic::new("topic").unwrap(), 0),
            Instant::now(),
            BytesMut::with_capacity(1024),
        );
        let headers: &[OutgoingHeader<'_>] = &[("trace", Some(b"abc")), ("empty", Some(b"")), ("null", None)];
        for (value, headers) in [(&b"one"[..], headers), (b"two", &[][..]), (b"three", &headers[..1])] {
            batch.push(OutgoingMessage {
                key: None,
                value: Some(value),
                headers,
                timestamp: 0,
            });
        }
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
