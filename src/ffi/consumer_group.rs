//! `yk_consumer_group`: Python yelp_kafka's `KafkaConsumerGroup` in C (docs/consumer-groups.md) — members that split their topics' partitions through ZooKeeper
//! with each other and with Python members, with rebalance callbacks and
//! metrics served on the caller's thread.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use crate::consumer::TopicPartition;
use crate::error::{Error, ErrorCode, Result};
use crate::ffi::arguments::{c_strings, check_out, deadline_ms, NO_LIMIT};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::consumer_config::{yk_consumer_config, yk_rebalance_callback, RebalanceCallbacks};
use crate::ffi::consumer_message::{yk_message, yk_message_view};
use crate::ffi::handles::{free_handle, handle, write_handle, Boxed, Handle, MadeIn};
use crate::ffi::message_batch::{fill_batch, yk_message_batch};
use crate::ffi::metrics::{responder_from_c, yk_metrics_responder};
use crate::ffi::reentrancy::enter_handle;
use crate::ffi::task_source::TaskSource;
use crate::ffi::values::yk_topic_partition;
use crate::groups::consumer_group::{ConsumerGroup, RebalanceHandler};
use crate::groups::metrics::{dimensions, GROUP_METRICS, GROUP_PREFIX};
use crate::metrics::MetricsResponder;

/// A member of a balanced consumer group. Usable from several threads at
/// once; rebalances (and their callbacks) run inside whichever call meets
/// them.
pub struct yk_consumer_group {
    /// Where its messages mark themselves done; dropped before `group`.
    source: TaskSource,
    group: Arc<ConsumerGroup>,
    rebalance: RebalanceCallbacks,
    identifier: CString,
    /// The process that made it (docs/c-abi.md: fork).
    made_in: MadeIn,
}

impl Handle for yk_consumer_group {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        Some(&self.made_in)
    }
}

/// The C rebalance callbacks as the group's handler.
pub(crate) struct CRebalance(pub(crate) RebalanceCallbacks);

impl CRebalance {
    fn call(callback: yk_rebalance_callback, opaque: usize, partitions: &[TopicPartition]) {
        let Some(callback) = callback else { return };
        let entries: Vec<yk_topic_partition> = partitions
            .iter()
            .map(|p| yk_topic_partition {
                topic: p.topic.as_c_str().as_ptr(),
                partition: p.partition,
            })
            .collect();
        // SAFETY: the application supplied the callback and its opaque
        // pointer; the array and its strings live for the call.
        unsafe { callback(opaque as *mut c_void, entries.as_ptr(), entries.len()) };
    }
}

impl RebalanceHandler for CRebalance {
    fn before_release(&mut self, partitions: &[TopicPartition]) {
        CRebalance::call(self.0.pre, self.0.opaque, partitions);
    }

    fn after_acquire(&mut self, partitions: &[TopicPartition]) {
        CRebalance::call(self.0.post, self.0.opaque, partitions);
    }
}

/// The group metrics responder of a new group handle: emitters for
/// `yelp_kafka.KafkaConsumerGroup.<metric>` with the group's dimensions.
///
/// # Safety
/// `metrics_responder` is NULL or points at a valid `yk_metrics_responder`.
pub(crate) unsafe fn group_responder(
    config: &yk_consumer_config,
    metrics_responder: *const yk_metrics_responder,
) -> Result<Option<Box<dyn MetricsResponder>>> {
    let owned = dimensions(&config.config);
    let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    responder_from_c(metrics_responder, GROUP_PREFIX, GROUP_METRICS, &pairs)
}

/// Creates a member of `config`'s group for `topics[0..count]` (at least
/// one) in `*out`. `config` is copied, its rebalance callbacks included.
/// The group's ZooKeeper node is `/yelp-kafka/<group_id>/<sha1 of the
/// sorted topic list>` (without the SHA-1 when `use_group_sha` is false)
/// under the cluster's ZooKeeper chroot, as the Python library has it, so
/// Python members can join. `metrics_responder` (NULL: none) is copied; its
/// emitters for `yelp_kafka.KafkaConsumerGroup.<metric>` with dimensions
/// `group_id`, `cluster_name`, `cluster_type` and the configured ones are
/// asked for here. Nothing connects before `yk_consumer_group_start`. Free
/// with `yk_consumer_group_free`. `*out` is written only on success.
/// A topic name outside Kafka's rule (`[a-zA-Z0-9._-]`, at most 249
/// characters, not `.` or `..`: docs/configuration.md) is
/// `YK_ERROR_INVALID_ARGUMENT` naming it.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_new(
    topics: *const *const c_char,
    count: usize,
    config: *const yk_consumer_config,
    metrics_responder: *const yk_metrics_responder,
    out: *mut *mut yk_consumer_group,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let config = handle(config, "config")?;
        if count == 0 {
            return Err(Error::invalid_argument("count is 0: a consumer group needs a topic"));
        }
        let topics = c_strings(topics, count, "topics")?;
        let responder = group_responder(config, metrics_responder)?;
        let group = ConsumerGroup::new(&topics, config.config.clone(), responder)?;
        let identifier = CString::new(group.identifier()).expect("identifiers hold no NUL");
        let group = Arc::new(group);
        write_handle(
            out,
            yk_consumer_group {
                source: TaskSource::new(group.clone()),
                group,
                rebalance: config.rebalance,
                identifier,
                made_in: MadeIn::this_process(),
            },
        );
        Ok(())
    })
}

/// Connects, joins the group and waits up to `timeout_ms` (negative: no
/// limit) for the first allocation, which comes no sooner than
/// `partitioner_cooldown` and runs the post-rebalance callback here. Still
/// allocating after `timeout_ms` is `YK_ERROR_TIMED_OUT`, and the group is
/// started: `yk_consumer_group_next` goes on, and `yk_consumer_group_start`
/// again (or `yk_consumer_group_wait_assignment`) waits again. Other errors
/// (`YK_ERROR_PARTITIONER` when ZooKeeper cannot be reached or the topics
/// have no partitions, `YK_ERROR_KAFKA_UNAVAILABLE`, ...) leave the group
/// stopped: free it and create a new one.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_start(group: *const yk_consumer_group, timeout_ms: i32) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        let timeout = deadline_ms(timeout_ms).unwrap_or(NO_LIMIT);
        group.group.start(timeout, &mut CRebalance(group.rebalance))
    })
}

/// Waits up to `timeout_ms` (negative: no limit) until the started group
/// holds its allocation and may deliver messages, following the
/// partitioner meanwhile: rebalances and their callbacks run here, as in
/// `yk_consumer_group_next`. `YK_ERROR_OK` at once when it holds its
/// partitions already; `YK_ERROR_TIMED_OUT` when it is still allocating
/// (call again to wait more); `YK_ERROR_WRONG_STATE` before
/// `yk_consumer_group_start`, `YK_ERROR_CLOSED_HANDLE` after
/// `yk_consumer_group_stop`, `YK_ERROR_PARTITIONER` when the ZooKeeper
/// session was lost.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_wait_assignment(
    group: *const yk_consumer_group,
    timeout_ms: i32,
) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        let timeout = deadline_ms(timeout_ms).unwrap_or(NO_LIMIT);
        group.group.wait_assignment(timeout, &mut CRebalance(group.rebalance))
    })
}

/// Takes the next message of the partitions this member holds into `*out`
/// (free it with `yk_message_free`). Before each internal fetch attempt
/// (100 ms) the partitioner is refreshed: a rebalance runs here — the
/// pre-rebalance callback, a commit with auto-commit, the partitions given
/// up, and after the cooldown the new ones acquired and the post-rebalance
/// callback; no message is delivered between the two callbacks. Nothing
/// within `consumer_timeout_ms` (negative: no limit) is
/// `YK_ERROR_CONSUMER_TIMEOUT`. Nothing is handed out while the ZooKeeper
/// connection is down or the session was last confirmed two thirds of the
/// session timeout ago or more (`zookeeper_session_timeout_ms`), e.g. after
/// the process was paused: it waits for a new ZooKeeper round trip first.
/// A lost ZooKeeper session is `YK_ERROR_PARTITIONER`, here and in every
/// later call: nothing more is delivered or committed; stop and free the
/// group, then create a new one (Python yelp_kafka's outer loop). `*out` is
/// written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_next(
    group: *const yk_consumer_group,
    out: *mut *mut yk_message,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        let message = group.group.next(&mut CRebalance(group.rebalance))?;
        write_handle(out, yk_message::new(message, Some(group.source.link())));
        Ok(())
    })
}

/// Takes up to the batch's capacity of messages into `batch`, releasing
/// what it held: the first as `yk_consumer_group_next` takes it (with its
/// rebalances, callbacks and `consumer_timeout_ms`), then whatever else is
/// fetched already, without waiting. On success `*views` points at
/// `*count` (at least 1) message views, in order, owned by `batch` until it
/// is filled again or freed; each view's `message` can go to
/// `yk_task_done`. Errors as for `yk_consumer_group_next` (the batch is
/// then empty). `*views` and `*count` are written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_next_batch(
    group: *const yk_consumer_group,
    batch: *mut yk_message_batch,
    views: *mut *const yk_message_view,
    count: *mut usize,
) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        fill_batch(batch, views, count, &group.source, |max, put| {
            group.group.next_batch(&mut CRebalance(group.rebalance), max, put)
        })
    })
}

/// Marks `message` (from this group) processed, in any order; a commit
/// never passes a message not marked. Counts toward
/// `auto_commit_interval_messages`. A message of a partition given up since
/// is ignored. `message` stays the caller's.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_task_done(
    group: *const yk_consumer_group,
    message: *const yk_message,
) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        group.group.task_done(&handle(message, "message")?.message)
    })
}

/// Makes a call blocked in `yk_consumer_group_next` or
/// `yk_consumer_group_next_batch` on `group` return with
/// `YK_ERROR_WOKEN_UP`: at once while it waits for messages, within 100 ms
/// (one internal attempt) while the group is still allocating. It also
/// ends a `yk_consumer_group_commit` waiting for its answer, at once (the
/// commit may still land). `yk_consumer_group_stop` is not ended by it. Safe to call from any thread and from a signal handler (it is
/// async-signal-safe: an atomic store and one `write(2)`, no lock, no
/// allocation — when the handle is valid). A wakeup with no call blocked
/// is kept: the next blocking call returns `YK_ERROR_WOKEN_UP` at once.
/// Each wakeup ends one call.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_wakeup(group: *const yk_consumer_group) -> ErrorCode {
    boundary(function_name!(), || {
        handle(group, "group")?.group.wakeup();
        Ok(())
    })
}

/// A file descriptor readable while fetched messages wait, as
/// `yk_consumer_ready_fd` describes (drain it with
/// `yk_consumer_group_next_batch` until `YK_ERROR_CONSUMER_TIMEOUT`). A
/// group rebalances only inside its calls: an event loop must also call
/// `yk_consumer_group_next_batch` every few hundred milliseconds while the
/// descriptor stays quiet, with `consumer_timeout_ms` 0 so that the call
/// does not block. Owned by `group`; −1 when `group` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_ready_fd(group: *const yk_consumer_group) -> i32 {
    boundary_value(function_name!(), -1, || Ok(handle(group, "group")?.group.ready_fd()))
}

/// Commits the processed offsets of the partitions held now and waits for
/// the offset storage: `YK_ERROR_OFFSET_COMMIT` when it refuses,
/// `YK_ERROR_PARTITIONER` (nothing stored) when the ZooKeeper session was
/// not confirmed within two thirds of the session timeout or the
/// partitioner failed — the partitions may be another member's. Automatic
/// commits follow the same rule. `yk_consumer_group_wakeup` ends the wait
/// with `YK_ERROR_WOKEN_UP`: the commit may still land or not; the offsets
/// count as uncommitted, and the next commit sends them again.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_commit(group: *const yk_consumer_group) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        group.group.commit()
    })
}

/// Leaves the group within `timeout_ms` (≥ 0): the pre-rebalance callback,
/// a commit with auto-commit, the partitions given up, the ZooKeeper locks
/// and party node deleted, the session and the consumer closed. Also after
/// `YK_ERROR_PARTITIONER`, then without the commit (the partitions may be
/// another member's). Every step runs; the first error met is
/// returned. Stopping twice is harmless; later calls other than
/// `yk_consumer_group_free` are `YK_ERROR_CLOSED_HANDLE`.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_stop(group: *const yk_consumer_group, timeout_ms: i32) -> ErrorCode {
    boundary(function_name!(), || {
        let group = handle(group, "group")?;
        let _entry = enter_handle(group, function_name!())?;
        let timeout = deadline_ms(timeout_ms)?;
        group.group.stop(timeout, &mut CRebalance(group.rebalance))
    })
}

/// This member's identifier in the party, `<fqdn>-<pid>-<n>` (the part of
/// its ZooKeeper party node after the first `-`). Owned by `group`; NULL
/// when `group` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_identifier(group: *const yk_consumer_group) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(handle(group, "group")?.identifier.as_ptr())
    })
}

/// Frees a group. Without `yk_consumer_group_stop` first nothing is
/// committed, and the ZooKeeper session simply ends (the other members
/// take over after the cooldown). No other thread may be using it. Metrics
/// still pending are delivered and every emitter is freed (`free_emitter`)
/// here, on the calling thread, before this returns; after it returns the
/// library never again calls a callback of the group or touches a pointer
/// the application gave it (the responder's `opaque`, the rebalance
/// callbacks' `opaque`). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_group_free(group: *mut yk_consumer_group) {
    free_handle(group, function_name!());
}
