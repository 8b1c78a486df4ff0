//! The offsets API in C (docs/offsets.md): `yk_offsets` (a client of one
//! cluster and one offset storage), `yk_topics` (which topics and
//! partitions a call is about) and `yk_offsets_result` (what it found).

use std::collections::BTreeMap;
use std::ffi::c_char;

use crate::config::{ClientOptions, CLIENT_OPTIONS};
use crate::error::{ErrorCode, Result};
use crate::ffi::arguments::{c_slice, c_str, check_out};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::cluster_config::yk_cluster_config;
use crate::ffi::config::yk_config;
use crate::ffi::handles::{free_handle, handle, handle_mut, write_handle, Boxed, Handle, MadeIn};
use crate::offsets::storage::{OffsetStorageKind, OFFSET_STORAGE_OPTION};
use crate::offsets::{GroupLag, Offsets, Topics, Watermarks};
use crate::{Topic, TopicPartition};

/// The offsets functions over one cluster. Usable from several threads at
/// once; each call blocks until it is done (within the request and
/// metadata timeouts).
pub struct yk_offsets {
    client: Offsets,
    /// The process that made it (docs/c-abi.md: fork).
    made_in: MadeIn,
}

impl Handle for yk_offsets {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        Some(&self.made_in)
    }
}

/// The topics an offsets call is about: whole topics (every partition, the
/// list form) and single partitions (the topic → partitions map form).
/// Not synchronized: a call that changes it (one taking a non-const
/// pointer) must have it to itself; calls taking a const pointer may run
/// from several threads at once while nothing changes it.
pub struct yk_topics {
    selection: Topics,
}

impl Handle for yk_topics {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

/// One partition's offsets in a result. A field the call does not report
/// is −1; `lag` is high watermark − committed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_partition_offsets {
    /// The topic, owned by the result.
    pub topic: *const c_char,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset (0 when it committed nothing), or the
    /// offset a call committed.
    pub committed: i64,
    /// The offset the next message will get.
    pub high_watermark: i64,
    /// The first offset kept.
    pub low_watermark: i64,
    /// Messages the group has still to read.
    pub lag: i64,
}

/// An offset to store for one partition (input of `yk_offsets_set`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_topic_partition_offset {
    /// The topic, NUL-terminated UTF-8.
    pub topic: *const c_char,
    /// The partition.
    pub partition: i32,
    /// The next offset the group will read.
    pub offset: i64,
}

/// What an offsets call found: one row per partition, sorted by topic and
/// partition. Freed with `yk_offsets_result_free`, with everything in it.
/// Read-only once made: usable from several threads at once.
pub struct yk_offsets_result {
    rows: Vec<yk_partition_offsets>,
    _topics: Vec<Topic>,
}

impl Handle for yk_offsets_result {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

/// What a call found for one partition, before the topic becomes a C string.
enum Row {
    /// The offset committed, or that a call committed.
    Committed(i64),
    /// The partition's watermarks.
    Watermarks(Watermarks),
    /// The group's position against the watermarks; its lag is
    /// [`GroupLag::lag`], the one place lag is computed.
    Lag(GroupLag),
}

impl Row {
    /// The C row of this partition, naming `topic` (owned by the result);
    /// −1 in each field the call does not report.
    fn c_row(&self, topic: *const c_char, partition: i32) -> yk_partition_offsets {
        let (committed, watermarks, lag) = match *self {
            Row::Committed(committed) => (committed, None, -1),
            Row::Watermarks(watermarks) => (-1, Some(watermarks), -1),
            Row::Lag(lag) => (lag.committed, Some(lag.watermarks), lag.lag()),
        };
        yk_partition_offsets {
            topic,
            partition,
            committed,
            high_watermark: watermarks.map_or(-1, |w| w.high),
            low_watermark: watermarks.map_or(-1, |w| w.low),
            lag,
        }
    }
}

fn result_of(rows: BTreeMap<TopicPartition, Row>) -> Result<yk_offsets_result> {
    let mut topics: Vec<Topic> = Vec::new();
    let mut c_rows = Vec::with_capacity(rows.len());
    for (TopicPartition { topic, partition }, row) in rows {
        // A `Topic` is a shared NUL-terminated name: the rows lend it as it
        // is, and the result keeps one clone per topic alive.
        c_rows.push(row.c_row(topic.as_c_str().as_ptr(), partition));
        if topics.last().is_none_or(|last| !Topic::ptr_eq(last, &topic)) {
            topics.push(topic);
        }
    }
    Ok(yk_offsets_result {
        rows: c_rows,
        _topics: topics,
    })
}

fn committed_rows(offsets: BTreeMap<TopicPartition, i64>) -> BTreeMap<TopicPartition, Row> {
    offsets
        .into_iter()
        .map(|(key, committed)| (key, Row::Committed(committed)))
        .collect()
}

fn lag_rows(lags: BTreeMap<TopicPartition, GroupLag>) -> BTreeMap<TopicPartition, Row> {
    lags.into_iter().map(|(key, lag)| (key, Row::Lag(lag))).collect()
}

/// Runs `call` on the checked arguments and writes its result to `*out`,
/// recording a failure under `function`.
///
/// # Safety
/// `offsets` is NULL or a live `yk_offsets`; `out` is NULL or writable.
unsafe fn offsets_call(
    function: &str,
    offsets: *const yk_offsets,
    out: *mut *mut yk_offsets_result,
    call: impl FnOnce(&Offsets) -> Result<BTreeMap<TopicPartition, Row>>,
) -> ErrorCode {
    boundary(function, || {
        check_out(out, "out")?;
        let rows = call(&handle(offsets, "offsets")?.client)?;
        write_handle(out, result_of(rows)?);
        Ok(())
    })
}

/// An offsets call of a group over a topic selection that reports the
/// committed offsets (`Offsets::current_offsets`, `advance`, `rewind`).
type GroupOffsetsOp = fn(&Offsets, &str, &Topics, bool) -> Result<BTreeMap<TopicPartition, i64>>;

/// Runs `op` with the checked arguments and writes its result to `*out`.
///
/// # Safety
/// As for [`offsets_call`]; `group` is NULL or a C string and `topics` NULL
/// or a live `yk_topics`.
unsafe fn group_offsets_call(
    function: &str,
    offsets: *const yk_offsets,
    group: *const c_char,
    topics: *const yk_topics,
    raise_on_error: bool,
    out: *mut *mut yk_offsets_result,
    op: GroupOffsetsOp,
) -> ErrorCode {
    offsets_call(function, offsets, out, |client| {
        let topics = &handle(topics, "topics")?.selection;
        Ok(committed_rows(op(
            client,
            c_str(group, "group")?,
            topics,
            raise_on_error,
        )?))
    })
}

/// Creates an offsets client of `cluster` in `*out`. `config` (NULL:
/// defaults) takes the client options and `offset_storage` (`zookeeper`,
/// the default, at `/consumers/<group>/offsets/<topic>/<partition>` under
/// the cluster's chroot; `kafka`; or `dual`, written to both and read as
/// the larger); an unknown key or bad value is `YK_ERROR_CONFIGURATION`.
/// ZooKeeper storage on a cluster without ZooKeeper fails the calls that
/// name a group with `YK_ERROR_INVALID_OFFSET_STORAGE`. Those calls refuse a
/// group id that is empty, holds `/`, or is `.` or `..` with
/// `YK_ERROR_INVALID_ARGUMENT` naming it, before Kafka is asked
/// (docs/configuration.md). Free with
/// `yk_offsets_free`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_new(
    cluster: *const yk_cluster_config,
    config: *const yk_config,
    out: *mut *mut yk_offsets,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let cluster = &handle(cluster, "cluster")?.config;
        let values = yk_config::values_or_default(config.as_ref());
        values.validate(&[CLIENT_OPTIONS, &[OFFSET_STORAGE_OPTION]])?;
        let client = Offsets::new(
            cluster,
            ClientOptions::from_config(&values)?,
            OffsetStorageKind::from_config(&values)?,
        );
        write_handle(
            out,
            yk_offsets {
                client,
                made_in: MadeIn::this_process(),
            },
        );
        Ok(())
    })
}

/// Frees an offsets client. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_free(offsets: *mut yk_offsets) {
    free_handle(offsets, function_name!());
}

/// Creates an empty topic selection in `*out`; free it with `yk_topics_free`.
#[no_mangle]
pub unsafe extern "C" fn yk_topics_new(out: *mut *mut yk_topics) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        write_handle(
            out,
            yk_topics {
                selection: Topics::new(),
            },
        );
        Ok(())
    })
}

/// Adds every partition of `topic` (copied); partitions added for it
/// before no longer matter.
#[no_mangle]
pub unsafe extern "C" fn yk_topics_add(topics: *mut yk_topics, topic: *const c_char) -> ErrorCode {
    boundary(function_name!(), || {
        let topics = handle_mut(topics, "topics")?;
        topics.selection.add_topic(c_str(topic, "topic")?);
        Ok(())
    })
}

/// Adds `partition` of `topic` (copied), unless the whole topic was added.
/// A negative partition is `YK_ERROR_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn yk_topics_add_partition(
    topics: *mut yk_topics,
    topic: *const c_char,
    partition: i32,
) -> ErrorCode {
    boundary(function_name!(), || {
        let topics = handle_mut(topics, "topics")?;
        let topic = c_str(topic, "topic")?;
        if partition < 0 {
            return Err(crate::Error::invalid_argument(format!(
                "partition {partition} of {topic:?} is negative"
            )));
        }
        topics.selection.add_partition(topic, partition);
        Ok(())
    })
}

/// Frees a topic selection. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_topics_free(topics: *mut yk_topics) {
    free_handle(topics, function_name!());
}

/// The committed offsets of `group` for `topics` (`committed`, 0 where the
/// group committed nothing); Python yelp_kafka's `get_current_consumer_offsets`.
/// With `raise_on_error`, an unknown topic is `YK_ERROR_UNKNOWN_TOPIC` and
/// an unknown partition `YK_ERROR_UNKNOWN_PARTITIONS`; without, they are
/// left out. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_current(
    offsets: *const yk_offsets,
    group: *const c_char,
    topics: *const yk_topics,
    raise_on_error: bool,
    out: *mut *mut yk_offsets_result,
) -> ErrorCode {
    group_offsets_call(
        function_name!(),
        offsets,
        group,
        topics,
        raise_on_error,
        out,
        Offsets::current_offsets,
    )
}

/// The high and low watermarks of `topics` (`high_watermark`,
/// `low_watermark`); Python yelp_kafka's `get_topics_watermarks`. `raise_on_error`
/// as for `yk_offsets_current`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_watermarks(
    offsets: *const yk_offsets,
    topics: *const yk_topics,
    raise_on_error: bool,
    out: *mut *mut yk_offsets_result,
) -> ErrorCode {
    offsets_call(function_name!(), offsets, out, |client| {
        let topics = &handle(topics, "topics")?.selection;
        Ok(client
            .watermarks(topics, raise_on_error)?
            .into_iter()
            .map(|(key, watermarks)| (key, Row::Watermarks(watermarks)))
            .collect())
    })
}

/// Moves `group` to the high watermark of every partition of `topics` (it
/// skips what it has not read); the result holds what was committed.
/// `raise_on_error` as for `yk_offsets_current`; a refused commit is
/// `YK_ERROR_OFFSET_COMMIT`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_advance(
    offsets: *const yk_offsets,
    group: *const c_char,
    topics: *const yk_topics,
    raise_on_error: bool,
    out: *mut *mut yk_offsets_result,
) -> ErrorCode {
    group_offsets_call(
        function_name!(),
        offsets,
        group,
        topics,
        raise_on_error,
        out,
        Offsets::advance,
    )
}

/// Moves `group` to the low watermark of every partition of `topics` (it
/// reads again all that is kept); as `yk_offsets_advance` otherwise.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_rewind(
    offsets: *const yk_offsets,
    group: *const c_char,
    topics: *const yk_topics,
    raise_on_error: bool,
    out: *mut *mut yk_offsets_result,
) -> ErrorCode {
    group_offsets_call(
        function_name!(),
        offsets,
        group,
        topics,
        raise_on_error,
        out,
        Offsets::rewind,
    )
}

/// Commits `entries[0..count]` for `group` as they are (no check against
/// the watermarks); Python yelp_kafka's `set_consumer_offsets`. The result holds
/// what was committed (without unknown topics and partitions when
/// `raise_on_error` is false). `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_set(
    offsets: *const yk_offsets,
    group: *const c_char,
    entries: *const yk_topic_partition_offset,
    count: usize,
    raise_on_error: bool,
    out: *mut *mut yk_offsets_result,
) -> ErrorCode {
    offsets_call(function_name!(), offsets, out, |client| {
        let group = c_str(group, "group")?;
        let mut wanted = BTreeMap::new();
        for (i, entry) in c_slice(entries, count, "entries")?.iter().enumerate() {
            let topic = c_str(entry.topic, &format!("entries[{i}].topic"))?;
            if entry.partition < 0 || entry.offset < 0 {
                return Err(crate::Error::invalid_argument(format!(
                    "entries[{i}]: partition {} and offset {} must not be negative",
                    entry.partition, entry.offset
                )));
            }
            let topic = Topic::new(topic).map_err(|e| e.context(format!("entries[{i}].topic")))?;
            wanted.insert(TopicPartition::new(topic, entry.partition), entry.offset);
        }
        Ok(committed_rows(client.set(group, &wanted, raise_on_error)?))
    })
}

/// The lag of `group` in `partitions[0..count]` of `topic` (NULL with
/// `count` 0: every partition): committed, watermarks and lag per
/// partition; Python yelp_kafka's `offset_distance`. An unknown group counts as
/// offset 0. Unknown topics and partitions are errors. `*out` is written
/// only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_offset_distance(
    offsets: *const yk_offsets,
    group: *const c_char,
    topic: *const c_char,
    partitions: *const i32,
    count: usize,
    out: *mut *mut yk_offsets_result,
) -> ErrorCode {
    offsets_call(function_name!(), offsets, out, |client| {
        let group = c_str(group, "group")?;
        let topic = c_str(topic, "topic")?;
        let mut selection = Topics::new();
        let partitions = c_slice(partitions, count, "partitions")?;
        if partitions.is_empty() {
            selection.add_topic(topic);
        }
        for partition in partitions {
            selection.add_partition(topic, *partition);
        }
        Ok(lag_rows(client.lag(group, &selection)?))
    })
}

/// The lag of `group` in every partition `topics` names; Python yelp_kafka's
/// `topics_offset_distance`. As `yk_offsets_offset_distance` otherwise.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_topics_offset_distance(
    offsets: *const yk_offsets,
    group: *const c_char,
    topics: *const yk_topics,
    out: *mut *mut yk_offsets_result,
) -> ErrorCode {
    offsets_call(function_name!(), offsets, out, |client| {
        let topics = &handle(topics, "topics")?.selection;
        Ok(lag_rows(client.lag(c_str(group, "group")?, topics)?))
    })
}

/// The rows of `result` (sorted by topic and partition), their number in
/// `*count`; owned by the result. NULL with the last error set, and
/// `*count` untouched, on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_result_rows(
    result: *const yk_offsets_result,
    count: *mut usize,
) -> *const yk_partition_offsets {
    boundary_value(function_name!(), std::ptr::null(), || {
        check_out(count, "count")?;
        let rows = &handle(result, "result")?.rows;
        *count = rows.len();
        Ok(rows.as_ptr())
    })
}

/// Frees a result and everything in it. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_offsets_result_free(result: *mut yk_offsets_result) {
    free_handle(result, function_name!());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lag_row_reports_the_lag_of_the_offsets_module() {
        let lag = GroupLag {
            committed: 3,
            watermarks: Watermarks { high: 10, low: 2 },
        };
        let row = Row::Lag(lag).c_row(std::ptr::null(), 0);
        assert_eq!(
            (row.committed, row.high_watermark, row.low_watermark, row.lag),
            (3, 10, 2, lag.lag())
        );
    }

    #[test]
    fn rows_without_both_offsets_report_no_lag() {
        let committed = Row::Committed(5).c_row(std::ptr::null(), 0);
        assert_eq!(
            (committed.committed, committed.high_watermark, committed.lag),
            (5, -1, -1)
        );
        let watermarks = Row::Watermarks(Watermarks { high: 10, low: 2 }).c_row(std::ptr::null(), 0);
        assert_eq!(
            (watermarks.committed, watermarks.high_watermark, watermarks.lag),
            (-1, 10, -1)
        );
    }
}
