//! Offsets in ZooKeeper at the classic layout of Kafka 0.8 consumers and the
//! Python library: `<chroot>/consumers/<group>/offsets/<topic>/<partition>`
//! holding the next offset to read as decimal text.
//!
//! Owns one ZooKeeper session per store, opened on first use and opened
//! again after it expired. Requests for many partitions are all sent before
//! the first answer is awaited (the client pipelines them).

use std::collections::BTreeMap;
use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode};

use crate::error::{Error, ErrorCode, Result};
use crate::topic_partition::TopicPartition;
use crate::zk::{self, SESSION_TIMEOUT};

/// The classic offset nodes of one group in one ensemble.
pub struct ZookeeperOffsets {
    hosts: String,
    base: String,
    timeout: Duration,
    session: tokio::sync::Mutex<Option<Client>>,
}

impl ZookeeperOffsets {
    /// Offsets of `group` in the ensemble `hosts` under `chroot` (the
    /// cluster's, if any); every operation finishes within `timeout`.
    pub fn new(hosts: &str, chroot: Option<&str>, group: &str, timeout: Duration) -> ZookeeperOffsets {
        ZookeeperOffsets {
            hosts: hosts.to_string(),
            base: format!("{}/consumers/{group}/offsets", chroot.unwrap_or("")),
            timeout,
            session: tokio::sync::Mutex::new(None),
        }
    }

    /// The node of one partition's offset.
    pub fn path(&self, topic: &str, partition: i32) -> String {
        format!("{}/{topic}/{partition}", self.base)
    }

    async fn client(&self) -> Result<Client> {
        let mut session = self.session.lock().await;
        if let Some(client) = session.as_ref().filter(|c| !c.state().is_terminated()) {
            return Ok(client.clone());
        }
        let client = zk::connect(&self.hosts, SESSION_TIMEOUT, self.timeout).await?;
        *session = Some(client.clone());
        Ok(client)
    }

    /// The stored offsets of `partitions`; `None` where no node exists.
    pub async fn fetch(&self, partitions: &[TopicPartition]) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        self.within_timeout("reading offsets", async {
            let client = self.client().await?;
            let paths: Vec<String> = partitions
                .iter()
                .map(|key| self.path(key.topic.as_str(), key.partition))
                .collect();
            let pending: Vec<_> = paths.iter().map(|path| client.get_data(path)).collect();
            let mut offsets = BTreeMap::new();
            for ((key, path), answer) in partitions.iter().zip(&paths).zip(pending) {
                let offset = match answer.await {
                    Ok((data, _)) => Some(parse_offset(&data).ok_or_else(|| {
                        Error::new(
                            ErrorCode::Protocol,
                            format!(
                                "ZooKeeper node {path} holds {:?}, not an offset",
                                String::from_utf8_lossy(&data)
                            ),
                        )
                    })?),
                    Err(zookeeper_client::Error::NoNode) => None,
                    Err(e) => return Err(zk::error(ErrorCode::Transport, format!("get {path}"), e)),
                };
                offsets.insert(key.clone(), offset);
            }
            Ok(offsets)
        })
        .await
    }

    /// Writes `offsets`, creating missing nodes (and their parents).
    pub async fn commit(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.within_timeout("writing offsets", async {
            let client = self.client().await?;
            let writes: Vec<(String, Vec<u8>)> = offsets
                .iter()
                .map(|(key, offset)| {
                    (
                        self.path(key.topic.as_str(), key.partition),
                        offset.to_string().into_bytes(),
                    )
                })
                .collect();
            let pending: Vec<_> = writes
                .iter()
                .map(|(path, data)| client.set_data(path, data, None))
                .collect();
            for ((path, data), answer) in writes.iter().zip(pending) {
                match answer.await {
                    Ok(_) => {}
                    Err(zookeeper_client::Error::NoNode) => create_offset_node(&client, path, data).await?,
                    Err(e) => return Err(zk::error(ErrorCode::OffsetCommit, format!("set {path}"), e)),
                }
            }
            Ok(())
        })
        .await
    }

    async fn within_timeout<T>(&self, what: &str, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorCode::TimedOut,
                format!("ZooKeeper {}: {what} took longer than {:?}", self.hosts, self.timeout),
            ))
        })
    }
}

async fn create_offset_node(client: &Client, path: &str, data: &[u8]) -> Result<()> {
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let parent = &path[..path.rfind('/').expect("offset paths have a parent")];
    client
        .mkdir(parent, &options)
        .await
        .map_err(|e| zk::error(ErrorCode::OffsetCommit, format!("mkdir {parent}"), e))?;
    match client.create(path, data, &options).await {
        Ok(_) => Ok(()),
        // Another committer of the group created it meanwhile: write over it.
        Err(zookeeper_client::Error::NodeExists) => client
            .set_data(path, data, None)
            .await
            .map(|_| ())
            .map_err(|e| zk::error(ErrorCode::OffsetCommit, format!("set {path}"), e)),
        Err(e) => Err(zk::error(ErrorCode::OffsetCommit, format!("create {path}"), e)),
    }
}

/// The Python library and Kafka 0.8 write the offset as decimal text.
fn parse_offset(data: &[u8]) -> Option<i64> {
    std::str::from_utf8(data).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_decimal_text_at_the_classic_path() {
        let store = ZookeeperOffsets::new("zk:2181", Some("/kafka-1"), "g", Duration::from_secs(1));
        assert_eq!(store.path("t", 3), "/kafka-1/consumers/g/offsets/t/3");
        let unrooted = ZookeeperOffsets::new("zk:2181", None, "g", Duration::from_secs(1));
        assert_eq!(unrooted.path("t", 0), "/consumers/g/offsets/t/0");
        assert_eq!(parse_offset(b"42"), Some(42));
        assert_eq!(parse_offset(b" 7\n"), Some(7));
        assert_eq!(parse_offset(b"x"), None);
    }
}
