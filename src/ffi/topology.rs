//! `yk_topology`: the clusters of one type, from `<dir>/<cluster_type>.yaml`.

use std::ffi::c_char;
use std::path::Path;

use crate::discovery::topology::{Topology, DEFAULT_TOPOLOGY_DIR};
use crate::error::{ErrorCode, Result};
use crate::ffi::arguments::{c_str, check_index, check_out, optional_c_str};
use crate::ffi::boundary::{boundary, boundary_value, function_name};
use crate::ffi::cluster_config::yk_cluster_config;
use crate::ffi::handles::{free_handle, handle, write_handle, Boxed, Handle, MadeIn};

/// A loaded topology file: every cluster of one cluster type.
/// Read-only once made: usable from several threads at once.
pub struct yk_topology {
    clusters: Vec<yk_cluster_config>,
    topology: Topology,
}

impl Handle for yk_topology {
    type Ownership = Boxed;

    fn made_in(&self) -> Option<&MadeIn> {
        None
    }
}

/// Loads `<dir>/<cluster_type>.yaml` (`dir` NULL: `/nail/etc/kafka_discovery`,
/// as the Python library) into `*out`. A missing or malformed file, or an
/// invalid cluster entry, is `YK_ERROR_CONFIGURATION` naming the file. So
/// is anything but a regular file (symlinks are followed: a FIFO or a
/// device is refused, never read) and a file over 1 MiB; the message says
/// which (docs/discovery.md).
/// Free the result with `yk_topology_free`. `*out` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn yk_topology_load(
    dir: *const c_char,
    cluster_type: *const c_char,
    out: *mut *mut yk_topology,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let dir = optional_c_str(dir, "dir")?.unwrap_or(DEFAULT_TOPOLOGY_DIR);
        let topology = Topology::load(Path::new(dir), c_str(cluster_type, "cluster_type")?)?;
        let clusters = topology
            .all_clusters()
            .iter()
            .map(|c| yk_cluster_config::from_config(c.clone()))
            .collect::<Result<_>>()?;
        write_handle(out, yk_topology { clusters, topology });
        Ok(())
    })
}

/// How many clusters the topology has (0 when `topology` is NULL).
#[no_mangle]
pub unsafe extern "C" fn yk_topology_cluster_count(topology: *const yk_topology) -> usize {
    boundary_value(function_name!(), 0, || Ok(handle(topology, "topology")?.clusters.len()))
}

/// The cluster at `index` (clusters are sorted by name), owned by the
/// topology; NULL on a bad argument. This is `get_all_clusters`.
#[no_mangle]
pub unsafe extern "C" fn yk_topology_cluster(topology: *const yk_topology, index: usize) -> *const yk_cluster_config {
    boundary_value(function_name!(), std::ptr::null(), || {
        let clusters = &handle(topology, "topology")?.clusters;
        Ok(&clusters[check_index(index, clusters.len(), "cluster index")?] as *const _)
    })
}

/// Copies the cluster called `name` into `*out` (free with
/// `yk_cluster_config_free`); `YK_ERROR_CONFIGURATION` when there is none.
#[no_mangle]
pub unsafe extern "C" fn yk_topology_cluster_by_name(
    topology: *const yk_topology,
    name: *const c_char,
    out: *mut *mut yk_cluster_config,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let topology = handle(topology, "topology")?;
        let cluster = topology.topology.cluster_by_name(c_str(name, "name")?)?;
        write_handle(out, yk_cluster_config::from_config(cluster.clone())?);
        Ok(())
    })
}

/// Copies the cluster that `local_config` names into `*out` (free with
/// `yk_cluster_config_free`); `YK_ERROR_CONFIGURATION` when the file has no
/// local cluster or names an undefined one.
#[no_mangle]
pub unsafe extern "C" fn yk_topology_local_cluster(
    topology: *const yk_topology,
    out: *mut *mut yk_cluster_config,
) -> ErrorCode {
    boundary(function_name!(), || {
        check_out(out, "out")?;
        let cluster = handle(topology, "topology")?.topology.local_cluster()?;
        write_handle(out, yk_cluster_config::from_config(cluster.clone())?);
        Ok(())
    })
}

/// Frees a topology and the clusters it owns. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn yk_topology_free(topology: *mut yk_topology) {
    free_handle(topology, function_name!());
}
