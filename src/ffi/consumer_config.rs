//! `yk_consumer_config`: a consumer group's configuration (docs/configuration.md) —
//! group id, cluster, every option checked as it is set, the rebalance
//! callbacks and the metrics dimensions.

use std::ffi::{c_char, c_void, CString};

use crate::config::Config;
use crate::consumer::ConsumerConfig;
use crate::error::ErrorCode;
use crate::ffi::arguments::{c_str, check_out, to_c_string};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::cluster_config::yk_cluster_config;
use crate::ffi::handles::{free_handle, handle, handle_mut, write_handle, Boxed, Handle, MadeIn};
use crate::ffi::values::yk_topic_partition;

/// Called with the partitions a consumer group gives up (pre) or has just
/// acquired (post), on the thread that called into the group; the array and
/// its strings are valid during the call only. `opaque` is the pointer
/// given with the callbacks.
pub type yk_rebalance_callback =
    Option<unsafe extern "C" fn(opaque: *mut c_void, partitions: *const yk_topic_partition, count: usize)>;

/// The rebalance callbacks of a configuration.
#[derive(Clone, Copy)]
pub(crate) struct RebalanceCallbacks {
    pub(crate) pre: yk_rebalance_callback,
    pub(crate) post: yk_rebalance_callback,
    /// The caller's pointer, kept as an address: it is only handed back.
    pub(crate) opaque: usize,
}

/// A consumer configuration: the group id, the cluster and the options.
/// Options are checked when set; the configuration is copied by the
/// consumers made from it, so it may be changed or freed afterwards.
/// Not synchronized: a call that changes it (one taking a non-const
/// pointer) must have it to itself; calls taking a const pointer may run
/// from several threads at once while nothing changes it.
pub struct yk_consumer_config {
    pub(crate) config: ConsumerConfig,
    pub(crate) rebalance: RebalanceCallbacks,
    dump: Option<CString>,
}

impl Handle for yk_consumer_config {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

impl yk_consumer_config {
    /// Replaces the options with `values` if they make a valid configuration.
    fn update(&mut self, values: Config) -> crate::Result<()> {
        self.config = ConsumerConfig::new(self.config.group_id(), self.config.cluster(), &values)?;
        Ok(())
    }
}

/// Creates the configuration of consumer group `group_id` on `cluster`
/// (copied) in `*out`, every option at the Python library's default:
/// `auto_offset_reset=largest`, `auto_commit_enable=true`,
/// `auto_commit_interval_ms=60000`, `auto_commit_interval_messages=100`,
/// `consumer_timeout_ms=100`, `fetch_min_bytes=1`, `fetch_wait_max_ms=100`,
/// `fetch_message_max_bytes=2097152`, `client_id=yelp-kafka`,
/// `partitioner_cooldown=30`, `use_group_sha=true`,
/// `max_termination_timeout_secs=10`, `offset_storage=zookeeper`,
/// `group_protocol=zookeeper`, `fetch_max_bytes=2097152` and
/// `queued_max_messages_kbytes=65536` (not Python options), and for `group_protocol=kafka`
/// `partition_assignment_strategy=range`, `session_timeout_ms=45000`,
/// `heartbeat_interval_ms=3000`, `max_poll_interval_ms=300000`,
/// `group_instance_id=` (dynamic membership), and for
/// `group_protocol=kafka_consumer` `group_remote_assignor=` (the
/// coordinator's default). The group
/// id is one ZooKeeper node name (docs/configuration.md): an empty one, one
/// holding `/`, and `.` or `..` are `YK_ERROR_CONFIGURATION` naming it,
/// so that no group reaches another's nodes. Free with
/// `yk_consumer_config_free`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_config_new(
    group_id: *const c_char,
    cluster: *const yk_cluster_config,
    out: *mut *mut yk_consumer_config,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let group_id = c_str(group_id, "group_id")?;
        let cluster = &handle(cluster, "cluster")?.config;
        let config = ConsumerConfig::new(group_id, cluster, &Config::new())?;
        write_handle(
            out,
            yk_consumer_config {
                config,
                rebalance: RebalanceCallbacks {
                    pre: None,
                    post: None,
                    opaque: 0,
                },
                dump: None,
            },
        );
        Ok(())
    })
}

/// Sets option `key` to `value` (both copied): any consumer option above or
/// client option (`metadata_timeout_ms`, `request_timeout_ms`,
/// `api_version_caps`, ...). An unknown key or a value that does not fit
/// is `YK_ERROR_CONFIGURATION` naming the key, and the configuration stays
/// as it was. `group_protocol=kafka` balances the groups made from this
/// configuration through Kafka's group protocol instead of ZooKeeper
/// (docs/consumer-groups.md): no ZooKeeper is needed and offsets are stored
/// in Kafka, so `offset_storage` set to `zookeeper` or `dual` with it is
/// `YK_ERROR_CONFIGURATION`; the ZooKeeper options are ignored; a
/// multiprocessing group's workers, threads or processes, commit with the
/// group member's generation.
/// `group_protocol=kafka_consumer` does the same through Kafka's
/// next-generation protocol (KIP-848, the coordinator computes the split,
/// `group_remote_assignor` says how); on a broker that does not offer
/// ConsumerGroupHeartbeat (API key 68) the group fails with
/// `YK_ERROR_CONSUMER_GROUP` naming it.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_config_set(
    config: *mut yk_consumer_config,
    key: *const c_char,
    value: *const c_char,
) -> ErrorCode {
    boundary(function_name!(), || {
        let config = handle_mut(config, "config")?;
        let (key, value) = (c_str(key, "key")?, c_str(value, "value")?);
        let mut values = config.config.values().clone();
        values.set(key, value)?;
        config.update(values)
    })
}

/// Adds the metrics dimension `name=value` (both copied) to the consumer's
/// metrics, after those set before; the same as extending the
/// `metrics_dimensions` option. A repeated name, or a `,` or `=` in either
/// part (or an empty name), is `YK_ERROR_CONFIGURATION`.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_config_add_metrics_dimension(
    config: *mut yk_consumer_config,
    name: *const c_char,
    value: *const c_char,
) -> ErrorCode {
    boundary(function_name!(), || {
        let config = handle_mut(config, "config")?;
        let (name, value) = (c_str(name, "name")?, c_str(value, "value")?);
        let values = config.config.values_with_metrics_dimension(name, value)?;
        config.update(values)
    })
}

/// Sets the callbacks a consumer group calls before it gives partitions up
/// (`pre`) and after it acquired new ones (`post`); either may be NULL.
/// No message is delivered between the two. `opaque` is passed back to
/// both. They run on the thread that called into the group and must not
/// call back into it (`YK_ERROR_REENTRANT`).
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_config_set_rebalance_callbacks(
    config: *mut yk_consumer_config,
    pre: yk_rebalance_callback,
    post: yk_rebalance_callback,
    opaque: *mut c_void,
) -> ErrorCode {
    boundary(function_name!(), || {
        let config = handle_mut(config, "config")?;
        config.rebalance = RebalanceCallbacks {
            pre,
            post,
            opaque: opaque as usize,
        };
        Ok(())
    })
}

/// The effective configuration: group id, cluster, then one `key = value`
/// line per option (defaults marked `(default)`) and whether the rebalance
/// callbacks are set. Owned by `config`, valid until the next call of this
/// function on it or until it is freed; NULL on a bad argument.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_config_dump(config: *mut yk_consumer_config) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        let config = handle_mut(config, "config")?;
        let set = |callback: yk_rebalance_callback| if callback.is_some() { "set" } else { "none" };
        let dump = format!(
            "{}pre_rebalance_callback = {}\npost_rebalance_callback = {}\n",
            config.config.effective(),
            set(config.rebalance.pre),
            set(config.rebalance.post)
        );
        Ok(config.dump.insert(to_c_string(&dump, "configuration dump")?).as_ptr())
    })
}

/// Frees a configuration. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_consumer_config_free(config: *mut yk_consumer_config) {
    free_handle(config, function_name!());
}
