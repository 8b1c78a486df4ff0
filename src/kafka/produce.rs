//! Produce requests: writing one record batch to each of several partitions
//! led by one broker, in one round trip.
//!
//! Owns the request layout (one entry per topic, one encoded record batch
//! per partition, the acks asked for and the broker's wait for them) and
//! the reading of the answer: each partition's base offset, or its error,
//! kept apart so that one refused partition does not fail the others. What
//! to do about an error (retry, new producer id, report) is the caller's
//! business.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use crate::error::{Error, ErrorCode, Result};
use crate::kafka::topic_name;
use crate::topic_partition::TopicPartition;

/// What one partition's part of a Produce request holds.
#[derive(Debug)]
pub struct ProducePartition<'a> {
    /// The partition.
    pub partition: &'a TopicPartition,
    /// Its record batch, encoded (docs/protocol-notes.md: one per partition).
    pub records: Bytes,
}

/// A Produce request for `partitions`, acknowledged as `acks` says (0:
/// no answer, 1: the leader, −1: every in-sync replica) within `ack_timeout`.
pub fn produce_request<'a>(
    partitions: impl IntoIterator<Item = ProducePartition<'a>>,
    acks: i16,
    ack_timeout: Duration,
) -> ProduceRequest {
    let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for ProducePartition { partition, records } in partitions {
        topics.entry(partition.topic.as_str()).or_default().push(
            PartitionProduceData::default()
                .with_index(partition.partition)
                .with_records(Some(records)),
        );
    }
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(acks)
        .with_timeout_ms(i32::try_from(ack_timeout.as_millis()).unwrap_or(i32::MAX))
        .with_topic_data(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicProduceData::default()
                        .with_name(topic_name(topic))
                        .with_partition_data(partitions)
                })
                .collect(),
        )
}

/// Takes the encoded record batches back out of `request` (the frame
/// refers to them until it is written).
pub fn take_records(request: &mut ProduceRequest) -> impl Iterator<Item = Bytes> + '_ {
    request
        .topic_data
        .iter_mut()
        .flat_map(|topic| topic.partition_data.iter_mut())
        .filter_map(|partition| partition.records.take())
}

/// What the broker answered for each of `asked`, in the order asked: the
/// base offset the partition's batch was stored at, or the error. A batch
/// the broker already had (DUPLICATE_SEQUENCE_NUMBER, a retry of a stored
/// batch) is stored at an unknown offset, −1.
pub fn read_produce_response(response: &ProduceResponse, asked: &[&TopicPartition]) -> Vec<Result<i64>> {
    asked
        .iter()
        .map(|partition| partition_outcome(response, partition))
        .collect()
}

fn partition_outcome(response: &ProduceResponse, partition: &TopicPartition) -> Result<i64> {
    let topic = partition.topic.as_str();
    let answer = response
        .responses
        .iter()
        .filter(|t| &*t.name.0 == topic)
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition.partition)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::Protocol,
                format!("no answer for {partition} in the Produce response"),
            )
        })?;
    match ResponseError::try_from_code(answer.error_code) {
        None => Ok(answer.base_offset),
        Some(ResponseError::DuplicateSequenceNumber) => Ok(-1),
        Some(_) => {
            let mut error = Error::from_kafka(answer.error_code, format!("Produce to {partition}"));
            if let Some(text) = answer.error_message.as_ref().filter(|t| !t.is_empty()) {
                error = error.context(text.as_str());
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_partition::Topic;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::protocol::StrBytes;

    fn partition(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(Topic::new(topic).unwrap(), partition)
    }

    fn answer(index: i32, error_code: i16, base_offset: i64) -> PartitionProduceResponse {
        PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(error_code)
            .with_base_offset(base_offset)
    }

    #[test]
    fn a_request_has_one_entry_per_topic_and_one_batch_per_partition() {
        let (a0, a1, b0) = (partition("a", 0), partition("a", 1), partition("b", 0));
        let mut request = produce_request(
            [&b0, &a0, &a1].map(|partition| ProducePartition {
                partition,
                records: Bytes::from_static(b"batch"),
            }),
            -1,
            Duration::from_secs(5),
        );
        assert_eq!((request.acks, request.timeout_ms), (-1, 5000));
        let layout: Vec<(&str, Vec<i32>)> = request
            .topic_data
            .iter()
            .map(|t| (&*t.name.0, t.partition_data.iter().map(|p| p.index).collect()))
            .collect();
        assert_eq!(layout, [("a", vec![0, 1]), ("b", vec![0])]);
        assert_eq!(take_records(&mut request).count(), 3);
        assert_eq!(take_records(&mut request).count(), 0, "the batches were taken out");
    }

    #[test]
    fn a_framed_request_refers_to_its_batches_and_encodes_the_same_bytes() {
        use crate::kafka::frame::{FrameWriter, FramedBatch};
        use kafka_protocol::protocol::Encodable;
        let (a0, a1) = (partition("a", 0), partition("a", 1));
        let batches = [Bytes::from(vec![1; 3000]), Bytes::from(vec![2; 70])];
        let request = produce_request(
            [(&a0, &batches[0]), (&a1, &batches[1])].map(|(partition, records)| ProducePartition {
                partition,
                records: records.clone(),
            }),
            1,
            Duration::from_secs(5),
        );
        // v7 writes batches as bytes, v9 as compact bytes.
        for version in [7, 9] {
            let mut copied = bytes::BytesMut::new();
            request.encode(&mut copied, version).unwrap();
            let mut writer = FrameWriter::new(
                bytes::BytesMut::new(),
                batches.iter().cloned().map(FramedBatch::whole).collect(),
            );
            request.encode(&mut writer, version).unwrap();
            let (frame, _) = writer.finish();
            assert_eq!(frame.len(), copied.len(), "v{version}");
            assert_eq!(frame.referenced_batches(), 2, "v{version}");
            let mut written = Vec::new();
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(frame.write_to(&mut written))
                .unwrap();
            assert_eq!(written, copied, "v{version}");
        }
    }

    #[test]
    fn each_partition_gets_its_offset_or_its_own_error() {
        let (stored, refused, repeated, unanswered) = (
            partition("t", 0),
            partition("t", 1),
            partition("t", 2),
            partition("t", 3),
        );
        let response = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_name(topic_name("t"))
            .with_partition_responses(vec![
                answer(0, 0, 42),
                answer(1, ResponseError::NotLeaderOrFollower.code(), -1)
                    .with_error_message(Some(StrBytes::from_static_str("moved"))),
                answer(2, ResponseError::DuplicateSequenceNumber.code(), -1),
            ])]);
        let outcomes = read_produce_response(&response, &[&stored, &refused, &repeated, &unanswered]);
        assert_eq!(outcomes[0].as_ref().ok(), Some(&42));
        let error = outcomes[1].as_ref().unwrap_err();
        assert_eq!(error.kafka_code(), Some(ResponseError::NotLeaderOrFollower.code()));
        assert!(error.to_string().contains("moved"), "{error}");
        assert_eq!(outcomes[2].as_ref().ok(), Some(&-1), "already stored");
        assert_eq!(outcomes[3].as_ref().unwrap_err().code(), ErrorCode::Protocol);
    }
}
