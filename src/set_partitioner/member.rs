//! The engine side of a partitioner: kazoo's `SetPartitioner` protocol
//! over one ZooKeeper session.
//!
//! Owns the session, the party node and the lock nodes. One task runs
//! four things at once: the allocation loop (wait until the party stays
//! unchanged for the cooldown, take the locks of this member's share, hold
//! them until the party or the partition set changes, wait for the holder
//! to release, give the locks up), the session watch (suspend on a lost
//! connection, fail when it stays lost or the session expires), the
//! session confirmation (a round trip every sixth of the session timeout
//! and after every change of the connection, so that the holder knows how
//! fresh its word from ZooKeeper is), and the wait for a graceful leave. It never calls the holder: it only changes
//! the shared status.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Acls, Client, CreateMode, SessionState, StateWatcher, WatchedEvent};

use super::layout;
use super::{PartitionState, SetPartitionerSettings, Shared};
use crate::error::{Error, ErrorCode, Result};
use crate::sync::Locking;
use crate::zk;

/// The nodes this member owns now, full paths.
struct OwnedNodes {
    party_node: String,
    locks: Vec<String>,
}

/// Creates the group's directories (and the chroot) and joins the party;
/// returns the party node's path.
pub(super) async fn join(client: &Client, settings: &SetPartitionerSettings) -> Result<String> {
    let directories = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for directory in [party_path(settings), locks_path(settings)] {
        client
            .mkdir(&directory, &directories)
            .await
            .map_err(|e| zk::error(ErrorCode::PartitionerZookeeper, format!("mkdir {directory}"), e))?;
    }
    create_party_node(client, settings).await
}

async fn create_party_node(client: &Client, settings: &SetPartitionerSettings) -> Result<String> {
    let path = format!(
        "{}/{}",
        party_path(settings),
        layout::party_node_name(&settings.identifier)
    );
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    client
        .create(&path, b"", &ephemeral)
        .await
        .map_err(|e| zk::error(ErrorCode::PartitionerZookeeper, format!("create {path}"), e))?;
    Ok(path)
}

fn party_path(settings: &SetPartitionerSettings) -> String {
    format!("{}/party", settings.group_path)
}

fn locks_path(settings: &SetPartitionerSettings) -> String {
    format!("{}/locks", settings.group_path)
}

/// The member task: allocates until it fails or is asked to leave; on
/// leaving, gives up its locks and its party node. The session ends when
/// the task does (it holds the last client).
pub(super) async fn run(client: Client, shared: Arc<Shared>, settings: SetPartitionerSettings, party_node: String) {
    let owned = Mutex::new(OwnedNodes {
        party_node,
        locks: Vec::new(),
    });
    let mut leaving = shared.leaving.subscribe();
    let outcome = tokio::select! {
        error = allocate_forever(&client, &shared, &settings, &owned) => Err(error),
        error = watch_session(client.state_watcher(), &shared, settings.session_timeout) => Err(error),
        never = confirm_session(&client, &shared, &settings) => match never {},
        _ = leaving.wait_for(|leaving| *leaving) => Ok(()),
    };
    match outcome {
        Ok(()) => {
            let (locks, party_node) = {
                let mut owned = owned.locked();
                (std::mem::take(&mut owned.locks), owned.party_node.clone())
            };
            // Each node on its own, so that one failed delete does not keep
            // the others until the session ends (the successor would wait
            // for the session to expire); the session's end removes whatever is left.
            for node in locks.iter().chain([&party_node]) {
                let _ = delete_nodes(&client, std::slice::from_ref(node)).await;
            }
        }
        Err(error) => shared.fail(error),
    }
}

/// A one-shot ZooKeeper watch that can be awaited again after a cancelled
/// wait, and stays fired once it fired.
struct ChangeWatch {
    pending: Option<Pin<Box<dyn Future<Output = WatchedEvent> + Send>>>,
}

impl ChangeWatch {
    fn new(watcher: zookeeper_client::OneshotWatcher) -> ChangeWatch {
        ChangeWatch {
            pending: Some(Box::pin(watcher.changed())),
        }
    }

    async fn fired(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            pending.await;
            self.pending = None;
        }
    }
}

/// Why an allocation stopped early.
enum Interrupted {
    /// The party changed.
    Membership,
    /// The partition set changed: rejoin the party.
    PartitionSet,
}

/// ALLOCATING → ACQUIRED → RELEASE → ALLOCATING, forever; returns only
/// with the error that ends the member.
async fn allocate_forever(
    client: &Client,
    shared: &Shared,
    settings: &SetPartitionerSettings,
    owned: &Mutex<OwnedNodes>,
) -> Error {
    let mut set_version = shared.set_version.subscribe();
    let mut releases = shared.releases.subscribe();
    loop {
        shared.set_state(PartitionState::Allocating);
        let base_version = *set_version.borrow_and_update();
        let outcome = async {
            let (members, mut membership) = stable_party(client, settings, &mut set_version, base_version).await?;
            let Some(members) = members else {
                return Ok(Interrupted::PartitionSet);
            };
            let identifiers: Vec<&str> = members.iter().map(|child| layout::member_identifier(child)).collect();
            let own_node = owned.locked().party_node.clone();
            if !members.iter().any(|child| own_node.ends_with(&format!("/{child}"))) {
                return Err(Error::new(
                    ErrorCode::Partitioner,
                    format!("this member's party node {own_node} is gone"),
                ));
            }
            let partitions = shared.partitions();
            let share = layout::allocate(&settings.identifier, &identifiers, &partitions)
                .expect("this member's identifier is in the party");
            if let Some(interrupted) = acquire_locks(
                client,
                settings,
                &share,
                owned,
                &mut membership,
                &mut set_version,
                base_version,
            )
            .await?
            {
                return Ok(interrupted);
            }
            shared.acquired(share);
            let interrupted = tokio::select! {
                _ = membership.fired() => Interrupted::Membership,
                _ = set_version.wait_for(|version| *version != base_version) => Interrupted::PartitionSet,
            };
            // Wait for the holder to give the partitions up before the locks
            // go. The count is read before the holder can see Release, so a
            // quick release is not mistaken for an old one.
            let base_releases = *releases.borrow_and_update();
            shared.set_state(PartitionState::Release);
            let _ = releases.wait_for(|count| *count != base_releases).await;
            Ok(interrupted)
        }
        .await;
        let interrupted = match outcome {
            Ok(interrupted) => interrupted,
            Err(error) => return error,
        };
        let locks = std::mem::take(&mut owned.locked().locks);
        if let Err(error) = delete_nodes(client, &locks).await {
            return error;
        }
        if let Interrupted::PartitionSet = interrupted {
            if let Err(error) = rejoin(client, settings, owned).await {
                return error;
            }
        }
    }
}

/// Leaves the party and joins it again with a new node (the Python
/// library re-creates its partitioner when the partition set changes).
async fn rejoin(client: &Client, settings: &SetPartitionerSettings, owned: &Mutex<OwnedNodes>) -> Result<()> {
    let old = owned.locked().party_node.clone();
    delete_nodes(client, &[old]).await?;
    let new = create_party_node(client, settings).await?;
    owned.locked().party_node = new;
    Ok(())
}

/// kazoo's `PatientChildrenWatch`: the party's children once they stayed
/// unchanged for the cooldown, with a watch for the next change; `None`
/// when the partition set changed meanwhile.
async fn stable_party(
    client: &Client,
    settings: &SetPartitionerSettings,
    set_version: &mut tokio::sync::watch::Receiver<u64>,
    base_version: u64,
) -> Result<(Option<Vec<String>>, ChangeWatch)> {
    let party = party_path(settings);
    loop {
        let (children, _, watcher) = client
            .get_and_watch_children(&party)
            .await
            .map_err(|e| zk::error(ErrorCode::PartitionerZookeeper, format!("list {party}"), e))?;
        let mut change = ChangeWatch::new(watcher);
        tokio::select! {
            _ = tokio::time::sleep(settings.cooldown) => return Ok((Some(children), change)),
            _ = change.fired() => continue,
            _ = set_version.wait_for(|version| *version != base_version) => return Ok((None, change)),
        }
    }
}

/// Takes the lock of every partition of `share`, in order (kazoo's `Lock`:
/// an ephemeral sequential contender node; the lowest sequence holds; the
/// others watch the next lower one). Gives up, keeping what it took in
/// `owned` for the caller to delete, when the party or the set changes.
async fn acquire_locks(
    client: &Client,
    settings: &SetPartitionerSettings,
    share: &[String],
    owned: &Mutex<OwnedNodes>,
    membership: &mut ChangeWatch,
    set_version: &mut tokio::sync::watch::Receiver<u64>,
    base_version: u64,
) -> Result<Option<Interrupted>> {
    let directories = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let contender = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    for partition in share {
        let directory = format!("{}/{partition}", locks_path(settings));
        client
            .mkdir(&directory, &directories)
            .await
            .map_err(|e| zk::error(ErrorCode::PartitionerZookeeper, format!("mkdir {directory}"), e))?;
        let prefix = format!("{directory}/{}", layout::lock_node_prefix());
        let (_, sequence) = client
            .create(&prefix, settings.identifier.as_bytes(), &contender)
            .await
            .map_err(|e| zk::error(ErrorCode::PartitionerZookeeper, format!("create {prefix}"), e))?;
        let node = format!("{prefix}{sequence}");
        owned.locked().locks.push(node.clone());
        let own_name = &node[directory.len() + 1..];
        loop {
            let children = client
                .list_children(&directory)
                .await
                .map_err(|e| zk::error(ErrorCode::PartitionerZookeeper, format!("list {directory}"), e))?;
            if !children.iter().any(|child| child == own_name) {
                return Err(Error::new(
                    ErrorCode::Partitioner,
                    format!("lock contender {node} is gone"),
                ));
            }
            let Some(predecessor) = layout::lock_predecessor(&children, own_name) else {
                break;
            };
            let predecessor = format!("{directory}/{predecessor}");
            let (stat, watcher) = client
                .check_and_watch_stat(&predecessor)
                .await
                .map_err(|e| zk::error(ErrorCode::PartitionerZookeeper, format!("watch {predecessor}"), e))?;
            if stat.is_none() {
                continue;
            }
            tokio::select! {
                _ = watcher.changed() => {}
                _ = membership.fired() => return Ok(Some(Interrupted::Membership)),
                _ = set_version.wait_for(|version| *version != base_version) => {
                    return Ok(Some(Interrupted::PartitionSet))
                }
            }
        }
    }
    Ok(None)
}

async fn delete_nodes(client: &Client, paths: &[String]) -> Result<()> {
    for path in paths {
        match client.delete(path, None).await {
            Ok(()) | Err(zookeeper_client::Error::NoNode) => {}
            Err(e) => return Err(zk::error(ErrorCode::PartitionerZookeeper, format!("delete {path}"), e)),
        }
    }
    Ok(())
}

/// Confirms the session with a round trip (a stat of the group's node)
/// every sixth of the session timeout, and at once after every change of
/// the connection, such as the reconnect after a pause: each answer tells
/// the holder that the session lived when the request was sent. Failed or
/// unanswered requests confirm nothing; losing the session is
/// [`watch_session`]'s to report.
async fn confirm_session(client: &Client, shared: &Shared, settings: &SetPartitionerSettings) -> Infallible {
    let period = settings.session_timeout / 6;
    let mut states = client.state_watcher();
    loop {
        if client.state().is_terminated() {
            // Nothing left to confirm; a terminated watcher would answer at
            // once forever.
            std::future::pending::<()>().await;
        }
        let sent = std::time::Instant::now();
        if let Ok(Ok(_)) = tokio::time::timeout(period, client.check_stat(&settings.group_path)).await {
            shared.confirm(sent);
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = states.changed() => {}
        }
    }
}

/// Follows the session: suspends the member while the connection is down
/// and returns the error that ends it when the session expires, is closed,
/// or stays without a connection for two thirds of the session timeout
/// (so that the holder stops before the server can expire the session and
/// hand its partitions to someone else).
async fn watch_session(mut states: StateWatcher, shared: &Shared, session_timeout: Duration) -> Error {
    let grace = session_timeout * 2 / 3;
    let mut disconnected_since: Option<Instant> = None;
    let mut state = states.state();
    loop {
        match state {
            SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                return Error::new(ErrorCode::Partitioner, format!("ZooKeeper session lost ({state:?})"));
            }
            SessionState::Disconnected => {
                disconnected_since.get_or_insert_with(Instant::now);
                shared.suspend(true);
            }
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
                disconnected_since = None;
                shared.suspend(false);
            }
        }
        state = match disconnected_since {
            None => states.changed().await,
            Some(since) => tokio::select! {
                next = states.changed() => next,
                _ = tokio::time::sleep_until(since + grace) => {
                    return Error::new(
                        ErrorCode::Partitioner,
                        format!("ZooKeeper connection lost for {grace:?} (session timeout {session_timeout:?})"),
                    );
                }
            },
        };
    }
}
