//! `yk_producer`: the synchronous and asynchronous producer in C.

use std::ffi::{c_char, c_void, CString};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};
use crate::ffi::arguments::c_slice;
use crate::ffi::arguments::{c_str, check_out, deadline_ms, NO_LIMIT};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::cluster_config::yk_cluster_config;
use crate::ffi::config::yk_config;
use crate::ffi::handles::{free_handle, handle, write_handle, Boxed, Handle, MadeIn};
use crate::ffi::metrics::{responder_from_c, yk_metrics_responder};
use crate::ffi::reentrancy::enter_handle;
use crate::ffi::values::{yk_bytes, yk_header};
use crate::metrics::{PRODUCER_METRICS, PRODUCER_PREFIX};
use crate::producer::{OutgoingHeader, Producer, QueueWait, ReportHandler, ReportRun, Reports};
use crate::sync::Locking;

/// What became of one message given to `yk_producer_produce`. Valid only
/// during the delivery callback; copy what you keep.
#[repr(C)]
pub struct yk_delivery_report {
    /// The `message_opaque` given to `yk_producer_produce`.
    pub message_opaque: *mut c_void,
    /// `YK_ERROR_OK` when the broker acknowledged the message.
    pub error: ErrorCode,
    /// The broker's Kafka error code, 0 when none.
    pub kafka_code: i16,
    /// Topic (NUL-terminated).
    pub topic: *const c_char,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition; −1 when unknown (acks=0) or on failure.
    pub offset: i64,
    /// Why delivery failed; NULL on success.
    pub error_message: *const c_char,
}

/// Receives delivery reports, on the thread that calls `yk_producer_poll`,
/// `yk_producer_flush` or `yk_producer_close`. It must not call back into
/// the same producer (`YK_ERROR_REENTRANT`).
pub type yk_delivery_callback =
    Option<unsafe extern "C" fn(callback_opaque: *mut c_void, report: *const yk_delivery_report)>;

/// Receives the delivery reports of one `yk_producer_poll`, `_flush` or
/// `_close` call in one array (`count` ≥ 1), on the thread that made the
/// call, when the call has served them: one C call for many reports,
/// where a binding pays for every crossing. The array and what it points
/// to are valid during the call only. It must not call back into the same
/// producer (`YK_ERROR_REENTRANT`).
pub type yk_delivery_batch_callback =
    Option<unsafe extern "C" fn(callback_opaque: *mut c_void, reports: *const yk_delivery_report, count: usize)>;

/// Where reports go: one callback per report, or one per batch.
#[derive(Clone, Copy)]
struct DeliveryCallback {
    callback: yk_delivery_callback,
    batch: yk_delivery_batch_callback,
    opaque: usize,
}

/// A producer. Usable from several threads at once.
pub struct yk_producer {
    producer: Producer,
    delivery: Mutex<DeliveryCallback>,
    /// The process that made it (docs/c-abi.md: fork).
    made_in: MadeIn,
}

impl Handle for yk_producer {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        Some(&self.made_in)
    }
}

/// Creates a producer for `cluster` in `*out`.
///
/// `config` (NULL: defaults) takes the client options and the producer's:
/// `acks` (0, 1, all; default 1), `ack_timeout_ms`, `retries`,
/// `retry_backoff_ms`, `linger_ms`, `batch_size_bytes`, `queue_max_messages`,
/// `queue_max_bytes`, `compression` (none, gzip, snappy, lz4, zstd),
/// `compression_level` (as librdkafka's `compression.level`: gzip 0-9,
/// zstd 1-22, snappy and lz4 0; default -1, the codec's default),
/// `compress_on_produce` (default true: a full batch is compressed as it
/// is sealed, on a spare engine thread or else by the produce call that
/// filled it; false: by the engine's threads when it is sent),
/// `enable_idempotence` (needs acks=all), `report_metrics`,
/// `message_max_bytes`, `delivery_timeout_ms`, `max_in_flight_per_broker`.
/// An unknown key or bad value is `YK_ERROR_CONFIGURATION` naming it.
/// `metrics_responder` (NULL: none) is copied; its emitters for
/// `yelp_kafka.YelpKafkaProducer.{metadata_request_timer,produce_request_timer,produce_exception_count}`
/// with dimensions `client_id`, `cluster_type`, `cluster_name` are asked for
/// here. Nothing connects until the first message. Free with
/// `yk_producer_free` (after `yk_producer_close` to deliver what is queued).
#[no_mangle]
pub unsafe extern "C" fn yk_producer_new(
    cluster: *const yk_cluster_config,
    config: *const yk_config,
    metrics_responder: *const yk_metrics_responder,
    out: *mut *mut yk_producer,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let cluster = &handle(cluster, "cluster")?.config;
        let values = yk_config::values_or_default(config.as_ref());
        let options = crate::producer::ProducerOptions::from_config(&values)?;
        let dimensions = [
            ("client_id", options.client.client_id.as_str()),
            ("cluster_type", cluster.cluster_type()),
            ("cluster_name", cluster.name()),
        ];
        let responder = responder_from_c(metrics_responder, PRODUCER_PREFIX, PRODUCER_METRICS, &dimensions)?;
        let producer = Producer::with_options(cluster, options, responder)?;
        write_handle(
            out,
            yk_producer {
                producer,
                delivery: Mutex::new(DeliveryCallback {
                    callback: None,
                    batch: None,
                    opaque: 0,
                }),
                made_in: MadeIn::this_process(),
            },
        );
        Ok(())
    })
}

/// Sets the callback that receives delivery reports of `yk_producer_produce`
/// (NULL: reports are dropped when served). `callback_opaque` is passed back.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_set_delivery_callback(
    producer: *const yk_producer,
    callback: yk_delivery_callback,
    callback_opaque: *mut c_void,
) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        producer.producer.check_open()?;
        *producer.delivery.locked() = DeliveryCallback {
            callback,
            batch: None,
            opaque: callback_opaque as usize,
        };
        Ok(())
    })
}

/// Sets a callback that receives delivery reports in batches: every report
/// one `yk_producer_poll`, `yk_producer_flush` or `yk_producer_close` call
/// serves, in one array, once the call has served them (for a flush or
/// close, when it returns). Replaces a callback set by
/// `yk_producer_set_delivery_callback`, and that one replaces this (NULL:
/// reports are dropped when served). `callback_opaque` is passed back.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_set_delivery_batch_callback(
    producer: *const yk_producer,
    callback: yk_delivery_batch_callback,
    callback_opaque: *mut c_void,
) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        producer.producer.check_open()?;
        *producer.delivery.locked() = DeliveryCallback {
            callback: None,
            batch: callback,
            opaque: callback_opaque as usize,
        };
        Ok(())
    })
}

/// Sends `values[0..count]` (no key) to `topic`, round-robin over its
/// partitions from a random start, and returns once the broker acknowledged
/// every message (Python yelp_kafka's `YelpKafkaSimpleProducer.send_messages`).
/// A value with `data` NULL (and `len` 0) is a null value (a tombstone);
/// a non-NULL `data` with `len` 0 is an empty one. A `len` larger than
/// `PTRDIFF_MAX` is `YK_ERROR_INVALID_ARGUMENT` naming it. With
/// `offsets` non-NULL, writes each message's offset there (`count` entries)
/// on success. Errors: `YK_ERROR_UNKNOWN_TOPIC_OR_PARTITION`,
/// `YK_ERROR_NOT_LEADER_FOR_PARTITION`, `YK_ERROR_LEADER_NOT_AVAILABLE`,
/// `YK_ERROR_KAFKA_UNAVAILABLE`, `YK_ERROR_FAILED_PAYLOADS`, ... after the
/// configured retries; `yk_error_is_retriable` says whether to try again.
///
/// `yk_producer_wakeup` (from another thread or a signal handler) ends the
/// wait with `YK_ERROR_WOKEN_UP`; `offsets` is not written then. The call
/// only stops waiting: the messages it had queued stay queued and may
/// still be delivered (within `delivery_timeout_ms`, like any other; no
/// report tells their fate), and those it had not queued yet (it was
/// waiting for room in the queue) are never sent. Nothing is dropped
/// without this code saying so, and each message's bytes are copied when
/// it is queued, so the library never reads `values` after the return. A
/// wakeup already pending when the call starts returns at once, before
/// anything is queued; so does one during the lookup of a topic the
/// producer has not seen yet.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_send_messages(
    producer: *const yk_producer,
    topic: *const c_char,
    values: *const yk_bytes,
    count: usize,
    offsets: *mut i64,
) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        let _entry = enter_handle(producer, function_name!())?;
        let topic = c_str(topic, "topic")?;
        let values = byte_buffers(values, count)?;
        let written = producer.producer.send_messages(topic, &values)?;
        write_offsets(offsets, &written);
        Ok(())
    })
}

/// Sends `values[0..count]` with `key` (`key_len` bytes) to `topic`, to the
/// partition murmur2 of the key picks (as librdkafka's `murmur2_random` and
/// the Java client), and returns once the broker acknowledged every message
/// (Python yelp_kafka's `YelpKafkaKeyedProducer`). Values as in
/// `yk_producer_send_messages`: `data` NULL is a null value (a tombstone,
/// which kafka-python's keyed producer takes as `None`). A `key_len` or a
/// `key_len` + `len` of a value larger than `PTRDIFF_MAX` is
/// `YK_ERROR_INVALID_ARGUMENT` naming it. `offsets` and
/// `yk_producer_wakeup` as in `yk_producer_send_messages`.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_send_keyed_messages(
    producer: *const yk_producer,
    topic: *const c_char,
    key: *const u8,
    key_len: usize,
    values: *const yk_bytes,
    count: usize,
    offsets: *mut i64,
) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        let _entry = enter_handle(producer, function_name!())?;
        let topic = c_str(topic, "topic")?;
        let key = byte_slice(key, key_len, BufferArgument::Named("key"))?
            .ok_or_else(|| Error::invalid_argument("key is NULL"))?;
        let values = byte_buffers(values, count)?;
        for (i, value) in values.iter().enumerate() {
            check_message_length(key_len, value.map_or(0, <[u8]>::len), BufferArgument::Value(i))?;
        }
        let written = producer.producer.send_keyed_messages(topic, key, &values)?;
        write_offsets(offsets, &written);
        Ok(())
    })
}

/// Queues one message and returns without waiting for the broker; its
/// delivery report comes through the delivery callback, with
/// `message_opaque`, from a later `yk_producer_poll`, `yk_producer_flush`
/// or `yk_producer_close`.
///
/// With a codec set (`compression`), the call whose message fills a batch
/// (`batch_size_bytes`) has that batch compressed at once, so that the
/// queue holds it compressed: on one of the engine's threads while one
/// is free, else by the call itself before it returns (milliseconds for
/// a 1 MB batch, more with gzip; docs/producer.md, "Compressed as they
/// are sealed"). The other calls only copy their message.
/// `compress_on_produce=false` leaves every batch to the engine's threads
/// when they send it instead.
///
/// The first message to a topic the producer has no metadata for waits
/// for the topic's lookup (up to `metadata_timeout_ms`, 10 s by default;
/// no wakeup ends it), so a topic the cluster neither has nor creates on
/// lookup is an error of this call (`YK_ERROR_UNKNOWN_TOPIC_OR_PARTITION`,
/// or `YK_ERROR_KAFKA_UNAVAILABLE` when no broker answers), not a failed
/// delivery report later as with librdkafka. Later messages to the topic
/// cost one map lookup.
///
/// `partition` −1 lets the producer pick: murmur2 of the key, or
/// round-robin without a key. `key` NULL (with `key_len` 0) sends no key;
/// `value` NULL (with `value_len` 0) sends a null value; a non-NULL `value`
/// with `value_len` 0 an empty one. A `key_len`, `value_len` or
/// `key_len` + `value_len` larger than `PTRDIFF_MAX` is
/// `YK_ERROR_INVALID_ARGUMENT` naming it. The bytes are copied. When the
/// queue is full, `queue_wait_ms` decides: 0 returns `YK_ERROR_QUEUE_FULL`
/// at once, a positive value waits up to that long, −1 waits until there
/// is room. Either way the queued batches are then sent without waiting
/// for `linger_ms`, until the queue has drained to half its limits
/// (docs/producer.md, "The bounded queue and back-pressure").
#[no_mangle]
pub unsafe extern "C" fn yk_producer_produce(
    producer: *const yk_producer,
    topic: *const c_char,
    partition: i32,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    message_opaque: *mut c_void,
    queue_wait_ms: i32,
) -> ErrorCode {
    boundary(function_name!(), || {
        let message = CMessage::new(topic, partition, key, key_len, value, value_len, std::ptr::null(), 0)?;
        produce(producer, message, message_opaque, queue_wait_ms, function_name!())
    })
}

/// `yk_producer_produce(producer, topic, -1, NULL, 0, value, value_len,
/// NULL, 0)` in four arguments: a message of a value alone (no key, no
/// headers, a NULL `message_opaque` in its report) to the partition the
/// producer picks round-robin, refused with `YK_ERROR_QUEUE_FULL` at once
/// when the queue is full. For bindings whose cost per call grows with
/// its arguments: through Ruby's ffi, five arguments fewer are about a
/// third of the call's cost (BENCHMARKS.md, "Ruby binding").
#[no_mangle]
pub unsafe extern "C" fn yk_producer_produce_value(
    producer: *const yk_producer,
    topic: *const c_char,
    value: *const u8,
    value_len: usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        let message = CMessage::new(topic, -1, std::ptr::null(), 0, value, value_len, std::ptr::null(), 0)?;
        produce(producer, message, std::ptr::null_mut(), 0, function_name!())
    })
}

/// `yk_producer_produce` with record headers: `headers[0..header_count]`
/// (NULL with 0: none), each a UTF-8 name and a value (NULL: a null value),
/// copied with the message. Consumers of every Kafka client read them
/// (`yk_message_view`'s `headers` here). A name that is NULL (with a
/// non-zero length) or not UTF-8, or lengths larger than `PTRDIFF_MAX`
/// together with the key and value, is `YK_ERROR_INVALID_ARGUMENT` naming
/// the header. Headers count toward `message_max_bytes`.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_produce_with_headers(
    producer: *const yk_producer,
    topic: *const c_char,
    partition: i32,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    headers: *const yk_header,
    header_count: usize,
    message_opaque: *mut c_void,
    queue_wait_ms: i32,
) -> ErrorCode {
    boundary(function_name!(), || {
        let message = CMessage::new(topic, partition, key, key_len, value, value_len, headers, header_count)?;
        produce(producer, message, message_opaque, queue_wait_ms, function_name!())
    })
}

/// Queues `count` messages to `topic`, as `count` calls of
/// `yk_producer_produce` with the same `partition`, `key`, `message_opaque`
/// and `queue_wait_ms` would, in one call (librdkafka's
/// `rd_kafka_produce_batch`): for bindings that pay for every crossing
/// more than for the work, Ruby's ffi above all (BENCHMARKS.md, "Ruby
/// binding").
///
/// The values lie end to end in `data`; `lens[i]` is the length of the
/// `i`-th, or −1 for a null value (a tombstone). This layout asks a
/// binding for one buffer and one array of lengths, where an array of
/// `yk_bytes` would need a pointer into each of its strings. `data` may be
/// NULL only when no length is above 0.
///
/// Every argument is checked before anything is queued: a NULL `lens`
/// with a non-zero `count`, a length below −1, lengths adding up past
/// `PTRDIFF_MAX`, or a `key_len` + length larger than `PTRDIFF_MAX` is
/// `YK_ERROR_INVALID_ARGUMENT` naming it, with nothing queued. Then the
/// messages are queued in order until one fails (the queue stayed full,
/// an unknown topic, a message above `message_max_bytes`, ...): the call
/// returns its error and the messages before it stay queued. `*produced`
/// (when `produced` is not NULL) is how many were queued, on every
/// return, so the message that failed is the one of `lens[*produced]`.
/// `count` 0 queues nothing and succeeds.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_produce_values(
    producer: *const yk_producer,
    topic: *const c_char,
    partition: i32,
    key: *const u8,
    key_len: usize,
    data: *const u8,
    lens: *const i64,
    count: usize,
    message_opaque: *mut c_void,
    queue_wait_ms: i32,
    produced: *mut usize,
) -> ErrorCode {
    if !produced.is_null() {
        *produced = 0;
    }
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        let message = CMessage::new(topic, partition, key, key_len, std::ptr::null(), 0, std::ptr::null(), 0)?;
        let values = packed_values(data, lens, count, key_len)?;
        let wait = queue_wait(queue_wait_ms)?;
        let _entry = enter_handle(producer, function_name!())?;
        for (i, value) in values.into_iter().enumerate() {
            producer.producer.produce(
                message.topic,
                message.partition,
                message.key,
                value,
                message_opaque as usize,
                wait,
            )?;
            if !produced.is_null() {
                *produced = i + 1;
            }
        }
        Ok(())
    })
}

/// Sends one message with record headers and returns once the broker
/// acknowledged it, writing its offset to `*offset` when non-NULL.
/// Arguments as for `yk_producer_produce_with_headers` (`partition` −1:
/// murmur2 of the key, or round-robin without one). `yk_producer_wakeup`
/// ends the wait as in `yk_producer_send_messages` (`*offset` is not
/// written then).
#[no_mangle]
pub unsafe extern "C" fn yk_producer_send_with_headers(
    producer: *const yk_producer,
    topic: *const c_char,
    partition: i32,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    headers: *const yk_header,
    header_count: usize,
    offset: *mut i64,
) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        let _entry = enter_handle(producer, function_name!())?;
        let message = CMessage::new(topic, partition, key, key_len, value, value_len, headers, header_count)?;
        let written = producer.producer.send_with_headers(
            message.topic,
            message.partition,
            message.key,
            message.value,
            &message.headers,
        )?;
        write_offsets(offset, &[written]);
        Ok(())
    })
}

/// One message's C arguments, checked and borrowed.
struct CMessage<'a> {
    topic: &'a str,
    partition: Option<i32>,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: Vec<OutgoingHeader<'a>>,
}

impl<'a> CMessage<'a> {
    /// # Safety
    /// The pointers are NULL or valid for their lengths (`topic` NUL-terminated).
    #[allow(clippy::too_many_arguments)]
    unsafe fn new(
        topic: *const c_char,
        partition: i32,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
        headers: *const yk_header,
        header_count: usize,
    ) -> Result<CMessage<'a>> {
        let topic = c_str(topic, "topic")?;
        let key = byte_slice(key, key_len, BufferArgument::Named("key"))?;
        let value = byte_slice(value, value_len, BufferArgument::Named("value"))?;
        check_message_length(key_len, value_len, BufferArgument::Named("value"))?;
        let headers = c_headers(headers, header_count, key_len + value_len)?;
        let partition = match partition {
            -1 => None,
            p if p >= 0 => Some(p),
            p => {
                return Err(Error::invalid_argument(format!(
                    "partition {p} is neither -1 nor a partition id"
                )))
            }
        };
        Ok(CMessage {
            topic,
            partition,
            key,
            value,
            headers,
        })
    }
}

/// Queues `message` on the producer for `yk_producer_produce` and
/// `yk_producer_produce_with_headers` (named `function`).
///
/// # Safety
/// `producer` is NULL or a live producer.
unsafe fn produce(
    producer: *const yk_producer,
    message: CMessage<'_>,
    message_opaque: *mut c_void,
    queue_wait_ms: i32,
    function: &str,
) -> Result<()> {
    let producer = handle(producer, "producer")?;
    let _entry = enter_handle(producer, function)?;
    let wait = queue_wait(queue_wait_ms)?;
    producer.producer.produce_with_headers(
        message.topic,
        message.partition,
        message.key,
        message.value,
        &message.headers,
        message_opaque as usize,
        wait,
    )
}

/// `queue_wait_ms` of the asynchronous produce calls: 0 no wait, −1 until
/// there is room, else up to that many milliseconds.
fn queue_wait(queue_wait_ms: i32) -> Result<QueueWait> {
    match queue_wait_ms {
        0 => Ok(QueueWait::NoWait),
        -1 => Ok(QueueWait::Forever),
        ms if ms > 0 => Ok(QueueWait::Upto(Duration::from_millis(ms as u64))),
        ms => Err(Error::invalid_argument(format!(
            "queue_wait_ms {ms} is not -1, 0 or positive"
        ))),
    }
}

/// Borrows the `count` values of `yk_producer_produce_values`, laid end
/// to end in `data` with their lengths in `lens` (−1: a null value), each
/// checked with a key of `key_len` bytes as `yk_producer_produce` checks
/// one.
///
/// # Safety
/// `lens` is NULL or points at `count` lengths; `data` is NULL or valid
/// for the sum of the lengths above 0.
unsafe fn packed_values<'a>(
    data: *const u8,
    lens: *const i64,
    count: usize,
    key_len: usize,
) -> Result<Vec<Option<&'a [u8]>>> {
    let lens = c_slice(lens, count, "lens")?;
    let mut total: usize = 0;
    let mut ends = Vec::with_capacity(lens.len());
    for (i, &len) in lens.iter().enumerate() {
        let len = match len {
            -1 => None,
            len if len < 0 => {
                return Err(Error::invalid_argument(format!(
                    "lens[{i}] {len} is neither -1 nor a length"
                )))
            }
            len => Some(usize::try_from(len).unwrap_or(usize::MAX)),
        };
        let value_len = len.unwrap_or(0);
        check_message_length(key_len, value_len, BufferArgument::Packed(i))?;
        total = total
            .checked_add(value_len)
            .filter(|total| *total <= MAX_LENGTH)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "lens[0..={i}] add up to more than any buffer can be ({MAX_LENGTH})"
                ))
            })?;
        ends.push(len.map(|_| total));
    }
    if data.is_null() && total > 0 {
        return Err(Error::invalid_argument(format!(
            "data is NULL but lens add up to {total}"
        )));
    }
    let mut start = 0;
    Ok(ends
        .into_iter()
        .map(|end| {
            end.map(|end| {
                let value: &[u8] = if end == start {
                    &[]
                } else {
                    std::slice::from_raw_parts(data.add(start), end - start)
                };
                start = end;
                value
            })
        })
        .collect())
}

/// Borrows `count` headers (NULL with 0: none). A name must be UTF-8 and
/// not NULL; a NULL value is a null one. `message_len` (key and value)
/// plus every name and value past [`MAX_LENGTH`] is invalid.
///
/// # Safety
/// `headers` is NULL or points at `count` headers, each as [`byte_slice`] requires.
unsafe fn c_headers<'a>(
    headers: *const yk_header,
    count: usize,
    message_len: usize,
) -> Result<Vec<OutgoingHeader<'a>>> {
    let mut total = message_len;
    c_slice(headers, count, "headers")?
        .iter()
        .enumerate()
        .map(|(i, header)| {
            let name_argument = BufferArgument::HeaderName(i);
            let Some(name) = byte_slice(header.name.cast(), header.name_len, name_argument)? else {
                return Err(Error::invalid_argument(format!("{} is NULL", name_argument.data())));
            };
            let name = std::str::from_utf8(name)
                .map_err(|e| Error::invalid_argument(format!("{} is not valid UTF-8 ({e})", name_argument.data())))?;
            let value_argument = BufferArgument::HeaderValue(i);
            let value = byte_slice(header.value, header.value_len, value_argument)?;
            total = total
                .checked_add(header.name_len)
                .and_then(|total| total.checked_add(header.value_len))
                .filter(|total| *total <= MAX_LENGTH)
                .ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "{}: the message with its headers is larger than any message can be ({MAX_LENGTH})",
                        value_argument.len()
                    ))
                })?;
            Ok((name, value))
        })
        .collect()
}

/// A file descriptor for event loops: readable while delivery reports
/// wait to be served. Wait for it, then call `yk_producer_poll` with
/// `timeout_ms` 0, which serves every queued report and drains it (only
/// the library reads it; never read or close it yourself). Owned by
/// `producer`, valid until `yk_producer_free`. −1 when `producer` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_ready_fd(producer: *const yk_producer) -> i32 {
    boundary_value(function_name!(), -1, || {
        Ok(handle(producer, "producer")?.producer.ready_fd())
    })
}

/// Makes a call blocked in `yk_producer_poll` or `yk_producer_flush` on
/// `producer` return at once with `YK_ERROR_WOKEN_UP` (reports already
/// queued are still served first; a flush leaves the rest queued), and so
/// a synchronous send (`yk_producer_send_messages`,
/// `yk_producer_send_keyed_messages`, `yk_producer_send_with_headers`)
/// waiting for room in the queue or for the broker's answer: the send
/// only stops waiting, its queued messages are neither lost nor taken
/// back (see `yk_producer_send_messages`). A `yk_producer_produce`
/// waiting for room and `yk_producer_close` are not ended by it.
/// Safe to call from any thread and from a signal handler (it is
/// async-signal-safe: an atomic store and one `write(2)`, no lock, no
/// allocation — when the handle is valid). A wakeup with no call blocked
/// is kept: the next blocking call returns `YK_ERROR_WOKEN_UP` at once.
/// Each wakeup ends one call.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_wakeup(producer: *const yk_producer) -> ErrorCode {
    boundary(function_name!(), || {
        handle(producer, "producer")?.producer.wakeup();
        Ok(())
    })
}

/// Serves delivery reports: waits up to `timeout_ms` (−1: until one comes)
/// for the first, then runs the delivery callback for every report queued,
/// on this thread. Writes how many were served to `*served` when non-NULL.
/// A `yk_producer_close` from another thread ends the wait at once with
/// `YK_ERROR_CLOSED_HANDLE` (close serves what is left itself).
#[no_mangle]
pub unsafe extern "C" fn yk_producer_poll(
    producer: *const yk_producer,
    timeout_ms: i32,
    served: *mut usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        let _entry = enter_handle(producer, function_name!())?;
        let timeout = poll_timeout(timeout_ms)?;
        let count = serve_reports(producer, |handler| producer.producer.poll(timeout, handler))?;
        if let Some(served) = served.as_mut() {
            *served = count;
        }
        Ok(())
    })
}

/// Sends everything queued now and waits up to `timeout_ms` (≥ 0) until
/// every message is delivered or failed, running delivery callbacks on this
/// thread meanwhile. `YK_ERROR_TIMED_OUT` (message: how many are left) when
/// the deadline passes first.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_flush(producer: *const yk_producer, timeout_ms: i32) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        let _entry = enter_handle(producer, function_name!())?;
        let timeout = deadline_ms(timeout_ms)?;
        serve_reports(producer, |handler| producer.producer.flush(timeout, handler))
    })
}

/// Closes the producer: no new messages, a flush of up to `timeout_ms`
/// (≥ 0; 0 sends nothing more), then every message still queued fails with
/// `YK_ERROR_CLOSED_HANDLE`; delivery callbacks run on this thread. Never
/// waits past the deadline. Writes the number of messages not delivered
/// (failed at close, or sent but unanswered) to `*undelivered` when
/// non-NULL; returns `YK_ERROR_TIMED_OUT` when that number is not 0. The
/// handle still needs `yk_producer_free`. From then on every call on it
/// that returns a code, `yk_producer_close` too, returns
/// `YK_ERROR_CLOSED_HANDLE` at once, without waiting for brokers.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_close(
    producer: *const yk_producer,
    timeout_ms: i32,
    undelivered: *mut usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        let producer = handle(producer, "producer")?;
        let _entry = enter_handle(producer, function_name!())?;
        let timeout = deadline_ms(timeout_ms)?;
        let left = serve_reports(producer, |handler| producer.producer.close(timeout, handler))?;
        if let Some(undelivered) = undelivered.as_mut() {
            *undelivered = left;
        }
        if left > 0 {
            return Err(Error::new(
                ErrorCode::TimedOut,
                format!("{left} messages were not delivered"),
            ));
        }
        Ok(())
    })
}

/// Messages produced and not yet delivered or failed (0 when `producer` is NULL).
#[no_mangle]
pub unsafe extern "C" fn yk_producer_queue_length(producer: *const yk_producer) -> usize {
    boundary_value(function_name!(), 0, || {
        Ok(handle(producer, "producer")?.producer.queued_messages())
    })
}

/// Frees a producer. Messages still queued are dropped without reports:
/// call `yk_producer_close` first. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_producer_free(producer: *mut yk_producer) {
    free_handle(producer, function_name!());
}

/// Runs `call` (a poll, flush or close) with a handler that gives its
/// reports to the application's callback: each at once, or, with a batch
/// callback, all of them in one array once `call` returned (whatever it
/// returned).
fn serve_reports<T>(producer: &yk_producer, call: impl FnOnce(ReportHandler<'_>) -> Result<T>) -> Result<T> {
    let delivery = *producer.delivery.locked();
    let opaque = delivery.opaque as *mut c_void;
    if let Some(batch) = delivery.batch {
        // The reports are moved, never cloned: the first batch served is
        // kept as it is, later ones (a flush serves as it waits) appended.
        let mut served = Reports::default();
        let result = call(&mut |reports| served.append(reports));
        if !served.is_empty() {
            let messages = error_messages(&served);
            let reports: Vec<yk_delivery_report> = c_reports(&served, &messages).collect();
            // SAFETY: the application supplied the callback and its opaque
            // value; the array and its strings live for the call.
            unsafe { batch(opaque, reports.as_ptr(), reports.len()) };
        }
        return result;
    }
    call(&mut |reports| {
        let Some(callback) = delivery.callback else { return };
        let messages = error_messages(&reports);
        for report in c_reports(&reports, &messages) {
            // SAFETY: as above, for one report.
            unsafe { callback(opaque, &report) };
        }
    })
}

/// Why each run's messages failed, as C text: once for a run (a batch's
/// reports share it), and only where the run failed.
fn error_messages(reports: &Reports) -> Vec<Option<CString>> {
    let text = |e: &Error| CString::new(e.message().replace('\0', " ")).unwrap_or_default();
    reports.runs().iter().map(|run| run.error().map(text)).collect()
}

/// Every report of `reports` as C sees it, pointing into `reports` and
/// `messages` (their [`error_messages`]).
fn c_reports<'a>(
    reports: &'a Reports,
    messages: &'a [Option<CString>],
) -> impl Iterator<Item = yk_delivery_report> + 'a {
    reports.runs().iter().zip(messages).flat_map(|(run, message)| {
        run.reports()
            .map(move |(message_opaque, offset)| c_report(run, message_opaque, offset, message.as_ref()))
    })
}

/// The report of the message with `message_opaque` and `offset` of `run`,
/// as C sees it, pointing into `run` (its topic is kept NUL-terminated for
/// this) and `error_message`.
fn c_report(
    run: &ReportRun,
    message_opaque: usize,
    offset: i64,
    error_message: Option<&CString>,
) -> yk_delivery_report {
    let error = run.error();
    yk_delivery_report {
        message_opaque: message_opaque as *mut c_void,
        error: error.map_or(ErrorCode::Ok, Error::code),
        kafka_code: error.and_then(Error::kafka_code).unwrap_or(0),
        topic: run.topic().as_c_str().as_ptr(),
        partition: run.partition(),
        offset,
        error_message: error_message.map_or(std::ptr::null(), |m| m.as_ptr()),
    }
}

/// The largest buffer or message: no Rust slice or allocation may be
/// larger, so a larger length is a caller's mistake (a negative number
/// passed as `size_t`, a sum that wrapped), refused before any lock is
/// taken and before anything is copied.
const MAX_LENGTH: usize = isize::MAX as usize;

/// The C arguments a buffer came from: `key`/`key_len`, `value`/`value_len`
/// or `values[i].data`/`values[i].len`. Named only when an error needs it,
/// so a good send formats nothing per value.
#[derive(Clone, Copy)]
enum BufferArgument<'a> {
    Named(&'a str),
    Value(usize),
    /// A value of `yk_producer_produce_values`, whose length is `lens[i]`.
    Packed(usize),
    HeaderName(usize),
    HeaderValue(usize),
}

impl BufferArgument<'_> {
    fn data(self) -> String {
        match self {
            BufferArgument::Named(name) => name.to_string(),
            BufferArgument::Value(i) => format!("values[{i}].data"),
            BufferArgument::Packed(i) => format!("data (values[{i}])"),
            BufferArgument::HeaderName(i) => format!("headers[{i}].name"),
            BufferArgument::HeaderValue(i) => format!("headers[{i}].value"),
        }
    }

    fn len(self) -> String {
        match self {
            BufferArgument::Value(i) => format!("values[{i}].len"),
            BufferArgument::Packed(i) => format!("lens[{i}]"),
            other => format!("{}_len", other.data()),
        }
    }
}

/// Borrows `len` bytes at `data`; NULL with a non-zero length is invalid,
/// NULL with length 0 is `None` (no key, a null value), and a length past
/// [`MAX_LENGTH`] is invalid naming the length argument.
///
/// # Safety
/// `data` is NULL or points at `len` readable bytes.
unsafe fn byte_slice<'a>(data: *const u8, len: usize, argument: BufferArgument<'_>) -> Result<Option<&'a [u8]>> {
    if len > MAX_LENGTH {
        return Err(Error::invalid_argument(format!(
            "{} {len} is larger than any buffer can be ({MAX_LENGTH})",
            argument.len()
        )));
    }
    match (data.is_null(), len) {
        (true, 0) => Ok(None),
        (true, _) => Err(Error::invalid_argument(format!(
            "{} is NULL but its length is {len}",
            argument.data()
        ))),
        (false, _) => Ok(Some(std::slice::from_raw_parts(data, len))),
    }
}

/// A message's key and value lengths, each checked by [`byte_slice`],
/// together past [`MAX_LENGTH`] are invalid naming the value's length.
fn check_message_length(key_len: usize, value_len: usize, value: BufferArgument<'_>) -> Result<()> {
    match key_len.checked_add(value_len) {
        Some(total) if total <= MAX_LENGTH => Ok(()),
        _ => Err(Error::invalid_argument(format!(
            "key_len {key_len} + {} {value_len} is larger than any message can be ({MAX_LENGTH})",
            value.len()
        ))),
    }
}

/// Borrows `count` message values; a NULL array or a NULL buffer with a
/// non-zero length is invalid, and so is an empty list. A NULL buffer is a
/// null value (`None`), as in `yk_producer_produce` (docs/c-abi.md).
///
/// # Safety
/// `values` is NULL or points at `count` `yk_bytes`, each as [`byte_slice`] requires.
unsafe fn byte_buffers<'a>(values: *const yk_bytes, count: usize) -> Result<Vec<Option<&'a [u8]>>> {
    if values.is_null() {
        return Err(Error::invalid_argument("values is NULL"));
    }
    if count == 0 {
        return Err(Error::invalid_argument("count is 0: no message to send"));
    }
    std::slice::from_raw_parts(values, count)
        .iter()
        .enumerate()
        .map(|(i, b)| byte_slice(b.data, b.len, BufferArgument::Value(i)))
        .collect()
}

/// Writes offsets to a caller's array of the same length, when given.
///
/// # Safety
/// `out` is NULL or points at `written.len()` writable `int64_t`.
unsafe fn write_offsets(out: *mut i64, written: &[i64]) {
    if !out.is_null() {
        std::ptr::copy_nonoverlapping(written.as_ptr(), out, written.len());
    }
}

fn poll_timeout(timeout_ms: i32) -> Result<Duration> {
    match timeout_ms {
        -1 => Ok(NO_LIMIT),
        ms => deadline_ms(ms),
    }
}
