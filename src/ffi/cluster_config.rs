//! `yk_cluster_config`: a Kafka cluster's type, name, brokers and ZooKeeper.

use std::ffi::{c_char, CString};

use crate::config::ClusterConfig;
use crate::error::{ErrorCode, Result};
use crate::ffi::arguments::{c_str, check_out, to_c_string};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::handles::{free_handle, handle, write_handle, Boxed, Handle, MadeIn};

/// A cluster configuration (docs/configuration.md). Immutable once made:
/// usable from several threads at once.
pub struct yk_cluster_config {
    pub(crate) config: ClusterConfig,
    cluster_type: CString,
    name: CString,
    broker_list: CString,
    zookeeper: CString,
}

impl Handle for yk_cluster_config {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

impl yk_cluster_config {
    pub(crate) fn from_config(config: ClusterConfig) -> Result<yk_cluster_config> {
        Ok(yk_cluster_config {
            cluster_type: to_c_string(config.cluster_type(), "cluster type")?,
            name: to_c_string(config.name(), "cluster name")?,
            broker_list: to_c_string(&config.broker_list().join(","), "broker list")?,
            zookeeper: to_c_string(config.zookeeper(), "zookeeper")?,
            config,
        })
    }
}

/// Creates a cluster configuration in `*out`.
///
/// - `cluster_type`, `name`: non-empty.
/// - `broker_list`: comma-separated `host:port` list; empty entries are ignored,
///   at least one broker is required. The port is 1–65535 in digits only;
///   an IPv6 host is written in brackets (`[::1]:9092`), a bare one (`::1`)
///   is refused; other hosts are letters, digits, `.`, `-`, `_`. ZooKeeper
///   hosts follow the same rule.
/// - `zookeeper`: ZooKeeper connect string with optional chroot
///   (`"zk1:2181,zk2:2181/kafka-1"`); may be empty for clusters used only to produce.
///   A chroot of `/` alone is no chroot. Any other chroot is `/`-separated
///   node names, none empty, `.` or `..`: `//x`, `/kafka/` and `/a//b` are
///   refused here (docs/configuration.md).
///
/// All strings are copied. Bad values give `YK_ERROR_CONFIGURATION`, NULL or
/// non-UTF-8 arguments `YK_ERROR_INVALID_ARGUMENT`. Free the result with
/// `yk_cluster_config_free`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_new(
    cluster_type: *const c_char,
    name: *const c_char,
    broker_list: *const c_char,
    zookeeper: *const c_char,
    out: *mut *mut yk_cluster_config,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let config = ClusterConfig::from_broker_string(
            c_str(cluster_type, "cluster_type")?,
            c_str(name, "name")?,
            c_str(broker_list, "broker_list")?,
            c_str(zookeeper, "zookeeper")?,
        )?;
        write_handle(out, yk_cluster_config::from_config(config)?);
        Ok(())
    })
}

/// Copies `config` into a new handle in `*out`, freed with `yk_cluster_config_free`.
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_clone(
    config: *const yk_cluster_config,
    out: *mut *mut yk_cluster_config,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let config = handle(config, "config")?;
        write_handle(out, yk_cluster_config::from_config(config.config.clone())?);
        Ok(())
    })
}

/// The cluster type. Owned by `config`; NULL when `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_type(config: *const yk_cluster_config) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(handle(config, "config")?.cluster_type.as_ptr())
    })
}

/// The cluster name. Owned by `config`; NULL when `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_name(config: *const yk_cluster_config) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(handle(config, "config")?.name.as_ptr())
    })
}

/// The brokers, comma-separated, empty entries removed. Owned by `config`;
/// NULL when `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_broker_list(config: *const yk_cluster_config) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(handle(config, "config")?.broker_list.as_ptr())
    })
}

/// The ZooKeeper connect string as given, chroot included. Owned by
/// `config`; NULL when `config` is NULL.
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_zookeeper(config: *const yk_cluster_config) -> *const c_char {
    boundary_value(function_name!(), std::ptr::null(), || {
        Ok(handle(config, "config")?.zookeeper.as_ptr())
    })
}

/// Whether two configurations describe the same cluster: same type and
/// name, the same brokers and ZooKeeper hosts in any order, the same chroot.
/// False when either is NULL (with the last error set).
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_equal(a: *const yk_cluster_config, b: *const yk_cluster_config) -> bool {
    boundary_value(function_name!(), false, || {
        Ok(handle(a, "a")?.config == handle(b, "b")?.config)
    })
}

/// Frees a cluster configuration. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_cluster_config_free(config: *mut yk_cluster_config) {
    free_handle(config, function_name!());
}
