//! `yk_consumer`: the simple consumer of one topic's partitions and the
//! plain consumer of every partition of some topics (docs/consumer-groups.md), with
//! task_done, commits and close.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use crate::consumer::{Consumer, Subscription, Topic, TopicPartition};
use crate::error::{ErrorCode, Result};
use crate::ffi::arguments::{c_slice, c_str, c_strings, check_out};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::consumer_config::yk_consumer_config;
use crate::ffi::consumer_message::yk_message;
use crate::ffi::consumer_message::yk_message_view;
use crate::ffi::handles::{free_handle, handle, write_handle, Boxed, Handle, MadeIn};
use crate::ffi::message_batch::{fill_batch, yk_message_batch};
use crate::ffi::task_source::TaskSource;
use crate::ffi::values::yk_topic_partition;

/// A consumer. Usable from several threads at once: messages go to
/// whichever thread asks, and any thread may mark them done.
pub struct yk_consumer {
    /// Where its messages mark themselves done; dropped before `consumer`.
    source: TaskSource,
    consumer: Arc<Consumer>,
    /// The process that made it (docs/c-abi.md: fork).
    made_in: MadeIn,
}

impl yk_consumer {
    /// The handle of `consumer`, made in this process.
    pub(crate) fn new(consumer: Consumer) -> yk_consumer {
        let consumer = Arc::new(consumer);
        yk_consumer {
            source: TaskSource::new(consumer.clone()),
            consumer,
            made_in: MadeIn::this_process(),
        }
    }

    /// `message`, handed out by this consumer.
    fn hand_out(&self, message: crate::consumer::Message) -> yk_message {
        yk_message::new(message, Some(self.source.link()))
    }
}

impl Handle for yk_consumer {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        Some(&self.made_in)
    }
}

/// Creates the simple consumer (Python yelp_kafka's `KafkaSimpleConsumer(topic,
/// config, partitions)`) of `partitions[0..count]` of `topic` in `*out`
/// (`partitions` NULL with `count` 0: every partition). `config` is copied.
/// Nothing connects before `yk_consumer_connect`. Free with
/// `yk_consumer_free`. `*out` is written only on success.
/// A topic name outside Kafka's rule (`[a-zA-Z0-9._-]`, at most 249
/// characters, not `.` or `..`: docs/configuration.md) is
/// `YK_ERROR_INVALID_ARGUMENT` naming it.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_new_simple(
    config: *const yk_consumer_config,
    topic: *const c_char,
    partitions: *const i32,
    count: usize,
    out: *mut *mut yk_consumer,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let config = handle(config, "config")?;
        let topic = c_str(topic, "topic")?;
        let partitions = c_slice(partitions, count, "partitions")?;
        let subscription = Subscription::Topic {
            topic: topic.to_string(),
            partitions: (count > 0).then(|| partitions.to_vec()),
        };
        let consumer = Consumer::new(subscription, config.config.clone())?;
        write_handle(out, yk_consumer::new(consumer));
        Ok(())
    })
}

/// Creates the plain consumer of every partition of `topics[0..count]`
/// (at least one) in `*out`: Python yelp_kafka's consumer of the topics a regex
/// found, reading with the group's offsets and no balancing. `config` is
/// copied. Nothing connects before `yk_consumer_connect`. Free with
/// `yk_consumer_free`. `*out` is written only on success.
/// A topic name outside Kafka's rule (`[a-zA-Z0-9._-]`, at most 249
/// characters, not `.` or `..`: docs/configuration.md) is
/// `YK_ERROR_INVALID_ARGUMENT` naming it.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_new(
    config: *const yk_consumer_config,
    topics: *const *const c_char,
    count: usize,
    out: *mut *mut yk_consumer,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let config = handle(config, "config")?;
        let topics = c_strings(topics, count, "topics")?;
        let consumer = Consumer::new(Subscription::Topics(topics), config.config.clone())?;
        write_handle(out, yk_consumer::new(consumer));
        Ok(())
    })
}

/// Connects: looks the partitions up (an unknown topic is
/// `YK_ERROR_UNKNOWN_TOPIC`, an unknown partition
/// `YK_ERROR_UNKNOWN_PARTITIONS`), starts each at the group's committed
/// offset (else per `auto_offset_reset`) and starts fetching. Once only
/// (`YK_ERROR_WRONG_STATE` after that). A `yk_consumer_close` from another
/// thread while this runs wins: this returns `YK_ERROR_CLOSED_HANDLE` and
/// leaves nothing fetching.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_connect(consumer: *const yk_consumer) -> ErrorCode {
    boundary(function_name!(), || handle(consumer, "consumer")?.consumer.connect())
}

/// Takes the next message into `*out` (free it with `yk_message_free`):
/// one already fetched, or, when `block` is true, the first to arrive
/// within `timeout_ms` (negative: no limit, until `yk_consumer_close` from
/// another thread). None is `YK_ERROR_CONSUMER_TIMEOUT`. An error a fetch
/// met (other than leader moves and lost brokers, which are retried) comes
/// back once, in its place among the messages. `*out` is written only on
/// success.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_get_message(
    consumer: *const yk_consumer,
    block: bool,
    timeout_ms: i32,
    out: *mut *mut yk_message,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let consumer = handle(consumer, "consumer")?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        // Boxed where it is taken: the message is not moved through the
        // results on its way out (a copy per message otherwise).
        consumer.consumer.get_messages(block, timeout, 1, |message| {
            write_handle(out, consumer.hand_out(message));
        })?;
        Ok(())
    })
}

/// Takes up to the batch's capacity of messages into `batch`, releasing
/// what it held: the first as `yk_consumer_get_message` with `block` true
/// takes it (waiting up to `timeout_ms`; 0: only what is fetched already;
/// negative: no limit, until `yk_consumer_close` from another thread),
/// then whatever else is fetched already, without waiting. On success
/// `*views` points at `*count` (at least 1) message views, in order, owned
/// by `batch` until it is filled again or freed; each view's `message` can
/// go to `yk_task_done`. None within the time is
/// `YK_ERROR_CONSUMER_TIMEOUT` (the batch is then empty). An error a fetch
/// met after some messages comes back from the next call. `*views` and
/// `*count` are written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_next_batch(
    consumer: *const yk_consumer,
    timeout_ms: i32,
    batch: *mut yk_message_batch,
    views: *mut *const yk_message_view,
    count: *mut usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        let consumer = handle(consumer, "consumer")?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        fill_batch(batch, views, count, &consumer.source, |max, put| {
            consumer.consumer.get_messages(true, timeout, max, put)
        })
    })
}

/// `yk_consumer_get_message` blocking up to `consumer_timeout_ms` (Python yelp_kafka's
/// iteration). `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_next(consumer: *const yk_consumer, out: *mut *mut yk_message) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let consumer = handle(consumer, "consumer")?;
        let message = consumer.consumer.next()?;
        write_handle(out, consumer.hand_out(message));
        Ok(())
    })
}

/// Marks `message` (from this consumer) processed; messages may be marked
/// in any order, and a commit never passes one that was not. Counts toward
/// `auto_commit_interval_messages`; the automatic commit it may start runs
/// in the background. A message of a partition the consumer no longer
/// reads is ignored. `message` stays the caller's.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_task_done(consumer: *const yk_consumer, message: *const yk_message) -> ErrorCode {
    boundary(function_name!(), || {
        let consumer = &handle(consumer, "consumer")?.consumer;
        consumer.task_done(&handle(message, "message")?.message)
    })
}

/// Commits, for every partition, the offset of its first message not
/// marked done (or the offset after the last one delivered), and waits for
/// the offset storage to answer: `YK_ERROR_OFFSET_COMMIT` with the broker's
/// Kafka code when it refuses. `yk_consumer_wakeup` ends the wait with
/// `YK_ERROR_WOKEN_UP`: the commit may still land (a request already sent
/// is not taken back) or not; the offsets count as uncommitted, and the
/// next commit sends them again.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_commit(consumer: *const yk_consumer) -> ErrorCode {
    boundary(function_name!(), || handle(consumer, "consumer")?.consumer.commit())
}

/// Like `yk_consumer_commit`, for `partitions[0..count]` only (count 0:
/// nothing). Partitions the consumer does not read are ignored. A wakeup
/// ends the wait as for `yk_consumer_commit`.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_commit_partitions(
    consumer: *const yk_consumer,
    partitions: *const yk_topic_partition,
    count: usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        let consumer = &handle(consumer, "consumer")?.consumer;
        let partitions = c_slice(partitions, count, "partitions")?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let topic = Topic::new(c_str(p.topic, &format!("partitions[{i}].topic"))?)?;
                Ok(TopicPartition::new(topic, p.partition))
            })
            .collect::<Result<Vec<_>>>()?;
        consumer.commit_partitions_until_woken(&partitions)
    })
}

/// Marks every message of `message`'s partition up to `message` processed
/// and commits that partition (Python yelp_kafka's `commit_message`). A message of a
/// partition the consumer no longer reads is `YK_ERROR_WRONG_STATE`. A
/// wakeup ends the wait as for `yk_consumer_commit` (the messages stay
/// marked done).
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_commit_message(
    consumer: *const yk_consumer,
    message: *const yk_message,
) -> ErrorCode {
    boundary(function_name!(), || {
        let consumer = &handle(consumer, "consumer")?.consumer;
        consumer.commit_message(&handle(message, "message")?.message)
    })
}

/// Makes a call blocked in `yk_consumer_get_message`, `yk_consumer_next`
/// or `yk_consumer_next_batch` on `consumer` return at once with
/// `YK_ERROR_WOKEN_UP` (messages already fetched are still handed out
/// first), and so a call waiting for a commit's answer
/// (`yk_consumer_commit`, `yk_consumer_commit_partitions`,
/// `yk_consumer_commit_message`: the commit may still land).
/// `yk_consumer_connect`, `yk_consumer_close` and the offsets requests
/// are not ended by it. Safe to call from any thread and from a signal handler (it is
/// async-signal-safe: an atomic store and one `write(2)`, no lock, no
/// allocation — when the handle is valid). A wakeup with no call blocked
/// is kept: the next blocking call returns `YK_ERROR_WOKEN_UP` at once.
/// Each wakeup ends one call.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_wakeup(consumer: *const yk_consumer) -> ErrorCode {
    boundary(function_name!(), || {
        handle(consumer, "consumer")?.consumer.wakeup().request();
        Ok(())
    })
}

/// A file descriptor for event loops (poll, epoll, Go's netpoller, Ruby's
/// `IO.select`): readable while fetched messages (or a fetch error) wait
/// to be taken, and once the consumer is closed. Level-triggered in
/// effect: it stays readable until a take finds nothing left, so wait for
/// it, then call `yk_consumer_next_batch` with `timeout_ms` 0 until
/// `YK_ERROR_CONSUMER_TIMEOUT`, which drains it (only the library reads
/// it; never read or close it yourself). It may be readable when nothing
/// is left (after a revoke, or a fetch that only moved the position): the
/// take then returns `YK_ERROR_CONSUMER_TIMEOUT` and drains it. Owned by
/// `consumer`, valid until `yk_consumer_free`; the same descriptor for
/// the consumer's life, before `yk_consumer_connect` too. −1 when
/// `consumer` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_ready_fd(consumer: *const yk_consumer) -> i32 {
    boundary_value(function_name!(), -1, || {
        Ok(handle(consumer, "consumer")?.consumer.ready_fd())
    })
}

/// Stops fetching and, with `auto_commit_enable`, commits (waiting up to
/// `request_timeout_ms` for the storage). A thread waiting in
/// `yk_consumer_get_message` returns `YK_ERROR_CLOSED_HANDLE`, as do later
/// calls. Closing twice is harmless. Messages taken before stay valid.
/// Close is final, whatever runs at the same time: a
/// `yk_consumer_connect` running meanwhile fails with
/// `YK_ERROR_CLOSED_HANDLE`, and every later call but `yk_consumer_free`
/// returns it.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_close(consumer: *const yk_consumer) -> ErrorCode {
    boundary(function_name!(), || handle(consumer, "consumer")?.consumer.close())
}

/// Frees a consumer without committing (close it first for the final
/// commit). No other thread may be using it. After this returns the library
/// never touches the consumer again. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_free(consumer: *mut yk_consumer) {
    free_handle(consumer, function_name!());
}
