//! Topology files: `<dir>/<cluster_type>.yaml` names the clusters of one type
//! and which of them is local to this host.
//!
//! ```yaml
//! clusters:
//!   cluster1:
//!     broker_list: ["kafka1:9092", "kafka2:9092"]
//!     zookeeper: "zk1:2181,zk2:2181/kafka-1"
//! local_config:
//!   cluster: cluster1
//! ```

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use serde::Deserialize;

use crate::config::ClusterConfig;
use crate::error::{Error, Result};

/// Where the Python library looks for topology files.
pub const DEFAULT_TOPOLOGY_DIR: &str = "/nail/etc/kafka_discovery";

/// The largest topology file read, 1 MiB (docs/discovery.md): real ones
/// are a few KiB, and the cap bounds what a wrong path can make us allocate.
pub const MAX_TOPOLOGY_FILE_BYTES: u64 = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    clusters: BTreeMap<String, ClusterEntry>,
    local_config: Option<LocalConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterEntry {
    broker_list: Vec<String>,
    zookeeper: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalConfig {
    cluster: String,
}

/// The clusters of one cluster type, as a topology file lists them.
#[derive(Debug, Clone)]
pub struct Topology {
    path: PathBuf,
    clusters: Vec<ClusterConfig>,
    local_cluster: Option<String>,
}

impl Topology {
    /// Reads `<dir>/<cluster_type>.yaml`. A missing or malformed file, or a
    /// cluster entry that is not a valid cluster, is a `ConfigurationError`.
    pub fn load(dir: &Path, cluster_type: &str) -> Result<Topology> {
        if cluster_type.is_empty() || cluster_type.contains('/') {
            return Err(Error::configuration(format!(
                "cluster type {cluster_type:?} is not a file name"
            )));
        }
        let path = dir.join(format!("{cluster_type}.yaml"));
        let text = read_topology_file(&path)?;
        let file: TopologyFile = serde_saphyr::from_str(&text)
            .map_err(|e| Error::configuration(format!("topology file {} is malformed: {e}", path.display())))?;
        let clusters = file
            .clusters
            .iter()
            .map(|(name, entry)| {
                ClusterConfig::new(cluster_type, name, &entry.broker_list, &entry.zookeeper)
                    .map_err(|e| e.context(format!("topology file {}", path.display())))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Topology {
            path,
            clusters,
            local_cluster: file.local_config.map(|l| l.cluster),
        })
    }

    /// Every cluster of the file, sorted by name.
    pub fn all_clusters(&self) -> &[ClusterConfig] {
        &self.clusters
    }

    /// The cluster called `name`, or a `ConfigurationError`.
    pub fn cluster_by_name(&self, name: &str) -> Result<&ClusterConfig> {
        self.clusters
            .iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| Error::configuration(format!("no cluster with name {name:?} in {}", self.path.display())))
    }

    /// The cluster `local_config` names, or a `ConfigurationError` when the
    /// file has no local cluster or names one it does not define.
    pub fn local_cluster(&self) -> Result<&ClusterConfig> {
        let name = self.local_cluster.as_deref().ok_or_else(|| {
            Error::configuration(format!(
                "no default local cluster config available in {}",
                self.path.display()
            ))
        })?;
        self.cluster_by_name(name)
            .map_err(|_| Error::configuration(format!("invalid local cluster {name:?} in {}", self.path.display())))
    }
}

/// The text of the topology file at `path` (symlinks followed), refused
/// with a `ConfigurationError` naming the file and the reason unless it is
/// a regular file of at most [`MAX_TOPOLOGY_FILE_BYTES`]: a FIFO would
/// block the load for ever and a device such as `/dev/zero` would be read
/// until memory runs out.
fn read_topology_file(path: &Path) -> Result<String> {
    let refuse = |why: String| Error::configuration(format!("topology file {}: {why}", path.display()));
    // Opening a FIFO for reading waits for a writer unless non-blocking;
    // the flag changes nothing for a regular file. The type is checked on
    // the opened file, so a path swapped after the check cannot slip by.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| refuse(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| refuse(e.to_string()))?;
    if !metadata.is_file() {
        return Err(refuse(format!("is not a regular file ({:?})", metadata.file_type())));
    }
    let too_big = || refuse(format!("is larger than {MAX_TOPOLOGY_FILE_BYTES} bytes"));
    if metadata.len() > MAX_TOPOLOGY_FILE_BYTES {
        return Err(too_big());
    }
    let mut text = String::new();
    file.take(MAX_TOPOLOGY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| refuse(e.to_string()))?;
    // The file may have grown since its size was read.
    if text.len() as u64 > MAX_TOPOLOGY_FILE_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("yk-topology-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_clusters_and_the_local_one() {
        let dir = temp_dir("ok");
        write(
            &dir,
            "standard.yaml",
            "clusters:\n  c2:\n    broker_list: [\"b3:9092\"]\n    zookeeper: \"z:2181/k2\"\n  c1:\n    broker_list:\n      - b1:9092\n      - b2:9092\n    zookeeper: z:2181/k1\nlocal_config:\n  cluster: c1\n",
        );
        let topology = Topology::load(&dir, "standard").unwrap();
        let names: Vec<&str> = topology.all_clusters().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["c1", "c2"]);
        let local = topology.local_cluster().unwrap();
        assert_eq!(local.name(), "c1");
        assert_eq!(local.cluster_type(), "standard");
        assert_eq!(local.broker_list(), ["b1:9092", "b2:9092"]);
        assert_eq!(topology.cluster_by_name("c2").unwrap().zookeeper(), "z:2181/k2");
        assert_eq!(
            topology.cluster_by_name("nope").unwrap_err().code(),
            ErrorCode::Configuration
        );
    }

    #[test]
    fn missing_and_malformed_files_are_configuration_errors() {
        let dir = temp_dir("bad");
        let missing = Topology::load(&dir, "absent").unwrap_err();
        assert_eq!(missing.code(), ErrorCode::Configuration);
        assert!(missing.message().contains("absent.yaml"));
        write(&dir, "broken.yaml", "clusters: [this is: not a map\n");
        assert_eq!(
            Topology::load(&dir, "broken").unwrap_err().code(),
            ErrorCode::Configuration
        );
        write(&dir, "nobrokers.yaml", "clusters:\n  c1:\n    zookeeper: z:1\n");
        assert_eq!(
            Topology::load(&dir, "nobrokers").unwrap_err().code(),
            ErrorCode::Configuration
        );
        write(
            &dir,
            "nolocal.yaml",
            "clusters:\n  c1:\n    broker_list: [\"b:1\"]\n    zookeeper: z:1\n",
        );
        let topology = Topology::load(&dir, "nolocal").unwrap();
        assert_eq!(topology.local_cluster().unwrap_err().code(), ErrorCode::Configuration);
        write(
            &dir,
            "badlocal.yaml",
            "clusters:\n  c1:\n    broker_list: [\"b:1\"]\n    zookeeper: z:1\nlocal_config:\n  cluster: c9\n",
        );
        let topology = Topology::load(&dir, "badlocal").unwrap();
        assert!(topology.local_cluster().unwrap_err().message().contains("c9"));
    }

    /// Loads `cluster_type` from `dir` on another thread, so that a load
    /// that hangs fails the test instead of blocking it.
    fn load_within_seconds(dir: &Path, cluster_type: &str) -> Result<Topology> {
        let (dir, cluster_type) = (dir.to_path_buf(), cluster_type.to_string());
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(Topology::load(&dir, &cluster_type)));
        result
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the load returns within 10 s")
    }

    #[test]
    fn only_regular_files_up_to_the_cap_are_read() {
        let dir = temp_dir("guard");
        let fifo = dir.join("fifo.yaml");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let zero = dir.join("zero.yaml");
        let _ = std::fs::remove_file(&zero);
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let cap = MAX_TOPOLOGY_FILE_BYTES as usize;
        let padding = |bytes: usize| format!("clusters: {{}}\n{}", "#".repeat(bytes - "clusters: {}\n".len()));
        write(&dir, "big.yaml", &padding(cap + 1));
        write(&dir, "atcap.yaml", &padding(cap));
        for (cluster_type, why) in [
            ("fifo", "not a regular file"),
            ("zero", "not a regular file"),
            ("big", "larger than 1048576 bytes"),
        ] {
            let error = load_within_seconds(&dir, cluster_type).unwrap_err();
            assert_eq!(error.code(), ErrorCode::Configuration, "{cluster_type}: {error}");
            assert!(error.message().contains(&format!("{cluster_type}.yaml")), "{error}");
            assert!(error.message().contains(why), "{error}");
        }
        assert!(load_within_seconds(&dir, "atcap").unwrap().all_clusters().is_empty());
    }
}
