//! Hostile bytes against every decoder the engine feeds from a socket, and
//! against the configuration, topology and pattern parsers
//! (docs/protocol-notes.md, "Hostile bytes").
//!
//! Each decoder starts from valid responses built with kafka-protocol's own
//! types at every version the engine may negotiate, then gets them
//! truncated at every length, with a huge length claim written at every
//! offset, and bit-flipped at random (deterministic seed). Every case goes
//! through the function the engine decodes with and must return an error
//! or a value: a panic is counted and fails the test, and an allocation
//! above [`ALLOCATION_LIMIT`] aborts the binary with its size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{Compression, Record, TimestampType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yelp_kafka::config::{ClientOptions, ClusterConfig, Config, CLIENT_OPTIONS};
use yelp_kafka::consumer::{ConsumerConfig, CONSUMER_OPTIONS};
use yelp_kafka::discovery::{python_match_regex, Topology};
use yelp_kafka::producer::{ProducerOptions, PRODUCER_OPTIONS};
use yelp_kafka::test_support::{decode_data_batches, decode_response, encode_batches, next_offset_after, KafkaRequest};
use yelp_kafka::ErrorCode;

/// No case may ask for more at once. Inputs are a few kilobytes and
/// batches inflate to at most [`MAX_INFLATED`], so this is far above any
/// honest allocation and far below the claims the cases write (2 and 4 GiB).
const ALLOCATION_LIMIT: usize = 64 << 20;
/// The inflation bound the cases decode record batches with.
const MAX_INFLATED: usize = 1 << 20;
/// When a test stops starting cases, whatever their count (the count is
/// printed): a slow machine runs fewer cases, never fails for it.
const TIME_LIMIT: Duration = Duration::from_secs(20);

static LARGEST_ALLOCATION: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, refusing any allocation above [`ALLOCATION_LIMIT`]:
/// the standard library then aborts, naming the size.
struct BoundedAllocator;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; a refusal returns null, which the contract allows.
unsafe impl GlobalAlloc for BoundedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout is passed on as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout is passed on as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !admit(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` was allocated by `System` with `layout` (every
        // allocation of this allocator is), passed on as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn admit(size: usize) -> bool {
    LARGEST_ALLOCATION.fetch_max(size, Ordering::Relaxed);
    size <= ALLOCATION_LIMIT
}

#[global_allocator]
static ALLOCATOR: BoundedAllocator = BoundedAllocator;

/// Length claims written over the input: an i32 of 2 GiB − 1 (array
/// counts, byte lengths), an unsigned varint of 4 GiB − 1 (compact
/// counts), a zigzag varint of 2 GiB − 1 (record lengths and header
/// counts) and an i16 of 32 KiB − 1 (string lengths).
const CLAIMS: &[&[u8]] = &[
    &[0x7f, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xfe, 0xff, 0xff, 0xff, 0x0f],
    &[0x7f, 0xff],
];

/// A valid input and the engine's decoding of it.
struct Sample {
    name: String,
    bytes: Vec<u8>,
    decode: Box<dyn Fn(Bytes) -> Result<(), yelp_kafka::Error>>,
}

#[derive(Default, Debug)]
struct Counts {
    cases: usize,
    decoded: usize,
    errors: usize,
    panics: usize,
}

/// Prints a parser run's counts; no case may have panicked.
fn report_parser_cases(what: &str, started: Instant, counts: &Counts) {
    println!(
        "{what}: {} cases in {:.1?} ({} ok, {} errors, {} panics)",
        counts.cases,
        started.elapsed(),
        counts.decoded,
        counts.errors,
        counts.panics
    );
    assert_eq!(counts.panics, 0, "{what}: {counts:?}");
}

/// Runs `case` on `input`, counting its outcome; a panic is counted and reported.
fn run_case(sample: &Sample, input: Vec<u8>, counts: &mut Counts) {
    counts.cases += 1;
    match catch_unwind(AssertUnwindSafe(|| (sample.decode)(Bytes::from(input)))) {
        Ok(Ok(())) => counts.decoded += 1,
        Ok(Err(_)) => counts.errors += 1,
        Err(_) => {
            counts.panics += 1;
            eprintln!("{}: a case panicked", sample.name);
        }
    }
}

/// Every truncation and every claim at every offset of every sample, then
/// random bit flips and byte changes until `cases` or [`TIME_LIMIT`].
/// `fix` runs after each mutation (it restores a record batch's CRC, as a
/// hostile broker would send it).
fn mutate_all(what: &str, samples: &[Sample], cases: usize, seed: u64, fix: impl Fn(&mut Vec<u8>)) -> Counts {
    let started = Instant::now();
    let mut counts = Counts::default();
    for sample in samples {
        assert!(
            (sample.decode)(Bytes::from(sample.bytes.clone())).is_ok(),
            "{}: the valid sample must decode",
            sample.name
        );
        for length in 0..sample.bytes.len() {
            run_case(sample, sample.bytes[..length].to_vec(), &mut counts);
        }
        for at in 0..sample.bytes.len() {
            for claim in CLAIMS {
                let mut input = sample.bytes.clone();
                let end = (at + claim.len()).min(input.len());
                input[at..end].copy_from_slice(&claim[..end - at]);
                fix(&mut input);
                run_case(sample, input, &mut counts);
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    while counts.cases < cases && started.elapsed() < TIME_LIMIT {
        let sample = &samples[rng.random_range(0..samples.len())];
        let mut input = sample.bytes.clone();
        for _ in 0..rng.random_range(1..=4) {
            let at = rng.random_range(0..input.len());
            if rng.random_bool(0.5) {
                input[at] ^= 1 << rng.random_range(0..8);
            } else {
                input[at] = rng.random();
            }
        }
        if rng.random_bool(0.2) {
            input.truncate(rng.random_range(0..=input.len()));
        }
        fix(&mut input);
        run_case(sample, input, &mut counts);
    }
    println!(
        "{what}: {} cases in {:.1?} ({} decoded, {} errors, {} panics), seed {seed}, largest allocation {} bytes",
        counts.cases,
        started.elapsed(),
        counts.decoded,
        counts.errors,
        counts.panics,
        LARGEST_ALLOCATION.load(Ordering::Relaxed)
    );
    assert_eq!(counts.panics, 0, "{what}: {counts:?}");
    counts
}

fn record(offset: i64, headers: usize) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1 + offset as i32,
        timestamp: 1_700_000_000_000 + offset,
        key: Some(Bytes::from(format!("key-{offset}"))),
        value: Some(Bytes::from(format!("value {offset} ").repeat(3))),
        headers: (0..headers)
            .map(|h| (StrBytes::from_string(format!("h{h}")), Some(Bytes::from_static(b"v"))))
            .collect(),
    }
}

fn batch(compression: Compression, first_offset: i64, count: i64) -> Vec<u8> {
    let records: Vec<Record> = (first_offset..first_offset + count).map(|o| record(o, 2)).collect();
    let mut out = BytesMut::new();
    encode_batches(&mut out, &records, compression.into()).unwrap();
    out.to_vec()
}

/// What the engine does with a partition's records in a Fetch answer
/// (`read_records` in src/kafka/fetch.rs).
fn read_records(data: Bytes) -> Result<(), yelp_kafka::Error> {
    next_offset_after(&data);
    decode_data_batches(data, MAX_INFLATED).map(|_| ())
}

/// CRC-32C (Castagnoli), which a v2 record batch carries over its bytes
/// from the attributes on.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Where a v2 batch header keeps its CRC, and where the bytes it covers start.
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;

/// Restores the CRC of the first batch in `input`, as far as it is there.
fn fix_crc(input: &mut [u8]) {
    if input.len() <= ATTRIBUTES_AT {
        return;
    }
    let length = i32::from_be_bytes(input[8..12].try_into().unwrap());
    let end = usize::try_from(length).map_or(input.len(), |l| (12 + l).min(input.len()));
    if end > ATTRIBUTES_AT {
        let crc = crc32c(&input[ATTRIBUTES_AT..end]);
        input[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
    }
}

fn codec_samples() -> Vec<Sample> {
    [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .map(|compression| Sample {
        name: format!("{compression:?} record batch"),
        bytes: batch(compression, 0, 4),
        decode: Box::new(read_records),
    })
    .collect()
}

#[test]
fn record_batches_of_every_codec_survive_mutation() {
    let samples = codec_samples();
    // Inflating mutated batches is the slow part: fewer cases than for
    // responses, most of them with a valid CRC so that they reach the codecs.
    let with_crc = mutate_all("record batches, CRC restored", &samples, 20_000, 12, |input| {
        fix_crc(input)
    });
    let without = mutate_all("record batches, CRC as mutated", &samples, 10_000, 13, |_| ());
    assert!(with_crc.decoded > 0 && without.errors > 0);
}

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn encoded(message: &impl Encodable, version: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    message.encode(&mut out, version).unwrap();
    out.to_vec()
}

/// Samples of `R`'s response at every version the engine may negotiate
/// (the crate's range, Produce and Fetch below their topic-id versions:
/// docs/protocol-notes.md), decoded as the engine decodes them.
fn samples_of<R: KafkaRequest + 'static>(
    response: impl Fn(i16) -> R::Response,
    then: fn(R::Response) -> Result<(), yelp_kafka::Error>,
) -> Vec<Sample>
where
    R::Response: Encodable,
{
    let range = R::supported_versions();
    let max = if matches!(
        R::KEY,
        kafka_protocol::messages::ApiKey::Produce | kafka_protocol::messages::ApiKey::Fetch
    ) {
        range.max.min(12)
    } else {
        range.max
    };
    (range.min..=max)
        .map(|version| Sample {
            name: format!("{:?} v{version}", R::KEY),
            bytes: encoded(&response(version), version),
            decode: Box::new(move |body| decode_response::<R>(body, version).and_then(then)),
        })
        .collect()
}

fn nothing_more<T>(_: T) -> Result<(), yelp_kafka::Error> {
    Ok(())
}

fn fetch_records(response: FetchResponse) -> Result<(), yelp_kafka::Error> {
    for partition in response.responses.into_iter().flat_map(|t| t.partitions) {
        read_records(partition.records.unwrap_or_default())?;
    }
    Ok(())
}

fn response_samples() -> Vec<Sample> {
    let mut samples = Vec::new();
    samples.extend(samples_of::<ApiVersionsRequest>(
        |_| {
            ApiVersionsResponse::default().with_api_keys(
                [(0, 3, 9), (1, 4, 12), (18, 0, 4)]
                    .map(|(key, min, max)| {
                        ApiVersion::default()
                            .with_api_key(key)
                            .with_min_version(min)
                            .with_max_version(max)
                    })
                    .to_vec(),
            )
        },
        nothing_more,
    ));
    samples.extend(samples_of::<MetadataRequest>(
        |_| {
            MetadataResponse::default()
                .with_brokers(
                    (1..=3)
                        .map(|id| {
                            MetadataResponseBroker::default()
                                .with_node_id(BrokerId(id))
                                .with_host(StrBytes::from_string(format!("broker-{id}.example")))
                                .with_port(9092)
                        })
                        .collect(),
                )
                .with_topics(vec![MetadataResponseTopic::default()
                    .with_name(Some(topic("orders")))
                    .with_partitions(
                        (0..3)
                            .map(|p| {
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(BrokerId(p + 1))
                                    .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                                    .with_isr_nodes(vec![BrokerId(1)])
                            })
                            .collect(),
                    )])
        },
        nothing_more,
    ));
    let mut records = batch(Compression::None, 0, 2);
    records.extend(batch(Compression::Gzip, 2, 2));
    let records = Bytes::from(records);
    samples.extend(samples_of::<FetchRequest>(
        move |_| {
            FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                .with_topic(topic("orders"))
                .with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(4)
                        .with_records(Some(records.clone())),
                    PartitionData::default().with_partition_index(1).with_error_code(6),
                ])])
        },
        fetch_records,
    ));
    samples.extend(samples_of::<ProduceRequest>(
        |_| {
            ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
                .with_name(topic("orders"))
                .with_partition_responses(vec![
                    PartitionProduceResponse::default().with_index(0).with_base_offset(42),
                    PartitionProduceResponse::default().with_index(1).with_error_code(6),
                ])])
        },
        nothing_more,
    ));
    samples.extend(samples_of::<ListOffsetsRequest>(
        |_| {
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name(topic("orders"))
                .with_partitions(
                    (0..2)
                        .map(|p| {
                            ListOffsetsPartitionResponse::default()
                                .with_partition_index(p)
                                .with_offset(1000 + i64::from(p))
                                .with_timestamp(-1)
                        })
                        .collect(),
                )])
        },
        nothing_more,
    ));
    samples.extend(samples_of::<OffsetFetchRequest>(
        |version| {
            let metadata = Some(StrBytes::from_static_str("meta"));
            if version >= 8 {
                OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("group")))
                    .with_topics(vec![OffsetFetchResponseTopics::default()
                        .with_name(topic("orders"))
                        .with_partitions(vec![OffsetFetchResponsePartitions::default()
                            .with_partition_index(0)
                            .with_committed_offset(7)
                            .with_metadata(metadata)])])])
            } else {
                OffsetFetchResponse::default().with_topics(vec![OffsetFetchResponseTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![OffsetFetchResponsePartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(7)
                        .with_metadata(metadata)])])
            }
        },
        nothing_more,
    ));
    samples.extend(samples_of::<OffsetCommitRequest>(
        |_| {
            OffsetCommitResponse::default().with_topics(vec![OffsetCommitResponseTopic::default()
                .with_name(topic("orders"))
                .with_partitions(
                    (0..2)
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(p as i16 * 16)
                        })
                        .collect(),
                )])
        },
        nothing_more,
    ));
    samples.extend(samples_of::<FindCoordinatorRequest>(
        |version| {
            if version >= 4 {
                FindCoordinatorResponse::default().with_coordinators(vec![Coordinator::default()
                    .with_key(StrBytes::from_static_str("group"))
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("broker-2.example"))
                    .with_port(9092)])
            } else {
                FindCoordinatorResponse::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("broker-2.example"))
                    .with_port(9092)
            }
        },
        nothing_more,
    ));
    samples.extend(samples_of::<InitProducerIdRequest>(
        |_| {
            InitProducerIdResponse::default()
                .with_producer_id(kafka_protocol::messages::ProducerId(4711))
                .with_producer_epoch(3)
        },
        nothing_more,
    ));
    samples
}

#[test]
fn every_response_the_engine_decodes_survives_mutation() {
    let samples = response_samples();
    let counts = mutate_all("responses", &samples, 100_000, 12, |_| ());
    println!("responses: {} samples (API and version)", samples.len());
    assert!(counts.decoded > 0 && counts.errors > 0);
}

/// A Metadata v0 body that claims 2 GiB − 1 brokers in 8 bytes: the codec
/// used to reserve room for all of them before reading one (an abort, not
/// an error); the vendored kafka-protocol refuses the count first
/// (docs/dependencies.md).
#[test]
fn an_array_claiming_two_gib_of_elements_is_refused_before_allocating() {
    let body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
    let error = decode_response::<MetadataRequest>(body, 0).unwrap_err();
    assert_eq!(error.code(), ErrorCode::Protocol);
    assert!(error.to_string().contains("exceeds"), "{error}");
    // Metadata v9 counts its brokers with a compact (varint) length.
    let body = Bytes::from_static(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
    let error = decode_response::<MetadataRequest>(body, 9).unwrap_err();
    assert!(error.to_string().contains("exceeds"), "{error}");
    assert!(LARGEST_ALLOCATION.load(Ordering::Relaxed) <= ALLOCATION_LIMIT);
}

/// `batch` with its records replaced by `payload`, marked with `codec` and
/// its length and CRC made to match, as a hostile broker could send it.
fn rebuilt_batch(payload: &[u8], codec: i16) -> Bytes {
    let mut bytes = batch(Compression::None, 0, 1)[..61].to_vec();
    bytes.extend_from_slice(payload);
    let length = i32::try_from(bytes.len() - 12).unwrap();
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&codec.to_be_bytes());
    fix_crc(&mut bytes);
    Bytes::from(bytes)
}

/// A raw snappy block states its inflated length up front and the codec
/// allocates that much before inflating: five bytes claimed 4 GiB.
#[test]
fn a_snappy_block_claiming_four_gib_is_refused_before_inflating() {
    const SNAPPY: i16 = 2;
    let raw = rebuilt_batch(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0], SNAPPY);
    let error = decode_data_batches(raw, MAX_INFLATED).unwrap_err();
    assert!(error.to_string().contains("inflates past"), "{error}");
    let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x06".to_vec();
    framed.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
    let error = decode_data_batches(rebuilt_batch(&framed, SNAPPY), MAX_INFLATED).unwrap_err();
    assert!(error.to_string().contains("inflates past"), "{error}");
    assert!(LARGEST_ALLOCATION.load(Ordering::Relaxed) <= ALLOCATION_LIMIT);
}

/// A record claiming 2 GiB − 1 headers: the codec reserved a map entry for
/// each before reading one.
#[test]
fn a_record_claiming_two_gib_of_headers_is_refused_before_allocating() {
    let mut records = BytesMut::new();
    encode_batches(&mut records, &[record(0, 0)], Compression::None.into()).unwrap();
    // The record's last byte is its header count, 0.
    let mut payload = records[61..records.len() - 1].to_vec();
    payload.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]);
    payload[0] += 4; // the record's length (a zigzag varint) grows by the 4 extra bytes
    assert!(decode_data_batches(rebuilt_batch(&payload, 0), MAX_INFLATED).is_err());
    assert!(LARGEST_ALLOCATION.load(Ordering::Relaxed) <= ALLOCATION_LIMIT);
}

/// A batch whose length field does not even cover its header used to be
/// sliced short and then read past its end (a panic).
#[test]
fn a_batch_shorter_than_its_header_is_an_error() {
    let mut bytes = batch(Compression::None, 0, 1);
    bytes[8..12].copy_from_slice(&0i32.to_be_bytes());
    let data = Bytes::from(bytes);
    let error = decode_data_batches(data.clone(), MAX_INFLATED).unwrap_err();
    assert_eq!(error.code(), ErrorCode::Protocol);
    assert_eq!(next_offset_after(&data), None);
}

// ---- Configuration, topology and patterns -------------------------------

/// Mutates `text` by a few random character edits.
fn mutate_text(rng: &mut StdRng, text: &str) -> String {
    const ALPHABET: &[char] = &[
        'a',
        'Z',
        '0',
        '9',
        '-',
        ':',
        ',',
        '/',
        ' ',
        '\t',
        '\n',
        '.',
        '[',
        ']',
        '{',
        '}',
        '(',
        ')',
        '*',
        '+',
        '?',
        '\\',
        '|',
        '^',
        '$',
        '"',
        '\'',
        '#',
        '&',
        '!',
        '%',
        '@',
        '\u{0}',
        '\u{e9}',
        '\u{1f600}',
    ];
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=chars.len());
        match rng.random_range(0..4) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 if at < chars.len() => chars[at] = ALPHABET[rng.random_range(0..ALPHABET.len())],
            2 => {
                let digits = ["99999999999999999999", "-1", "0", "2147483648", "1e9"];
                chars.splice(at..at, digits[rng.random_range(0..digits.len())].chars());
            }
            _ => chars.insert(at, ALPHABET[rng.random_range(0..ALPHABET.len())]),
        }
    }
    chars.into_iter().collect()
}

/// Counts an outcome of a parser: Ok, or an error with a configuration code.
fn settle<T>(what: &str, input: &str, result: std::thread::Result<Result<T, yelp_kafka::Error>>, counts: &mut Counts) {
    counts.cases += 1;
    match result {
        Ok(Ok(_)) => counts.decoded += 1,
        Ok(Err(error)) => {
            assert!(
                matches!(error.code(), ErrorCode::Configuration | ErrorCode::InvalidArgument),
                "{what} {input:?}: {error}"
            );
            counts.errors += 1;
        }
        Err(_) => {
            counts.panics += 1;
            eprintln!("{what} {input:?}: panicked");
        }
    }
}

const PARSER_CASES: usize = 20_000;

#[test]
fn configuration_options_survive_mutation() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(12);
    let mut counts = Counts::default();
    let tables: [&[yelp_kafka::config::OptionSpec]; 3] = [CLIENT_OPTIONS, PRODUCER_OPTIONS, CONSUMER_OPTIONS];
    let specs: Vec<_> = tables.iter().flat_map(|t| t.iter()).collect();
    let cluster = ClusterConfig::new("standard", "c", &["127.0.0.1:9092"], "127.0.0.1:2181").unwrap();
    let seeds = [
        "100",
        "true",
        "gzip",
        "Produce:3,ListOffsets:2",
        "smallest",
        "-1",
        "1024",
    ];
    while counts.cases < PARSER_CASES && started.elapsed() < TIME_LIMIT {
        let mut config = Config::new();
        for _ in 0..rng.random_range(1..=3) {
            let spec = specs[rng.random_range(0..specs.len())];
            let key = if rng.random_bool(0.9) {
                spec.name.to_string()
            } else {
                mutate_text(&mut rng, spec.name)
            };
            let base = if rng.random_bool(0.5) {
                spec.default
            } else {
                seeds[rng.random_range(0..seeds.len())]
            };
            let value = mutate_text(&mut rng, base);
            let input = format!("{key}={value}");
            settle(
                "Config::set",
                &input,
                catch_unwind(AssertUnwindSafe(|| config.set(&key, &value))),
                &mut counts,
            );
        }
        let input = format!("{config:?}");
        let config = &config;
        settle(
            "validate",
            &input,
            catch_unwind(|| config.validate(&tables)),
            &mut counts,
        );
        settle(
            "ClientOptions",
            &input,
            catch_unwind(|| ClientOptions::from_config(config)),
            &mut counts,
        );
        settle(
            "ProducerOptions",
            &input,
            catch_unwind(|| ProducerOptions::from_config(config)),
            &mut counts,
        );
        settle(
            "ConsumerConfig",
            &input,
            catch_unwind(|| ConsumerConfig::new("group", &cluster, config)),
            &mut counts,
        );
    }
    report_parser_cases("configuration", started, &counts);
}

#[test]
fn broker_lists_and_zookeeper_strings_survive_mutation() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(12);
    let mut counts = Counts::default();
    let brokers = ["b1.example:9092", "10.0.0.1:9092", "[::1]:9092", "b2:1"];
    let zookeepers = ["z1:2181,z2:2181/kafka", "127.0.0.1:2181", "z:2181,/", ""];
    while counts.cases < PARSER_CASES && started.elapsed() < TIME_LIMIT {
        let list: Vec<String> = (0..rng.random_range(0..3))
            .map(|_| {
                let base = brokers[rng.random_range(0..brokers.len())];
                mutate_text(&mut rng, base)
            })
            .collect();
        let base = zookeepers[rng.random_range(0..zookeepers.len())];
        let zookeeper = mutate_text(&mut rng, base);
        let input = format!("{list:?} {zookeeper:?}");
        let result = catch_unwind(|| {
            ClusterConfig::new("standard", "c", &list, &zookeeper).map(|c| {
                (
                    c.zookeeper_hosts().len(),
                    c.zookeeper_connect_hosts(),
                    c.zookeeper_chroot().map(str::len),
                )
            })
        });
        settle("ClusterConfig::new", &input, result, &mut counts);
        let joined = list.join(",");
        let result = catch_unwind(|| ClusterConfig::from_broker_string("standard", "c", &joined, &zookeeper));
        settle("ClusterConfig::from_broker_string", &input, result, &mut counts);
    }
    report_parser_cases("cluster configs", started, &counts);
}

#[test]
fn topology_files_survive_mutation() {
    const VALID: &str = "---\nclusters:\n  cluster1:\n    broker_list:\n      - \"b1:9092\"\n      - b2:9092\n    zookeeper: \"z1:2181,z2:2181/kafka\"\n  cluster2:\n    broker_list: [\"b3:9092\"]\n    zookeeper: z3:2181\nlocal_config:\n  cluster: cluster1\n";
    // An alias bomb: nine levels of ten references each would expand to a
    // billion strings if the parser expanded aliases without a budget.
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for level in b'b'..=b'j' {
        let previous = char::from(level - 1);
        let refs = vec![format!("*{previous}"); 10].join(",");
        bomb.push_str(&format!("{}: &{} [{refs}]\n", char::from(level), char::from(level)));
    }
    bomb.push_str("clusters: {}\n");
    let dir = std::env::temp_dir().join(format!("yk-hostile-topology-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(12);
    let mut counts = Counts::default();
    for fixed in [
        VALID,
        bomb.as_str(),
        "",
        "clusters:",
        "\u{feff}clusters: {}",
        "[[[[[[[[[[[[[[[[[[[[",
    ] {
        std::fs::write(dir.join("standard.yaml"), fixed).unwrap();
        settle(
            "Topology::load",
            fixed,
            catch_unwind(|| Topology::load(&dir, "standard")),
            &mut counts,
        );
    }
    while counts.cases < 1_500 && started.elapsed() < TIME_LIMIT {
        let text = mutate_text(&mut rng, VALID);
        std::fs::write(dir.join("standard.yaml"), &text).unwrap();
        let result = catch_unwind(|| {
            Topology::load(&dir, "standard").map(|t| (t.all_clusters().len(), t.local_cluster().is_ok()))
        });
        settle("Topology::load", &text, result, &mut counts);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    report_parser_cases("topology files", started, &counts);
}

#[test]
fn topic_patterns_survive_mutation() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(12);
    let mut counts = Counts::default();
    let patterns = ["my.*topic", "(a|b)+c", "team\\.[a-z]{2,5}", "(a*)*b", "[[:alpha:]]+"];
    let topics = [
        "mytopic",
        "team.orders",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac",
        "",
    ];
    // Compiling is what costs here (fancy-regex refuses what would compile
    // past its size limit), and matching for patterns that backtrack (their
    // limit turns into an error).
    for fixed in [
        "x{1000}{1000}",
        "((((((((((a*)*)*)*)*)*)*)*)*)*)*b",
        "(?",
        "(?=(a*)*)(a*)*\\2b",
        "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((x",
    ] {
        settle(
            "python_match_regex",
            fixed,
            catch_unwind(|| python_match_regex(fixed)),
            &mut counts,
        );
    }
    while counts.cases < 3_000 && started.elapsed() < TIME_LIMIT {
        let base = patterns[rng.random_range(0..patterns.len())];
        let pattern = mutate_text(&mut rng, base);
        let result = catch_unwind(|| python_match_regex(&pattern).map(|r| topics.map(|t| r.matches(t))));
        settle("python_match_regex", &pattern, result, &mut counts);
    }
    report_parser_cases("topic patterns", started, &counts);
}
