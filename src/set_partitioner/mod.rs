//! The ZooKeeper partitioner (docs/consumer-groups.md): a member of a party that splits a
//! set of partition names with the other members, by kazoo's
//! `SetPartitioner` protocol and layout ([`layout`]), so that Python
//! members and ours can share a group.
//!
//! Owns one ZooKeeper session, its party node and its lock nodes. The
//! protocol runs on the engine ([`member`]); the holder of the partitions
//! (the consumer group) talks to it from its own thread through
//! [`SetPartitioner::instruction`] and [`SetPartitioner::released`], so that
//! everything the holder does in response — callbacks, commits — happens
//! on the holder's thread. States, as in kazoo: ALLOCATING → ACQUIRED →
//! RELEASE → ALLOCATING, and FAILURE when the session is lost, which is
//! final. While the connection is down but the session may live, the
//! partitioner is *suspended*: the holder must not hand out messages.
//!
//! Neither may it hand out or commit anything while the session is in
//! doubt: the member confirms its session with a ZooKeeper round trip
//! every sixth of the session timeout, and the holder may act only while
//! the last confirmed round trip was sent less than two thirds of the
//! session timeout ago (like the Java client's session handling), on the
//! monotonic clock. The server cannot expire the session before the send
//! time of its last answered request plus the session timeout, so no other
//! member can own our partitions meanwhile; and a process that was
//! paused (SIGSTOP, a long GC-like stall) finds its confirmation old and
//! waits for a new round trip before it acts again (docs/consumer-groups.md).
//!
//! The holder asks before every message, and the answer is nearly always
//! the same: `Continue`, and it may hand out messages until the trust in
//! the last confirmation runs out. So that the question need not take the
//! status lock each time, the partitioner gives that answer a standing
//! form ([`StandingVouch`]: the status's change count when it answered,
//! and the end of the trust window), and counts every change of the status
//! that can alter the answer ([`crate::vouch::ChangeCount`],
//! [`SetPartitioner::vouch_stands`]). The holder that keeps the standing
//! answer asks again under the lock as soon as anything changed or the
//! window's end passed.

pub mod layout;
mod member;

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::sync::{wait_for_change, Locking};
use crate::vouch::ChangeCount;
pub use crate::vouch::{StandingVouch, Vouch};
use crate::zk;

/// How a member joins: where, as whom, and its timings.
#[derive(Debug, Clone)]
pub struct SetPartitionerSettings {
    /// The ensemble, `h1:2181,h2:2181`, without chroot.
    pub zookeeper_hosts: String,
    /// The group's node, chroot included ([`layout::group_path`]).
    pub group_path: String,
    /// This member's identifier, unique in the party ([`layout::unique_identifier`]).
    pub identifier: String,
    /// How long membership must stay unchanged before allocation.
    pub cooldown: Duration,
    /// The ZooKeeper session timeout asked for.
    pub session_timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

/// The partitioner's state, as kazoo names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionState {
    /// Waiting for a stable membership, then taking the locks of the allocation.
    Allocating,
    /// Every lock of the allocation is held.
    Acquired,
    /// Membership (or the partition set) changed: the holder must give up
    /// its partitions and call [`SetPartitioner::released`].
    Release,
    /// The session is lost or a ZooKeeper operation failed; final.
    Failure,
}

/// What the holder of the partitions must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// Nothing new.
    Continue,
    /// A new allocation is held: consume these partition names (maybe none).
    Acquire(Vec<String>),
    /// Give up every partition (commit first), then call [`SetPartitioner::released`].
    Release,
    /// Stop consuming at once and report this error; the partitioner is done.
    Fail(Error),
}

/// What the engine side and the holder share.
struct Status {
    state: PartitionState,
    /// The allocation held in `Acquired`.
    acquired: Vec<String>,
    /// Counts acquisitions; the holder has seen up to `handed_out`.
    acquisitions: u64,
    handed_out: u64,
    failure: Option<Error>,
    /// The connection is down; the session may still live.
    suspended: bool,
    /// The partition set to split.
    partitions: Vec<String>,
    /// When the latest answered ZooKeeper round trip was sent.
    confirmed_at: Instant,
}

pub(crate) struct Shared {
    status: Mutex<Status>,
    /// Counts the changes of `status`, all but the holder's own taking of
    /// an `Acquire` (see [`SetPartitioner::instruction_vouched`]): through
    /// [`Shared::change`], or under the lock already held
    /// ([`SetPartitioner::update_partitions`]).
    changes: ChangeCount,
    /// Wakes the holder when `status` changes.
    status_changed: Condvar,
    /// Bumped when the partition set changes.
    set_version: watch::Sender<u64>,
    /// Bumped each time the holder released.
    releases: watch::Sender<u64>,
    /// Set when the member should leave.
    leaving: watch::Sender<bool>,
    /// How old a confirmation may be for the holder to act on it: two
    /// thirds of the session timeout.
    trust: Duration,
}

impl Shared {
    /// A member that joined with a request sent at `confirmed_at`.
    fn new(partitions: Vec<String>, confirmed_at: Instant, session_timeout: Duration) -> Shared {
        let (set_version, _) = watch::channel(0);
        let (releases, _) = watch::channel(0);
        let (leaving, _) = watch::channel(false);
        Shared {
            status: Mutex::new(Status {
                state: PartitionState::Allocating,
                acquired: Vec::new(),
                acquisitions: 0,
                handed_out: 0,
                failure: None,
                suspended: false,
                partitions,
                confirmed_at,
            }),
            changes: ChangeCount::new(),
            status_changed: Condvar::new(),
            set_version,
            releases,
            leaving,
            trust: session_timeout * 2 / 3,
        }
    }

    /// The status, to read; every change goes through [`Shared::change`].
    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.locked()
    }

    /// The status, to change: the change is counted first, while the lock
    /// is held, so that no standing answer given before it stands once it
    /// can be seen ([`ChangeCount`] argues the ordering).
    fn change(&self) -> MutexGuard<'_, Status> {
        let mut status = self.lock();
        self.changes.count(&mut status);
        status
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        let mut status = self.change();
        if status.state == PartitionState::Failure {
            return;
        }
        change(&mut status);
        drop(status);
        self.status_changed.notify_all();
    }

    fn set_state(&self, state: PartitionState) {
        self.update(|status| status.state = state);
    }

    fn acquired(&self, partitions: Vec<String>) {
        self.update(|status| {
            status.state = PartitionState::Acquired;
            status.acquired = partitions;
            status.acquisitions += 1;
        });
    }

    fn suspend(&self, suspended: bool) {
        self.update(|status| status.suspended = suspended);
    }

    fn fail(&self, error: Error) {
        self.update(|status| {
            status.state = PartitionState::Failure;
            status.failure = Some(error);
        });
    }

    fn partitions(&self) -> Vec<String> {
        self.lock().partitions.clone()
    }

    /// A ZooKeeper request sent at `sent` was answered: the session was
    /// alive then.
    fn confirm(&self, sent: Instant) {
        self.update(|status| status.confirmed_at = status.confirmed_at.max(sent));
    }

    /// Whether the last confirmation is recent enough to act on at `now`.
    fn trusted(&self, status: &Status, now: Instant) -> bool {
        now.saturating_duration_since(status.confirmed_at) < self.trust
    }

    /// The first time at which the last confirmation is no longer trusted:
    /// [`Shared::trusted`] holds exactly before it. `None` past the
    /// clock's range.
    fn trusted_until(&self, status: &Status) -> Option<Instant> {
        status.confirmed_at.checked_add(self.trust)
    }
}

/// One member of a partitioned party. The session lives in the member task;
/// dropping the partitioner without [`SetPartitioner::stop`] ends the task and
/// so the session, which frees its nodes too.
pub struct SetPartitioner {
    shared: Arc<Shared>,
    member: Mutex<Option<JoinHandle<()>>>,
    identifier: String,
}

impl SetPartitioner {
    /// Connects to ZooKeeper, creates the group's nodes (and the chroot)
    /// as needed, joins the party and starts allocating `partitions`.
    pub fn start(mut settings: SetPartitionerSettings, partitions: Vec<String>) -> Result<SetPartitioner> {
        check_partitions(&partitions)?;
        let identifier = settings.identifier.clone();
        let (shared, task) = engine::block_on(async {
            let client = zk::connect(
                &settings.zookeeper_hosts,
                settings.session_timeout,
                settings.connect_timeout,
            )
            .await
            .map_err(|e| e.with_code(ErrorCode::Partitioner))?;
            // The server may grant a shorter session than asked for: trust
            // only the shorter of the two.
            settings.session_timeout = settings.session_timeout.min(client.session_timeout());
            let joining = Instant::now();
            let party_node = member::join(&client, &settings).await?;
            let shared = Arc::new(Shared::new(partitions, joining, settings.session_timeout));
            let task = tokio::spawn(zk::WithEngineSpawner::new(member::run(
                client,
                Arc::clone(&shared),
                settings,
                party_node,
            )));
            Ok::<_, Error>((shared, task))
        })??;
        Ok(SetPartitioner {
            shared,
            member: Mutex::new(Some(task)),
            identifier,
        })
    }

    /// This member's identifier.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The current state.
    pub fn state(&self) -> PartitionState {
        self.shared.lock().state
    }

    /// What the holder must do now; an `Acquire` is given once per acquisition.
    pub fn instruction(&self) -> Instruction {
        self.instruction_vouched(Instant::now()).0
    }

    /// [`SetPartitioner::instruction`], and with `Continue` whether the
    /// holder may hand out messages at `now` (a time it read just before),
    /// under one lock: the question a holder asks before every message.
    /// A `Vouch::Until` may be kept and checked with
    /// [`SetPartitioner::vouch_stands`] instead of asking again.
    pub fn instruction_vouched(&self, now: Instant) -> (Instruction, Vouch) {
        let mut status = self.shared.lock();
        let instruction = Self::instruction_in(&mut status);
        if !matches!(instruction, Instruction::Continue) || !self.vouches(&status, now) {
            return (instruction, Vouch::No);
        }
        let until = self.shared.trusted_until(&status);
        (instruction, self.shared.changes.standing(&status, until))
    }

    /// Whether `standing`, given by this partitioner's
    /// [`SetPartitioner::instruction_vouched`], still stands at `now` (a
    /// time the holder read just before): the status has not changed since
    /// it was given, and the confirmation it was given with is still
    /// trusted then. Then asking again would answer `Continue` and vouch
    /// for `now` too. Reads one atomic, no lock ([`ChangeCount`]).
    /// Confirmations since only lengthen the trust, so an end of trust
    /// read earlier is never later than the current one.
    pub fn vouch_stands(&self, standing: &StandingVouch, now: Instant) -> bool {
        self.shared.changes.stands(standing, now)
    }

    fn instruction_in(status: &mut Status) -> Instruction {
        match status.state {
            PartitionState::Failure => Instruction::Fail(
                status
                    .failure
                    .clone()
                    .unwrap_or_else(|| Error::new(ErrorCode::Partitioner, "the partitioner failed")),
            ),
            PartitionState::Release => Instruction::Release,
            // Handing out an acquisition changes the status without
            // counting a change: the answer it turns from `Acquire` to
            // `Continue` was not a standing one.
            PartitionState::Acquired if status.handed_out != status.acquisitions => {
                status.handed_out = status.acquisitions;
                Instruction::Acquire(status.acquired.clone())
            }
            _ => Instruction::Continue,
        }
    }

    /// Whether the holder may hand out messages now: partitions acquired,
    /// the connection up and the session confirmed recently (see the
    /// module doc).
    pub fn may_deliver(&self) -> bool {
        self.may_deliver_at(Instant::now())
    }

    /// [`SetPartitioner::may_deliver`] at `now`, a time the caller read
    /// just before (one clock read may serve a caller's other checks).
    pub fn may_deliver_at(&self, now: Instant) -> bool {
        self.vouches(&self.shared.lock(), now)
    }

    fn vouches(&self, status: &Status, now: Instant) -> bool {
        status.state == PartitionState::Acquired && !status.suspended && self.shared.trusted(status, now)
    }

    /// Whether the holder may commit now: the partitioner has not failed
    /// and the session was confirmed recently, so the partitions held are
    /// still ours. A `PartitionerError` saying why when not.
    pub fn may_commit(&self) -> Result<()> {
        let status = self.shared.lock();
        if status.state == PartitionState::Failure {
            return Err(Error::new(
                ErrorCode::Partitioner,
                "not committing: the partitioner failed, the partitions may be another member's",
            ));
        }
        if !self.shared.trusted(&status, Instant::now()) {
            return Err(Error::new(
                ErrorCode::Partitioner,
                format!(
                    "not committing: the ZooKeeper session was last confirmed {:?} ago (trusted for {:?})",
                    status.confirmed_at.elapsed(),
                    self.shared.trust
                ),
            ));
        }
        Ok(())
    }

    /// Waits up to `timeout` for the state to change (or the connection to
    /// come or go, or the session to be confirmed); returns at once when
    /// there is something to do.
    pub fn wait(&self, timeout: Duration) {
        wait_for_change(
            &self.shared.status_changed,
            self.shared.lock(),
            timeout,
            |status| (status.state, status.suspended, status.acquisitions, status.confirmed_at),
            |status| {
                matches!(status.state, PartitionState::Failure | PartitionState::Release)
                    || (status.state == PartitionState::Acquired && status.handed_out != status.acquisitions)
            },
        );
    }

    /// The holder gave up its partitions after an `Instruction::Release`:
    /// the locks go, and allocation starts again.
    pub fn released(&self) {
        // Allocating from here on, so that the holder is not asked to release again.
        self.shared.update(|status| {
            if status.state == PartitionState::Release {
                status.state = PartitionState::Allocating;
            }
        });
        self.shared.releases.send_modify(|count| *count += 1);
    }

    /// A new partition set (refreshed from Kafka). When it differs from the
    /// one being split, the member leaves the party and joins again, as the
    /// Python library does, so that every member releases and allocates the
    /// new set. An empty set is a `PartitionerError`.
    pub fn update_partitions(&self, mut partitions: Vec<String>) -> Result<()> {
        check_partitions(&partitions)?;
        partitions.sort();
        let mut status = self.shared.lock();
        let mut current = status.partitions.clone();
        current.sort();
        if current != partitions {
            self.shared.changes.count(&mut status);
            status.partitions = partitions;
            drop(status);
            self.shared.set_version.send_modify(|version| *version += 1);
        }
        Ok(())
    }

    /// Leaves the party: the locks go first, then the party node, then the
    /// session, within `timeout`. The holder must have committed and given
    /// up its partitions. Stopping twice is harmless.
    pub fn stop(&self, timeout: Duration) -> Result<()> {
        let Some(task) = self.member.locked().take() else {
            return Ok(());
        };
        self.shared.leaving.send_replace(true);
        let failed = self.state() == PartitionState::Failure;
        // A task aborted past the timeout ends the session: the server
        // drops our nodes.
        let left = engine::join_within(task, timeout, "leaving the party");
        self.shared
            .fail(Error::new(ErrorCode::Partitioner, "the member left the party"));
        if failed {
            return Ok(());
        }
        left
    }
}

impl Drop for SetPartitioner {
    fn drop(&mut self) {
        if let Some(task) = self.member.locked().take() {
            task.abort();
        }
    }
}

fn check_partitions(partitions: &[String]) -> Result<()> {
    if partitions.is_empty() {
        return Err(Error::new(
            ErrorCode::Partitioner,
            "no partitions to split: the group's topics have no partitions in Kafka",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

    /// A partitioner without ZooKeeper, its last confirmation at
    /// `confirmed_at`: the engine side is driven through `shared` by hand.
    fn partitioner_confirmed_at(confirmed_at: Instant) -> SetPartitioner {
        SetPartitioner {
            shared: Arc::new(Shared::new(names(&["t-0", "t-1"]), confirmed_at, SESSION_TIMEOUT)),
            member: Mutex::new(None),
            identifier: "test-member".to_string(),
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    /// A partitioner that acquired `t-0` and was asked again after the
    /// `Acquire`: the standing answer it gave then.
    fn acquired(now: Instant) -> (SetPartitioner, StandingVouch) {
        let partitioner = partitioner_confirmed_at(now);
        partitioner.shared.acquired(names(&["t-0"]));
        assert_eq!(
            partitioner.instruction_vouched(now),
            (Instruction::Acquire(names(&["t-0"])), Vouch::No)
        );
        match partitioner.instruction_vouched(now) {
            (Instruction::Continue, Vouch::Until(standing)) => (partitioner, standing),
            other => panic!("an acquired partitioner answered {other:?}"),
        }
    }

    #[test]
    fn a_standing_vouch_stands_while_nothing_changes_until_the_trust_ends() {
        let now = Instant::now();
        let (partitioner, standing) = acquired(now);
        let until = now + SESSION_TIMEOUT * 2 / 3;
        let just_before = until - Duration::from_nanos(1);
        assert!(partitioner.vouch_stands(&standing, now));
        // The standing answer ends exactly where the locked answer stops vouching.
        assert!(partitioner.vouch_stands(&standing, just_before));
        assert!(partitioner.instruction_vouched(just_before).1.vouched());
        assert!(!partitioner.vouch_stands(&standing, until));
        assert_eq!(
            partitioner.instruction_vouched(until),
            (Instruction::Continue, Vouch::No)
        );
    }

    #[test]
    fn no_standing_vouch_once_the_trust_ran_out() {
        let partitioner = partitioner_confirmed_at(Instant::now());
        partitioner.shared.acquired(names(&["t-0"]));
        let now = Instant::now() + SESSION_TIMEOUT;
        assert!(matches!(
            partitioner.instruction_vouched(now).0,
            Instruction::Acquire(_)
        ));
        assert_eq!(partitioner.instruction_vouched(now), (Instruction::Continue, Vouch::No));
    }

    /// What the locked question answers after an event.
    #[derive(Debug)]
    enum Expected {
        /// This instruction, vouching for nothing.
        Unvouched(Instruction),
        /// `Continue` with a new standing answer.
        VouchedAgain,
    }

    /// After `event`, the standing answer given before it no longer stands,
    /// and asking under the lock answers `expected`.
    fn assert_event_ends_standing(event: &str, change: impl FnOnce(&SetPartitioner), expected: Expected) {
        let now = Instant::now();
        let (partitioner, standing) = acquired(now);
        change(&partitioner);
        assert!(!partitioner.vouch_stands(&standing, now), "{event}: still stands");
        let answer = partitioner.instruction_vouched(now);
        match expected {
            Expected::Unvouched(instruction) => assert_eq!(answer, (instruction, Vouch::No), "{event}"),
            Expected::VouchedAgain => match answer {
                (Instruction::Continue, Vouch::Until(new)) => {
                    assert_ne!(new, standing, "{event}: the old answer again");
                    assert!(partitioner.vouch_stands(&new, now), "{event}");
                }
                other => panic!("{event}: answered {other:?}"),
            },
        }
    }

    #[test]
    fn a_suspension_ends_the_standing_vouch() {
        assert_event_ends_standing(
            "suspended",
            |partitioner| partitioner.shared.suspend(true),
            Expected::Unvouched(Instruction::Continue),
        );
    }

    #[test]
    fn the_end_of_a_suspension_ends_the_standing_vouch() {
        assert_event_ends_standing(
            "resumed",
            |partitioner| partitioner.shared.suspend(false),
            Expected::VouchedAgain,
        );
    }

    #[test]
    fn a_release_ends_the_standing_vouch() {
        assert_event_ends_standing(
            "release",
            |partitioner| partitioner.shared.set_state(PartitionState::Release),
            Expected::Unvouched(Instruction::Release),
        );
    }

    #[test]
    fn the_holders_release_ends_the_standing_vouch() {
        assert_event_ends_standing(
            "released",
            |partitioner| {
                partitioner.shared.set_state(PartitionState::Release);
                assert_eq!(partitioner.instruction(), Instruction::Release);
                partitioner.released();
            },
            Expected::Unvouched(Instruction::Continue),
        );
    }

    #[test]
    fn allocating_again_ends_the_standing_vouch() {
        assert_event_ends_standing(
            "allocating",
            |partitioner| partitioner.shared.set_state(PartitionState::Allocating),
            Expected::Unvouched(Instruction::Continue),
        );
    }

    #[test]
    fn a_new_acquisition_ends_the_standing_vouch() {
        assert_event_ends_standing(
            "acquired",
            |partitioner| partitioner.shared.acquired(names(&["t-1"])),
            Expected::Unvouched(Instruction::Acquire(names(&["t-1"]))),
        );
    }

    #[test]
    fn a_failure_ends_the_standing_vouch() {
        let error = Error::new(ErrorCode::Partitioner, "ZooKeeper session lost (Expired)");
        assert_event_ends_standing(
            "failed",
            |partitioner| partitioner.shared.fail(error.clone()),
            Expected::Unvouched(Instruction::Fail(error.clone())),
        );
    }

    #[test]
    fn a_confirmation_ends_the_standing_vouch_for_a_longer_one() {
        let now = Instant::now();
        let (partitioner, standing) = acquired(now);
        partitioner.shared.confirm(now + Duration::from_secs(1));
        assert!(!partitioner.vouch_stands(&standing, now));
        let old_end = now + SESSION_TIMEOUT * 2 / 3;
        assert!(!partitioner.vouch_stands(&standing, old_end - Duration::from_nanos(1)));
        match partitioner.instruction_vouched(now) {
            (Instruction::Continue, Vouch::Until(new)) => assert!(partitioner.vouch_stands(&new, old_end)),
            other => panic!("a confirmed partitioner answered {other:?}"),
        }
    }

    #[test]
    fn a_new_partition_set_ends_the_standing_vouch_and_the_same_one_does_not() {
        let now = Instant::now();
        let (partitioner, standing) = acquired(now);
        partitioner.update_partitions(names(&["t-1", "t-0"])).expect("same set");
        assert!(partitioner.vouch_stands(&standing, now));
        assert_event_ends_standing(
            "new partition set",
            |partitioner| {
                partitioner
                    .update_partitions(names(&["t-0", "t-1", "t-2"]))
                    .expect("new set")
            },
            Expected::VouchedAgain,
        );
    }

    #[test]
    fn stopping_ends_the_standing_vouch() {
        let now = Instant::now();
        let (partitioner, standing) = acquired(now);
        let task = engine::runtime().expect("engine").spawn(async {});
        *partitioner.member.locked() = Some(task);
        partitioner.stop(Duration::from_secs(5)).expect("stop");
        assert!(!partitioner.vouch_stands(&standing, now));
        assert!(matches!(
            partitioner.instruction_vouched(now),
            (Instruction::Fail(_), Vouch::No)
        ));
    }
}
