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
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ClusterConfig;
use crate::error::{Error, Result};

/// Where the Python library looks for topology files.
pub const DEFAULT_TOPOLOGY_DIR: &str = "/nail/etc/kafka_discovery";

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
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::configuration(format!("topology file {}: {e}", path.display())))?;
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
}
