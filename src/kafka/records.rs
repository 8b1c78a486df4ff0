//! Record batches on the wire: the producer's records and batch headers,
//! written here as they are appended and sent (docs/protocol-notes.md,
//! "Record batches as they are appended"), with any of Kafka's codecs; and
//! decoding what brokers return, through `kafka-protocol`'s batch codec
//! with the codecs of [`crate::kafka::compression`] plugged into its
//! custom-compression hooks (it is built with none of its own).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

pub use kafka_protocol::records::{Record, RecordSet};

use crate::error::{Error, ErrorCode, Result};
use crate::kafka::compression::{compress, decompress, BatchCompression};

/// Parses a codec name as the configuration spells it.
pub fn compression_by_name(name: &str) -> Option<Compression> {
    match name {
        "none" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// The codec names [`compression_by_name`] accepts.
pub const COMPRESSION_NAMES: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

/// The fields of a record batch's header (format v2) that the producer
/// sets; the rest are fixed for a producer's batch: base offset 0 (the
/// broker assigns offsets), leader epoch −1, not transactional, not a
/// control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// How many records the batch holds.
    pub record_count: i32,
    /// The first record's timestamp: the base every record's delta counts from.
    pub first_timestamp: i64,
    /// The largest timestamp of the batch.
    pub max_timestamp: i64,
    /// Idempotence: the producer id, or −1.
    pub producer_id: i64,
    /// Idempotence: the producer epoch, or −1.
    pub producer_epoch: i16,
    /// Idempotence: the first record's sequence, or −1.
    pub base_sequence: i32,
}

/// One record as [`write_record`] lays it out.
#[derive(Debug, Clone, Copy)]
pub struct RecordParts<'a> {
    /// Milliseconds from the batch's first timestamp (negative when the
    /// clock or the caller went back).
    pub timestamp_delta: i64,
    /// Its position in the batch.
    pub offset_delta: i32,
    /// The key, or null.
    pub key: Option<&'a [u8]>,
    /// The value, or null.
    pub value: Option<&'a [u8]>,
    /// Name and value of each header, in order.
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
}

/// The most bytes a varint (zigzag, 7 bits a byte) of an `i64` takes.
const MAX_VARLONG_LENGTH: usize = 10;

/// Writes `value` zigzag-encoded as Kafka's varlong into `out`, returning
/// the bytes used (Kafka's varint is the same for an `i32`).
fn put_varlong(out: &mut [u8], value: i64) -> usize {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    let mut at = 0;
    while zigzag >= 0x80 {
        out[at] = zigzag as u8 | 0x80;
        zigzag >>= 7;
        at += 1;
    }
    out[at] = zigzag as u8;
    at + 1
}

fn varlong_length(value: i64) -> usize {
    let zigzag = ((value << 1) ^ (value >> 63)) as u64;
    (64 - (zigzag | 1).leading_zeros() as usize).div_ceil(7)
}

/// A part's length as the record writes it: −1 for null.
fn part_length(part: Option<&[u8]>) -> i64 {
    part.map_or(-1, |bytes| bytes.len() as i64)
}

/// Hands `record`, laid out as one record of a v2 record batch (length,
/// attributes, timestamp delta, offset delta, key, value, headers; Kafka's
/// protocol guide, "Record"), to `put` piece by piece: the small fields
/// together in a few pieces, keys, values and header parts each as given,
/// uncopied.
pub fn write_record(record: &RecordParts<'_>, mut put: impl FnMut(&[u8])) {
    let sized = |part: Option<&[u8]>| varlong_length(part_length(part)) + part.map_or(0, <[u8]>::len);
    let headers_length: usize = record
        .headers
        .iter()
        .map(|(name, value)| sized(Some(name.as_bytes())) + sized(*value))
        .sum();
    let body_length = 1
        + varlong_length(record.timestamp_delta)
        + varlong_length(record.offset_delta.into())
        + sized(record.key)
        + sized(record.value)
        + varlong_length(record.headers.len() as i64)
        + headers_length;
    // Length, attributes (none are defined for records), timestamp delta,
    // offset delta and key length, in one piece.
    let mut fields = [0u8; 4 * MAX_VARLONG_LENGTH + 1];
    let mut at = put_varlong(&mut fields, body_length as i64) + 1;
    at += put_varlong(&mut fields[at..], record.timestamp_delta);
    at += put_varlong(&mut fields[at..], record.offset_delta.into());
    at += put_varlong(&mut fields[at..], part_length(record.key));
    put(&fields[..at]);
    put_bytes(&mut put, record.key);
    put_part(&mut put, record.value);
    let at = put_varlong(&mut fields, record.headers.len() as i64);
    put(&fields[..at]);
    for (name, value) in record.headers {
        put_part(&mut put, Some(name.as_bytes()));
        put_part(&mut put, *value);
    }
}

/// Hands `part` to `put` as a record holds it: its length (−1 for null),
/// then its bytes.
fn put_part(put: &mut impl FnMut(&[u8]), part: Option<&[u8]>) {
    let mut length = [0u8; MAX_VARLONG_LENGTH];
    let at = put_varlong(&mut length, part_length(part));
    put(&length[..at]);
    put_bytes(put, part);
}

fn put_bytes(put: &mut impl FnMut(&[u8]), part: Option<&[u8]>) {
    if let Some(bytes) = part.filter(|bytes| !bytes.is_empty()) {
        put(bytes);
    }
}

/// Appends to `out` one record batch (format v2) of `records`, records
/// [`write_record`] laid out, in pieces that may cut a record anywhere:
/// the 61-byte header `header` describes, then the records compressed as
/// `codec` says straight from the pieces, or, with no codec, copied.
pub fn encode_batch(
    out: &mut BytesMut,
    records: &[Bytes],
    header: &BatchHeader,
    codec: BatchCompression,
) -> Result<()> {
    let start = out.len();
    put_batch_header(out, header, codec.compression);
    compress(records, out, codec).map_err(|e| {
        Error::new(
            ErrorCode::Protocol,
            format!("compressing a {:?} record batch: {e}", codec.compression),
        )
    })?;
    seal_batch_header(&mut out[start..], &[])
}

/// Appends to `out` the 61-byte header of a record batch whose records,
/// as `compression` left them (with `None`, records as for
/// [`encode_batch`]), are `records`, sent after it from where they are:
/// the header's length and CRC count them there.
pub fn batch_header(
    out: &mut BytesMut,
    records: &[Bytes],
    header: &BatchHeader,
    compression: Compression,
) -> Result<()> {
    let start = out.len();
    put_batch_header(out, header, compression);
    seal_batch_header(&mut out[start..], records)
}

/// Writes the header of a producer's batch, its length and CRC left 0.
fn put_batch_header(out: &mut BytesMut, header: &BatchHeader, compression: Compression) {
    out.reserve(BATCH_HEADER_LENGTH);
    // Base offset: the broker assigns offsets.
    out.put_i64(0);
    out.put_i32(0);
    // Partition leader epoch: a producer has none.
    out.put_i32(-1);
    // Magic: format v2.
    out.put_i8(2);
    out.put_u32(0);
    // Attributes: the codec, creation timestamps, not transactional, not control.
    out.put_i16(compression as i16);
    out.put_i32(header.record_count - 1);
    out.put_i64(header.first_timestamp);
    out.put_i64(header.max_timestamp);
    out.put_i64(header.producer_id);
    out.put_i16(header.producer_epoch);
    out.put_i32(header.base_sequence);
    out.put_i32(header.record_count);
}

/// Fills in the length and the CRC-32C (over everything from the
/// attributes on) of `batch`, a header and what follows it in the same
/// buffer, with `after` sent after that.
fn seal_batch_header(batch: &mut [u8], after: &[Bytes]) -> Result<()> {
    let length = batch.len() + after.iter().map(Bytes::len).sum::<usize>();
    let batch_length = i32::try_from(length - 12).map_err(|_| {
        Error::new(
            ErrorCode::Protocol,
            format!("a record batch of {length} bytes is too large to send"),
        )
    })?;
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = after
        .iter()
        .fold(crc32c::crc32c(&batch[ATTRIBUTES_AT..]), |crc, piece| {
            crc32c::crc32c_append(crc, piece)
        });
    batch[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Encodes `records` as record batches (format v2) compressed as `codec`
/// says, appending to `out`, with `kafka-protocol`'s encoder: the batches
/// the tests decode, built independently of [`encode_batch`].
pub fn encode_batches(out: &mut BytesMut, records: &[Record], codec: BatchCompression) -> Result<()> {
    let compression = codec.compression;
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    let compressor = move |records: &mut BytesMut, out: &mut BytesMut, _| compress(&[&records[..]], out, codec);
    RecordBatchEncoder::encode_with_custom_compression(out, records, &options, Some(compressor)).map_err(|e| {
        Error::new(
            ErrorCode::Protocol,
            format!("encoding a {compression:?} record batch: {e}"),
        )
    })
}

/// Decodes every record batch in `data`, decompressing up to
/// `max_inflated` bytes per batch; a truncated last batch (brokers cut
/// fetch responses at the size limit) is dropped, not an error. Control
/// batches (transaction markers) are left out unread: a consumer only needs
/// their offsets, which [`next_offset_after`] counts. Unread, their CRC is
/// not checked either, which matters because librdkafka's 2.16 mock writes
/// markers with CRC 0.
pub fn decode_data_batches(data: Bytes, max_inflated: usize) -> Result<Vec<RecordSet>> {
    complete_batches(data)
        .filter(|batch| {
            batch
                .as_ref()
                .map_or(true, |batch| attributes(batch) & CONTROL_BATCH == 0)
        })
        .map(|batch| decode_batch(batch?, max_inflated))
        .collect()
}

fn decode_batch(mut batch: Bytes, max_inflated: usize) -> Result<RecordSet> {
    check_record_count(&batch, max_inflated)?;
    let decompress = |input: &mut Bytes, compression: Compression| {
        let inflated = decompress(input, compression, max_inflated)?;
        input.advance(input.remaining());
        Ok(inflated)
    };
    RecordBatchDecoder::decode_with_custom_compression(&mut batch, Some(decompress))
        .map_err(|e| Error::new(ErrorCode::Protocol, format!("decoding a record batch: {e}")))
}

fn attributes(batch: &Bytes) -> i16 {
    i16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]])
}

/// The offset after the last record of the last complete batch in `data`
/// (what a consumer fetches next), counting records that decoding leaves
/// out of sight: control records, and records compaction removed from a
/// batch. `None` when `data` holds no complete batch.
pub fn next_offset_after(data: &Bytes) -> Option<i64> {
    complete_batches(data.clone())
        .map_while(Result::ok)
        .last()
        .map(|batch| {
            let base_offset = i64::from_be_bytes(batch[..8].try_into().expect("a batch header has 8 bytes here"));
            let last_offset_delta = i32::from_be_bytes(
                batch[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
                    .try_into()
                    .expect("a batch header has these 4 bytes"),
            );
            base_offset + i64::from(last_offset_delta) + 1
        })
}

/// The complete batches of `data`, each as its own slice; a truncated last
/// batch is left out. A batch whose length does not cover its own header
/// is an error, and ends the batches: what follows it cannot be found.
fn complete_batches(mut data: Bytes) -> impl Iterator<Item = Result<Bytes>> {
    std::iter::from_fn(move || {
        if data.remaining() < BATCH_HEADER_LENGTH {
            return None;
        }
        let batch_length = i32::from_be_bytes(data[8..12].try_into().expect("12 bytes are there"));
        let total = 12usize.saturating_add(usize::try_from(batch_length).unwrap_or(usize::MAX));
        if total < BATCH_HEADER_LENGTH {
            data.clear();
            return Some(Err(Error::new(
                ErrorCode::Protocol,
                format!("a record batch claims {batch_length} bytes, less than its header"),
            )));
        }
        (total <= data.remaining()).then(|| Ok(data.split_to(total)))
    })
}

/// Refuses a batch whose record count no batch of its size could hold: the
/// decoder reserves room for that many records before reading them. Every
/// record takes at least [`MIN_RECORD_LENGTH`] bytes, compressed batches
/// once inflated (at most `max_inflated`).
fn check_record_count(batch: &Bytes, max_inflated: usize) -> Result<()> {
    let count = i32::from_be_bytes(
        batch[RECORD_COUNT_AT..RECORD_COUNT_AT + 4]
            .try_into()
            .expect("a complete batch has a header"),
    );
    let compressed = attributes(batch) & COMPRESSION_CODEC != 0;
    let room = if compressed {
        max_inflated
    } else {
        batch.len() - BATCH_HEADER_LENGTH
    };
    if usize::try_from(count).is_ok_and(|count| count <= room / MIN_RECORD_LENGTH) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::Protocol,
            format!("a record batch of {} bytes claims {count} records", batch.len()),
        ))
    }
}

/// Base offset (8) + batch length (4) + the rest of the v2 header up to the records.
const BATCH_HEADER_LENGTH: usize = 61;
/// Where the v2 header keeps the CRC (after base offset, length, leader
/// epoch and magic).
const CRC_AT: usize = 17;
/// Where the v2 header keeps the attributes (after the CRC).
const ATTRIBUTES_AT: usize = 21;
/// The attribute bits naming the batch's codec.
const COMPRESSION_CODEC: i16 = 0x7;
/// The attribute bit of control batches.
const CONTROL_BATCH: i16 = 1 << 5;
/// Where the v2 header keeps the last offset delta.
const LAST_OFFSET_DELTA_AT: usize = 23;
/// Where the v2 header keeps the record count (its last field).
const RECORD_COUNT_AT: usize = 57;
/// The smallest record: length, attributes, timestamp delta, offset delta,
/// key length, value length and header count, one byte each.
const MIN_RECORD_LENGTH: usize = 7;

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{TimestampType, NO_SEQUENCE};

    /// Decodes every record batch in `data`, decompressing up to `max_inflated`
    /// bytes per batch. A truncated last batch (brokers cut fetch responses at
    /// the size limit) is dropped, not an error.
    fn decode_batches(data: Bytes, max_inflated: usize) -> Result<Vec<RecordSet>> {
        complete_batches(data)
            .map(|batch| decode_batch(batch?, max_inflated))
            .collect()
    }

    fn record(offset: i64, key: &str, value: &str) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            // One batch: the encoder splits wherever offset − sequence changes (docs/protocol-notes.md).
            sequence: NO_SEQUENCE + offset as i32,
            timestamp: 1_700_000_000_000 + offset,
            key: Some(Bytes::from(key.to_string())),
            value: Some(Bytes::from(value.repeat(50))),
            headers: Default::default(),
        }
    }

    #[test]
    fn every_codec_round_trips() {
        let records: Vec<Record> = (0..20).map(|i| record(i, &format!("k{i}"), "value ")).collect();
        for name in COMPRESSION_NAMES {
            let compression = compression_by_name(name).unwrap();
            let mut encoded = BytesMut::new();
            encode_batches(&mut encoded, &records, compression.into()).unwrap();
            let sets = decode_batches(encoded.freeze(), 1 << 20).unwrap();
            assert_eq!(sets.len(), 1, "{name}");
            assert_eq!(sets[0].compression, compression, "{name}");
            let values: Vec<_> = sets[0]
                .records
                .iter()
                .map(|r| (r.offset, r.key.clone(), r.value.clone()))
                .collect();
            let expected: Vec<_> = records
                .iter()
                .map(|r| (r.offset, r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(values, expected, "{name}");
        }
    }

    /// `records` laid out by [`write_record`], cut into pieces of at most
    /// `piece` bytes (a record may run across them), and their header.
    fn written(records: &[Record], piece: usize) -> (Vec<Bytes>, BatchHeader) {
        let first_timestamp = records[0].timestamp;
        let mut laid_out = BytesMut::new();
        for (delta, record) in records.iter().enumerate() {
            let headers: Vec<(&str, Option<&[u8]>)> = record
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_deref()))
                .collect();
            let parts = RecordParts {
                timestamp_delta: record.timestamp - first_timestamp,
                offset_delta: delta as i32,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers: &headers,
            };
            write_record(&parts, |bytes| laid_out.put_slice(bytes));
        }
        let pieces = laid_out.freeze();
        let pieces = (0..pieces.len())
            .step_by(piece)
            .map(|at| pieces.slice(at..pieces.len().min(at + piece)))
            .collect();
        let header = BatchHeader {
            record_count: records.len() as i32,
            first_timestamp,
            max_timestamp: records.iter().map(|record| record.timestamp).max().unwrap(),
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: NO_SEQUENCE,
        };
        (pieces, header)
    }

    #[test]
    fn a_batch_written_record_by_record_is_the_batch_kafka_protocol_encodes() {
        let mut records: Vec<Record> = (0..20).map(|i| record(i, &format!("k{i}"), "value ")).collect();
        records[3].key = None;
        records[4].value = None;
        records[5]
            .headers
            .insert(StrBytes::from_static_str("trace"), Some(Bytes::from_static(b"abc")));
        records[5].headers.insert(StrBytes::from_static_str("null"), None);
        records[6].timestamp = -1;
        for name in COMPRESSION_NAMES {
            let codec = compression_by_name(name).unwrap().into();
            for piece in [7, 100, 1 << 20] {
                let (pieces, header) = written(&records, piece);
                let mut encoded = BytesMut::new();
                encode_batch(&mut encoded, &pieces, &header, codec).unwrap();
                let sets = decode_batches(encoded.freeze(), 1 << 20).unwrap();
                assert_eq!(sets.len(), 1, "{name}");
                assert_eq!(sets[0].records, records, "{name}, pieces of {piece}");
            }
        }
        // kafka-protocol counts timestamps from the smallest, the producer
        // from the first: the same once record 6 is back in order.
        records[6].timestamp = records[5].timestamp;
        let mut expected = BytesMut::new();
        encode_batches(&mut expected, &records, Compression::None.into()).unwrap();
        let (pieces, header) = written(&records, 13);
        let mut encoded = BytesMut::new();
        encode_batch(&mut encoded, &pieces, &header, Compression::None.into()).unwrap();
        assert_eq!(encoded, expected, "byte for byte");
    }

    #[test]
    fn a_batch_after_a_larger_one_on_the_same_thread_holds_only_its_own_records() {
        let larger: Vec<Record> = (0..50).map(|i| record(i, "old", "earlier batch ")).collect();
        let smaller = [record(0, "new", "later")];
        for name in COMPRESSION_NAMES {
            let codec = compression_by_name(name).unwrap().into();
            let (pieces, header) = written(&larger, 1000);
            encode_batch(&mut BytesMut::new(), &pieces, &header, codec).unwrap();
            let (pieces, header) = written(&smaller, 1000);
            let mut encoded = BytesMut::new();
            encode_batch(&mut encoded, &pieces, &header, codec).unwrap();
            let sets = decode_batches(encoded.freeze(), 1 << 20).unwrap();
            let records: Vec<_> = sets.iter().flat_map(|set| &set.records).collect();
            assert_eq!(records.len(), 1, "{name}");
            assert_eq!(records[0].key, smaller[0].key, "{name}");
            assert_eq!(records[0].value, smaller[0].value, "{name}");
        }
    }

    #[test]
    fn a_batch_that_inflates_past_the_limit_is_refused() {
        let records: Vec<Record> = (0..200).map(|i| record(i, "k", "aaaaaaaa")).collect();
        for name in ["gzip", "snappy", "lz4", "zstd"] {
            let mut encoded = BytesMut::new();
            encode_batches(&mut encoded, &records, compression_by_name(name).unwrap().into()).unwrap();
            assert!(decode_batches(encoded.freeze(), 1000).is_err(), "{name}");
        }
    }

    #[test]
    fn the_next_offset_follows_the_last_complete_batch() {
        let mut encoded = BytesMut::new();
        encode_batches(
            &mut encoded,
            &[record(7, "a", "b"), record(8, "c", "d")],
            Compression::None.into(),
        )
        .unwrap();
        let first_batch = encoded.len();
        encode_batches(&mut encoded, &[record(9, "e", "f")], Compression::Gzip.into()).unwrap();
        let encoded = encoded.freeze();
        assert_eq!(next_offset_after(&encoded), Some(10));
        assert_eq!(next_offset_after(&encoded.slice(..encoded.len() - 1)), Some(9));
        assert_eq!(next_offset_after(&encoded.slice(..first_batch - 1)), None);
    }

    #[test]
    fn data_batches_leave_control_batches_unread() {
        let mut encoded = BytesMut::new();
        encode_batches(&mut encoded, &[record(0, "a", "b")], Compression::None.into()).unwrap();
        let control_at = encoded.len();
        let mut marker = record(1, "", "");
        marker.control = true;
        encode_batches(&mut encoded, &[marker], Compression::None.into()).unwrap();
        // A marker as librdkafka's 2.16 mock writes it: CRC 0.
        encoded[control_at + 17..control_at + 21].copy_from_slice(&[0; 4]);
        encode_batches(&mut encoded, &[record(2, "c", "d")], Compression::None.into()).unwrap();
        let encoded = encoded.freeze();
        assert!(
            decode_batches(encoded.clone(), 1 << 20).is_err(),
            "the CRC is checked when read"
        );
        let sets = decode_data_batches(encoded.clone(), 1 << 20).unwrap();
        let offsets: Vec<i64> = sets.iter().flat_map(|s| s.records.iter().map(|r| r.offset)).collect();
        assert_eq!(offsets, [0, 2]);
        assert_eq!(next_offset_after(&encoded), Some(3));
    }

    #[test]
    fn a_batch_claiming_more_records_than_it_can_hold_is_refused() {
        let mut encoded = BytesMut::new();
        encode_batches(&mut encoded, &[record(0, "a", "b")], Compression::None.into()).unwrap();
        // The CRC covers the count, so a broker would have to mean it: the
        // check must come before the decoder reserves room for the records.
        encoded[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let error = decode_batches(encoded.freeze(), 1 << 20).unwrap_err();
        assert!(error.message().contains("claims"), "{error}");
    }

    #[test]
    fn a_truncated_last_batch_is_dropped() {
        let mut encoded = BytesMut::new();
        encode_batches(&mut encoded, &[record(0, "a", "b")], Compression::None.into()).unwrap();
        encode_batches(&mut encoded, &[record(1, "c", "d")], Compression::None.into()).unwrap();
        let cut = encoded.len() - 5;
        let sets = decode_batches(encoded.freeze().slice(..cut), 1 << 20).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].records[0].offset, 0);
    }
}
