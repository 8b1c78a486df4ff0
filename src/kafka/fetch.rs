//! Fetch requests: reading records of several partitions from their leader
//! in one round trip.
//!
//! Owns the request layout (bounded by the caller's byte and wait limits)
//! and the reading of the answer: record batches of every codec decoded,
//! control records and records before the asked offset left out, the next
//! offset to ask for, and each partition's error kept apart so that one bad
//! partition does not hide the others' records. What to do about an error
//! (reset, reroute, report) is the caller's business.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use crate::error::{Error, ErrorCode, Result};
use crate::kafka::records::{decode_data_batches, next_offset_after, Record, RecordSet};
use crate::kafka::topic_name;
use crate::kafka::KafkaCluster;
use crate::topic_partition::TopicPartition;

/// How much one fetch may ask for and wait.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// How long the broker may wait for `min_bytes` to arrive.
    pub max_wait: Duration,
    /// How many bytes the broker should gather before answering.
    pub min_bytes: i32,
    /// Most bytes of the whole answer.
    pub max_bytes: i32,
    /// Most bytes per partition.
    pub partition_max_bytes: i32,
    /// Most bytes one compressed batch may inflate to.
    pub max_inflated: usize,
}

/// Where to read one partition from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPosition {
    /// The partition.
    pub partition: TopicPartition,
    /// The first offset wanted.
    pub offset: i64,
}

/// What one partition's part of the answer held.
#[derive(Debug)]
pub struct FetchedRecords {
    /// The decoded data batches, as decoded (records are moved out once, by
    /// [`FetchedRecords::into_records`]).
    batches: Vec<RecordSet>,
    /// The offset asked for.
    first_offset: i64,
    /// The offset to ask for next (past skipped control records too).
    pub next_offset: i64,
    /// The partition's high watermark.
    pub high_watermark: i64,
}

impl FetchedRecords {
    /// The data records from the asked offset on, in offset order. A
    /// compressed batch comes whole, so it may start before that offset.
    pub fn into_records(self) -> Records {
        Records {
            batches: self.batches.into_iter(),
            current: Vec::new(),
            next: 0,
            first_offset: self.first_offset,
        }
    }
}

/// The records of one partition's part of a fetch answer, lent one at a
/// time as the application takes them: what a consumer's queue holds for
/// the partition until then. A record is lent in place, not moved out (it
/// is a few hundred bytes, and the taker wants only some of its fields).
#[derive(Debug, Default)]
pub struct Records {
    batches: std::vec::IntoIter<RecordSet>,
    /// The batch being taken from; records before `next` were lent already.
    current: Vec<Record>,
    next: usize,
    first_offset: i64,
}

impl Records {
    /// True when no record from the asked offset on is left.
    pub fn is_empty(&self) -> bool {
        let first_offset = self.first_offset;
        !self.current[self.next..]
            .iter()
            .chain(self.batches.as_slice().iter().flat_map(|batch| &batch.records))
            .any(|record| record.offset >= first_offset)
    }

    /// The memory the records hold: each record, its key, value and
    /// headers (a compressed batch's records are slices of its inflated
    /// form, a plain batch's of the answer). What a consumer's queue counts
    /// against `queued_max_messages_kbytes`.
    pub fn held_bytes(&self) -> usize {
        self.current[self.next..]
            .iter()
            .chain(self.batches.as_slice().iter().flat_map(|batch| &batch.records))
            .map(|record| {
                let headers: usize = record
                    .headers
                    .iter()
                    .map(|(name, value)| name.len() + value.as_ref().map_or(0, |v| v.len()))
                    .sum();
                std::mem::size_of::<Record>()
                    + record.key.as_ref().map_or(0, |k| k.len())
                    + record.value.as_ref().map_or(0, |v| v.len())
                    + headers
            })
            .sum()
    }

    /// The next record from the asked offset on, for the caller to take
    /// its fields from; `None` when none is left.
    pub fn next_record(&mut self) -> Option<&mut Record> {
        loop {
            match self.current.get(self.next) {
                Some(record) => {
                    self.next += 1;
                    if record.offset >= self.first_offset {
                        return self.current.get_mut(self.next - 1);
                    }
                }
                None => {
                    self.current = self.batches.next()?.records;
                    self.next = 0;
                }
            }
        }
    }
}

/// One partition's part of a fetch answer.
#[derive(Debug)]
pub struct FetchedPartition {
    /// The partition, as asked.
    pub partition: TopicPartition,
    /// Its records, or the error the broker (or decoding) gave for it.
    pub result: Result<FetchedRecords>,
}

impl KafkaCluster {
    /// Fetches `positions` (partitions led by broker `node_id`) in one
    /// request. Errors of the whole request (connection, timeout, a
    /// response that does not decode) fail the call; errors of single
    /// partitions come back in their [`FetchedPartition`].
    pub async fn fetch_from(
        &self,
        node_id: i32,
        positions: &[FetchPosition],
        limits: &FetchLimits,
    ) -> Result<Vec<FetchedPartition>> {
        // The broker may hold the request for max_wait before answering.
        let deadline = std::time::Instant::now() + self.options().request_timeout + limits.max_wait;
        let connection = self.broker_connection(node_id, deadline).await?;
        let (response, _) = connection.send(&fetch_request(positions, limits)).await?;
        read_fetch_response(response, positions, limits.max_inflated, node_id)
    }
}

fn fetch_request(positions: &[FetchPosition], limits: &FetchLimits) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for position in positions {
        let partition = FetchPartition::default()
            .with_partition(position.partition.partition)
            .with_fetch_offset(position.offset)
            .with_partition_max_bytes(limits.partition_max_bytes);
        // Consecutive positions of one topic share its entry; the caller's
        // order (which decides who gets the bytes first) is kept.
        let topic = position.partition.topic.as_str();
        match topics.last_mut() {
            Some(last) if last.topic.0.as_str() == topic => last.partitions.push(partition),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchRequest::default()
        .with_max_wait_ms(i32::try_from(limits.max_wait.as_millis()).unwrap_or(i32::MAX))
        .with_min_bytes(limits.min_bytes)
        .with_max_bytes(limits.max_bytes)
        .with_topics(topics)
}

fn read_fetch_response(
    response: FetchResponse,
    positions: &[FetchPosition],
    max_inflated: usize,
    node_id: i32,
) -> Result<Vec<FetchedPartition>> {
    if response.error_code != 0 {
        return Err(Error::from_kafka(
            response.error_code,
            format!("Fetch from broker {node_id}"),
        ));
    }
    let mut fetched = Vec::with_capacity(positions.len());
    for topic in response.responses {
        let name: &str = &topic.topic.0;
        for answer in topic.partitions {
            let Some(asked) = positions
                .iter()
                .find(|p| p.partition.partition == answer.partition_index && p.partition.topic.as_str() == name)
            else {
                continue;
            };
            let result = if answer.error_code != 0 {
                Err(Error::from_kafka(
                    answer.error_code,
                    format!("Fetch {} at offset {}", asked.partition, asked.offset),
                ))
            } else {
                read_records(answer.records, asked.offset, answer.high_watermark, max_inflated)
                    .map_err(|e| e.context(format!("Fetch {} at offset {}", asked.partition, asked.offset)))
            };
            fetched.push(FetchedPartition {
                partition: asked.partition.clone(),
                result,
            });
        }
    }
    if fetched.len() != positions.len() {
        return Err(Error::new(
            ErrorCode::Protocol,
            format!(
                "Fetch from broker {node_id}: answered {} of {} partitions",
                fetched.len(),
                positions.len()
            ),
        ));
    }
    Ok(fetched)
}

fn read_records(data: Option<Bytes>, offset: i64, high_watermark: i64, max_inflated: usize) -> Result<FetchedRecords> {
    let data = data.unwrap_or_default();
    let next_offset = next_offset_after(&data).map_or(offset, |next| next.max(offset));
    Ok(FetchedRecords {
        batches: decode_data_batches(data, max_inflated)?,
        first_offset: offset,
        next_offset,
        high_watermark,
    })
}
