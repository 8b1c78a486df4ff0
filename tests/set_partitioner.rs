//! The ZooKeeper partitioner against a real ZooKeeper, alone and with
//! Python kazoo's `SetPartitioner` as a member of the same party: the
//! layout, kazoo's split, handover on leave, a new partition set, and the
//! loss of ZooKeeper.

#[path = "support/group_fixtures.rs"]
mod group_fixtures;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use group_fixtures::{group_nodes, ForwardingPort, KazooPeer, PrivateZookeeper};
use yelp_kafka::test_support::layout::{self, group_path, partition_name};
use yelp_kafka::test_support::{Instruction, PartitionState, SetPartitioner, SetPartitionerSettings};
use yelp_kafka::ErrorCode;

const COOLDOWN: Duration = Duration::from_millis(500);

/// A test's group: the ZooKeeper address, its chroot and the group path.
struct Group {
    address: String,
    chroot: String,
    path: String,
}

impl Group {
    fn new(test: &str, topics: &[&str]) -> Group {
        let connect = support::zk_chroot(test);
        let (address, chroot) = connect.split_at(connect.find('/').expect("chroot"));
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        Group {
            address: address.to_string(),
            chroot: chroot.to_string(),
            path: group_path(Some(chroot), "group-1", &topics, true),
        }
    }

    /// The group path relative to the chroot, as the Python library has it.
    fn path_in_chroot(&self) -> &str {
        &self.path[self.chroot.len()..]
    }

    fn member(&self, partitions: &[String]) -> Member {
        self.member_with(partitions, Duration::from_secs(4), &self.address)
    }

    fn member_with(&self, partitions: &[String], session_timeout: Duration, address: &str) -> Member {
        Member {
            partitioner: SetPartitioner::start(self.settings(session_timeout, address), partitions.to_vec())
                .expect("start partitioner"),
            held: None,
        }
    }

    fn settings(&self, session_timeout: Duration, address: &str) -> SetPartitionerSettings {
        SetPartitionerSettings {
            zookeeper_hosts: address.to_string(),
            group_path: self.path.clone(),
            identifier: layout::unique_identifier(),
            cooldown: COOLDOWN,
            session_timeout,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Drives a partitioner the way a consumer group does: takes what is
/// acquired, gives it up when asked.
struct Member {
    partitioner: SetPartitioner,
    held: Option<Vec<String>>,
}

impl Member {
    /// Follows the partitioner's instructions for `time`; returns a failure if one comes.
    fn follow(&mut self, time: Duration) -> Option<yelp_kafka::Error> {
        let deadline = Instant::now() + time;
        while Instant::now() < deadline {
            match self.partitioner.instruction() {
                Instruction::Acquire(partitions) => self.held = Some(partitions),
                Instruction::Release => {
                    self.held = None;
                    self.partitioner.released();
                }
                Instruction::Fail(error) => {
                    self.held = None;
                    return Some(error);
                }
                Instruction::Continue => self.partitioner.wait(Duration::from_millis(20)),
            }
        }
        None
    }

    fn id(&self) -> String {
        self.partitioner.identifier().to_string()
    }
}

fn partitions(topic: &str, count: i32) -> Vec<String> {
    (0..count).map(|p| partition_name(topic, p)).collect()
}

/// Follows every member until each holds a share and the shares cover
/// `all` exactly once, or panics after `timeout`.
fn settle(members: &mut [&mut Member], all: &[String], timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        for member in members.iter_mut() {
            if let Some(error) = member.follow(Duration::from_millis(30)) {
                panic!("member failed: {error}");
            }
        }
        let shares: Vec<&Vec<String>> = members.iter().filter_map(|m| m.held.as_ref()).collect();
        if shares.len() == members.len()
            && members
                .iter()
                .all(|m| m.partitioner.state() == PartitionState::Acquired)
        {
            let mut union: Vec<&String> = shares.iter().flat_map(|share| share.iter()).collect();
            union.sort();
            let mut expected: Vec<&String> = all.iter().collect();
            expected.sort();
            if union == expected {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < timeout,
            "no settled split within {timeout:?}: {:?}",
            members
                .iter()
                .map(|m| (m.id(), m.partitioner.state(), m.held.clone()))
                .collect::<Vec<_>>()
        );
    }
}

fn held_set(member: &Member) -> BTreeSet<String> {
    member.held.clone().unwrap_or_default().into_iter().collect()
}

#[test]
fn two_members_split_eight_partitions_four_and_four_in_kazoos_layout() {
    let group = Group::new("split_8", &["orders"]);
    let all = partitions("orders", 8);
    let (mut a, mut b) = (group.member(&all), group.member(&all));
    settle(&mut [&mut a, &mut b], &all, Duration::from_secs(20));

    let mut ids = [a.id(), b.id()];
    ids.sort();
    let (first, second) = if ids[0] == a.id() { (&a, &b) } else { (&b, &a) };
    let mut sorted = all.clone();
    sorted.sort();
    let stride = |start: usize| -> BTreeSet<String> { sorted.iter().skip(start).step_by(2).cloned().collect() };
    assert_eq!(held_set(first), stride(0));
    assert_eq!(held_set(second), stride(1));

    // The nodes, as kazoo names them, under the chroot and the topics' SHA-1.
    assert!(group.path.starts_with(&format!("{}/yelp-kafka/group-1/", group.chroot)));
    let (party, locks) = group_nodes(&group.address, &group.path);
    let members: BTreeSet<&str> = party.iter().map(|child| layout::member_identifier(child)).collect();
    assert_eq!(members, ids.iter().map(String::as_str).collect());
    for child in &party {
        let (uuid, _) = child.split_once('-').unwrap();
        assert!(
            uuid.len() == 32 && uuid.bytes().all(|b| b.is_ascii_hexdigit()),
            "{child}"
        );
    }
    assert_eq!(locks.keys().cloned().collect::<Vec<_>>(), sorted);
    for (partition, contenders) in &locks {
        assert_eq!(contenders.len(), 1, "{partition}: {contenders:?}");
        let (node, holder) = &contenders[0];
        assert!(layout::lock_sequence(node).is_some(), "{node}");
        let holder = String::from_utf8(holder.clone()).unwrap();
        let owner = if held_set(&a).contains(partition) {
            a.id()
        } else {
            b.id()
        };
        assert_eq!(holder, owner, "{partition}");
    }
    a.partitioner.stop(Duration::from_secs(5)).unwrap();
    b.partitioner.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_mixed_group_with_kazoo_splits_the_set_as_kazoo_computes_it() {
    let group = Group::new("mixed", &["events", "clicks"]);
    let mut all = partitions("events", 7);
    all.extend(partitions("clicks", 3));
    let mut ours = [group.member(&all), group.member(&all)];
    let kazoo = KazooPeer::start(
        &format!("{}{}", group.address, group.chroot),
        group.path_in_chroot(),
        COOLDOWN,
        &all,
    );
    // kazoo reports each acquisition; the one that counts sees all three.
    let deadline = Instant::now() + Duration::from_secs(30);
    let acquisition = loop {
        let [first, second] = &mut ours;
        for member in [first, second] {
            member.follow(Duration::from_millis(20));
        }
        if let Some(acquisition) = kazoo.next_acquisition(Duration::from_millis(20)) {
            if acquisition.split.len() == 3 {
                break acquisition;
            }
        }
        assert!(Instant::now() < deadline, "kazoo never saw all three members");
    };
    let kazoo_share: BTreeSet<String> = acquisition.mine.iter().cloned().collect();
    let split: BTreeMap<&str, BTreeSet<String>> = acquisition
        .split
        .iter()
        .map(|(member, share)| (member.as_str(), share.iter().cloned().collect()))
        .collect();
    assert_eq!(split[kazoo.identifier()], kazoo_share);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ours
        .iter()
        .all(|m| m.partitioner.state() == PartitionState::Acquired && m.held.is_some())
    {
        for member in ours.iter_mut() {
            member.follow(Duration::from_millis(20));
        }
        assert!(Instant::now() < deadline, "our members never acquired");
    }
    for member in &ours {
        assert_eq!(held_set(member), split[member.id().as_str()], "{}", member.id());
        assert!(held_set(member).is_disjoint(&kazoo_share));
    }
    assert!(held_set(&ours[0]).is_disjoint(&held_set(&ours[1])));
    let union: BTreeSet<String> = split.values().flatten().cloned().collect();
    assert_eq!(union, all.iter().cloned().collect());

    // Every lock directory has one contender, the member kazoo assigned
    // (kazoo's lock nodes carry no data, ours our identifier).
    let (_, locks) = group_nodes(&group.address, &group.path);
    for (partition, contenders) in &locks {
        assert_eq!(contenders.len(), 1, "{partition}: {contenders:?}");
        let holder = String::from_utf8(contenders[0].1.clone()).unwrap();
        let expected = split.iter().find(|(_, share)| share.contains(partition)).unwrap().0;
        if *expected == kazoo.identifier() {
            assert_eq!(holder, "", "{partition}");
        } else {
            assert_eq!(holder, *expected, "{partition}");
        }
    }

    // kazoo leaves: ours split everything between them.
    kazoo.leave();
    let [first, second] = &mut ours;
    settle(&mut [first, second], &all, Duration::from_secs(20));
    assert_eq!(held_set(&ours[0]).len() + held_set(&ours[1]).len(), all.len());
}

#[test]
fn a_member_leaving_hands_its_partitions_over_within_the_cooldown_and_a_second() {
    let group = Group::new("handover", &["t"]);
    let all = partitions("t", 6);
    let (mut stays, mut leaves) = (group.member(&all), group.member(&all));
    settle(&mut [&mut stays, &mut leaves], &all, Duration::from_secs(20));
    assert_eq!(held_set(&stays).len(), 3);

    let left_at = Instant::now();
    leaves.partitioner.stop(Duration::from_secs(5)).unwrap();
    settle(&mut [&mut stays], &all, Duration::from_secs(10));
    let handover = left_at.elapsed();
    eprintln!("partitioner handover after a graceful leave: {handover:?} (cooldown {COOLDOWN:?})");
    assert!(
        handover <= COOLDOWN + Duration::from_secs(1),
        "handover took {handover:?}"
    );
    assert_eq!(
        leaves.partitioner.state(),
        PartitionState::Failure,
        "a member that left is done"
    );
}

#[test]
fn a_new_partition_set_is_split_again_by_every_member() {
    let group = Group::new("new_set", &["t"]);
    let before = partitions("t", 2);
    let (mut a, mut b) = (group.member(&before), group.member(&before));
    settle(&mut [&mut a, &mut b], &before, Duration::from_secs(20));

    let after = partitions("t", 5);
    a.partitioner.update_partitions(after.clone()).unwrap();
    b.partitioner.update_partitions(after.clone()).unwrap();
    settle(&mut [&mut a, &mut b], &after, Duration::from_secs(20));
    assert_eq!(held_set(&a).len() + held_set(&b).len(), 5);
    let empty = a.partitioner.update_partitions(Vec::new()).unwrap_err();
    assert_eq!(empty.code(), ErrorCode::Partitioner);
}

#[test]
fn losing_zookeeper_fails_every_member_within_the_session_timeout() {
    let zookeeper = PrivateZookeeper::start("partitioner_loss");
    let group = Group {
        address: zookeeper.address(),
        chroot: "/cluster-a".to_string(),
        path: group_path(Some("/cluster-a"), "group-1", &["t".to_string()], false),
    };
    let all = partitions("t", 4);
    let session_timeout = Duration::from_secs(3);
    let mut a = group.member_with(&all, session_timeout, &zookeeper.address());
    let mut b = group.member_with(&all, session_timeout, &zookeeper.address());
    settle(&mut [&mut a, &mut b], &all, Duration::from_secs(20));
    assert!(a.partitioner.may_deliver());

    let stopped_at = Instant::now();
    zookeeper.stop();
    for member in [&mut a, &mut b] {
        let error = member.follow(session_timeout).expect("the member fails");
        let after = stopped_at.elapsed();
        assert_eq!(error.code(), ErrorCode::Partitioner, "{error}");
        assert!(after <= session_timeout, "failed only after {after:?}");
        assert!(!member.partitioner.may_deliver());
        assert_eq!(member.partitioner.state(), PartitionState::Failure);
    }
    eprintln!("members failed {:?} after ZooKeeper stopped", stopped_at.elapsed());

    // A member started once ZooKeeper is back finds the group's nodes again.
    // It has the default session timeout (10 s), not the short one above:
    // a server just restarted on a busy machine may take longer than the
    // short session's 1.2 s without a byte, and that wait is not what this
    // part checks.
    zookeeper.restart();
    let mut c = group.member_with(&all, Duration::from_secs(10), &zookeeper.address());
    settle(&mut [&mut c], &all, Duration::from_secs(20));
}

#[test]
fn a_connect_begun_while_zookeeper_is_down_succeeds_soon_after_it_comes_back() {
    let group = Group::new("connect_retry", &["t"]);
    let all = partitions("t", 2);
    let port = ForwardingPort::closed();
    let mut settings = group.settings(Duration::from_secs(10), &port.address());
    // zookeeper-client's own retries come at about 0.1, 0.3, 0.7, 1.5 and
    // 3.1 s (each up to 0.1 s later), then not before 6.3 s: ZooKeeper
    // coming back at 3.8 s must be found well within a 6 s deadline.
    settings.connect_timeout = Duration::from_secs(6);
    let connect_timeout = settings.connect_timeout;
    let started = Instant::now();
    let (sender, started_partitioner) = std::sync::mpsc::channel();
    let starting = all.clone();
    std::thread::spawn(move || {
        let _ = sender.send(SetPartitioner::start(settings, starting));
    });
    std::thread::sleep(Duration::from_millis(3800));
    port.open(&group.address);
    let opened = started.elapsed();
    let partitioner = started_partitioner
        .recv_timeout(connect_timeout + Duration::from_secs(10))
        .expect("start returns")
        .unwrap_or_else(|error| panic!("the connect failed although ZooKeeper came back at {opened:?}: {error}"));
    let connected = started.elapsed();
    eprintln!(
        "connect begun with ZooKeeper down: ZooKeeper back after {opened:?}, member joined after \
         {connected:?} ({:?} later; connect deadline {connect_timeout:?})",
        connected - opened
    );
    let mut member = Member {
        partitioner,
        held: None,
    };
    settle(&mut [&mut member], &all, Duration::from_secs(20));
    member.partitioner.stop(Duration::from_secs(5)).unwrap();
}
