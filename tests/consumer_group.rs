//! ConsumerGroup acceptance: members in separate processes (this test
//! binary run again as a member, see `group_member_process`) split the
//! partitions through a real ZooKeeper and consume a mock cluster's topics:
//! every message once with disjoint, complete shares; a SIGKILLed member's
//! partitions taken over after its session expires; ZooKeeper stopped;
//! a mixed group with Python kazoo; handover time after a graceful leave;
//! the same through Kafka's classic and next-generation (KIP-848) group
//! protocols, alone and mixed with librdkafka members.

#[path = "support/consumer_fixtures.rs"]
mod consumer_fixtures;
#[path = "support/group_fixtures.rs"]
mod group_fixtures;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use consumer_fixtures::{cluster_config, committed_offsets, mock_values, produce_numbered};
use group_fixtures::{KazooPeer, PrivateZookeeper};
use support::MockCluster;
use yelp_kafka::consumer::{ConsumerConfig, TopicPartition};
use yelp_kafka::groups::{ConsumerGroup, RebalanceHandler};
use yelp_kafka::test_support::SESSION_TIMEOUT;
use yelp_kafka::ErrorCode;

const COOLDOWN: &str = "0.5";
const MEMBER_ENV: &str = "YK_GROUP_MEMBER";
/// Milliseconds a member spends on each message after printing it.
const DELAY_ENV: &str = "YK_GROUP_MEMBER_DELAY_MS";

// ---------------------------------------------------------------------------
// The member process
// ---------------------------------------------------------------------------

/// Prints what the group gives up and acquires.
struct PrintingHandler;

fn names(partitions: &[TopicPartition]) -> String {
    let names: Vec<String> = partitions
        .iter()
        .map(|p| format!("{}-{}", p.topic.as_str(), p.partition))
        .collect();
    names.join(",")
}

impl RebalanceHandler for PrintingHandler {
    fn before_release(&mut self, partitions: &[TopicPartition]) {
        println!("YK RELEASING {}", names(partitions));
    }

    fn after_acquire(&mut self, partitions: &[TopicPartition]) {
        println!("YK ACQUIRED {}", names(partitions));
    }
}

/// Python yelp_kafka's consumer loop as a member process: configured by
/// environment, prints `YK ...` lines, marks every message done, re-creates
/// the group after a PartitionerError, leaves on `stop` (or EOF) on stdin.
#[test]
fn group_member_process() {
    let Ok(spec) = std::env::var(MEMBER_ENV) else {
        return; // run by the acceptance tests only
    };
    let fields: Vec<&str> = spec.split('|').collect();
    let [bootstrap, zookeeper, group_id, topics, options] = fields[..] else {
        panic!("bad {MEMBER_ENV}: {spec}");
    };
    let topics: Vec<String> = topics.split(',').map(str::to_string).collect();
    let pairs: Vec<(&str, &str)> = options
        .split(';')
        .filter(|o| !o.is_empty())
        .map(|o| o.split_once('=').expect("key=value"))
        .collect();
    let config =
        ConsumerConfig::new(group_id, &cluster_config(bootstrap, zookeeper), &mock_values(&pairs)).expect("config");
    let leaving = group_fixtures::leave_on_stdin_line();
    let delay = std::env::var(DELAY_ENV)
        .ok()
        .map(|ms| Duration::from_millis(ms.parse().expect("delay in ms")));
    let mut handler = PrintingHandler;
    loop {
        let group = ConsumerGroup::new(&topics, config.clone(), None).expect("group");
        match group.start(Duration::from_secs(30), &mut handler) {
            Ok(()) => {}
            Err(error) if error.code() == ErrorCode::TimedOut => {}
            Err(error) if error.code() == ErrorCode::OffsetCommit => println!("YK COMMIT-ERROR {error}"),
            Err(error) => {
                println!("YK ERROR start {}: {error}", error.code().name());
                std::thread::sleep(Duration::from_millis(300));
                continue;
            }
        }
        println!("YK STARTED {}", group.identifier());
        loop {
            if leaving.load(Ordering::SeqCst) {
                let result = group.stop(Duration::from_secs(10), &mut handler);
                println!("YK STOPPED {result:?}");
                return;
            }
            match group.next(&mut handler) {
                Ok(message) => {
                    let value = String::from_utf8_lossy(message.value().unwrap_or_default()).into_owned();
                    println!(
                        "YK MSG {} {} {} {value}",
                        message.topic().as_str(),
                        message.partition(),
                        message.offset()
                    );
                    if let Some(delay) = delay {
                        std::thread::sleep(delay);
                    }
                    group.task_done(&message).expect("task_done");
                }
                Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
                // A commit the coordinator refused (a rebalance began):
                // the partitions' next owner reads again from the last commit.
                Err(error) if error.code() == ErrorCode::OffsetCommit => println!("YK COMMIT-ERROR {error}"),
                // The group is out (ZooKeeper lost, or out of the Kafka
                // group): re-create it, as the application would.
                Err(error) if matches!(error.code(), ErrorCode::Partitioner | ErrorCode::ConsumerGroup) => {
                    println!("YK ERROR {}: {error}", error.code().name());
                    let _ = group.stop(Duration::from_secs(5), &mut handler);
                    break;
                }
                Err(error) if error.is_retriable() => println!("YK RETRY {error}"),
                Err(error) => panic!("member failed: {error}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The test side
// ---------------------------------------------------------------------------

/// A line a member printed, with when it was read.
#[derive(Debug, Clone)]
struct Event {
    member: usize,
    at: Instant,
    line: String,
}

/// One member process.
struct Member {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The member processes of one test and everything they printed.
struct Members {
    members: Vec<Member>,
    events: Receiver<Event>,
    sender: mpsc::Sender<Event>,
    seen: Vec<Event>,
    spec: String,
}

impl Members {
    fn new(bootstrap: &str, zookeeper: &str, group: &str, topics: &[&str], options: &[(&str, &str)]) -> Members {
        let mut all = vec![("partitioner_cooldown", COOLDOWN), ("auto_offset_reset", "smallest")];
        all.extend_from_slice(options);
        let options: Vec<String> = all.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let spec = [bootstrap, zookeeper, group, &topics.join(","), &options.join(";")].join("|");
        let (sender, events) = mpsc::channel();
        Members {
            members: Vec::new(),
            events,
            sender,
            seen: Vec::new(),
            spec,
        }
    }

    /// Starts one more member; returns its index.
    fn spawn(&mut self) -> usize {
        self.spawn_with_env(&[])
    }

    /// Starts one more member with more environment; returns its index.
    fn spawn_with_env(&mut self, env: &[(&str, &str)]) -> usize {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args(["--exact", "group_member_process", "--nocapture", "--test-threads=1"])
            .envs(env.iter().copied())
            .env(MEMBER_ENV, &self.spec);
        self.spawn_command(command)
    }

    /// Starts `command` as one more member, which prints `YK ...` lines
    /// and leaves on a line on stdin; returns its index.
    fn spawn_command(&mut self, mut command: Command) -> usize {
        let index = self.members.len();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn member process");
        let stdout = child.stdout.take().expect("piped stdout");
        let sender = self.sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest prints "test group_member_process ... " before the first line.
                if let Some((_, line)) = line.split_once("YK ") {
                    let event = Event {
                        member: index,
                        at: Instant::now(),
                        line: line.to_string(),
                    };
                    if sender.send(event).is_err() {
                        break;
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        self.members.push(Member { child, stdin });
        index
    }

    /// Collects events for `time`.
    fn collect(&mut self, time: Duration) {
        let deadline = Instant::now() + time;
        while let Ok(event) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            assert!(
                !event.line.starts_with("ERROR start") || event.line.contains("Partitioner"),
                "member {}: {}",
                event.member,
                event.line
            );
            self.seen.push(event);
        }
    }

    /// Collects until `done` holds for what was seen, or panics after `timeout`.
    fn until(&mut self, what: &str, timeout: Duration, done: impl Fn(&[Event]) -> bool) -> Instant {
        let deadline = Instant::now() + timeout;
        while !done(&self.seen) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {timeout:?}; seen {:#?}",
                self.tail()
            );
            self.collect(Duration::from_millis(50));
        }
        Instant::now()
    }

    fn tail(&self) -> Vec<String> {
        let start = self.seen.len().saturating_sub(30);
        self.seen[start..]
            .iter()
            .map(|e| format!("{} {}", e.member, e.line))
            .collect()
    }

    /// Asks member `index` to leave gracefully.
    fn stop(&mut self, index: usize) {
        if let Some(mut stdin) = self.members[index].stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
    }

    /// SIGKILLs member `index`.
    fn kill(&mut self, index: usize) {
        self.members[index].child.kill().expect("SIGKILL member");
        let _ = self.members[index].child.wait();
        self.seen.push(Event {
            member: index,
            at: Instant::now(),
            line: "KILLED".into(),
        });
    }

    /// Sends `signal` to member `index` (SIGSTOP, SIGCONT).
    fn signal(&self, index: usize, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.members[index].child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal member");
    }

    /// Asks `members` to leave and waits for each to exit well.
    fn leave_all(&mut self, members: &[usize]) {
        for member in members {
            self.stop(*member);
        }
        for member in members {
            self.wait_exit(*member, Duration::from_secs(30));
        }
    }

    /// Produces `count` messages `<prefix>-<i>` to `topic`, then collects
    /// until `total` distinct values were consumed.
    fn produce_and_consume(&mut self, bootstrap: &str, topic: &str, prefix: &str, count: usize, total: usize) {
        produce_numbered(bootstrap, topic, prefix, count);
        self.until(
            &format!("{total} messages consumed"),
            Duration::from_secs(60),
            |events| distinct_values(events).len() >= total,
        );
    }

    fn wait_exit(&mut self, index: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.members[index].child.try_wait() {
                assert!(status.success(), "member {index} exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "member {index} did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        for member in &mut self.members {
            let _ = member.child.kill();
            let _ = member.child.wait();
        }
    }
}

/// The partitions an ACQUIRED or RELEASING `list` names.
fn listed(list: &str) -> impl Iterator<Item = String> + '_ {
    list.trim().split(',').filter(|p| !p.is_empty()).map(str::to_string)
}

/// Each member's latest share in `events`: what its ACQUIRED lines added
/// and its RELEASING lines did not take away since (an incremental
/// rebalance gives up some); `None` once it gave up everything or failed.
fn shares(events: &[Event], members: &[usize]) -> BTreeMap<usize, Option<BTreeSet<String>>> {
    let mut shares: BTreeMap<usize, Option<BTreeSet<String>>> = members.iter().map(|m| (*m, None)).collect();
    for event in events {
        let Some(share) = shares.get_mut(&event.member) else {
            continue;
        };
        if let Some(list) = event.line.strip_prefix("ACQUIRED") {
            share.get_or_insert_with(BTreeSet::new).extend(listed(list));
        } else if let Some(list) = event.line.strip_prefix("RELEASING") {
            if let Some(held) = share.as_mut() {
                for partition in listed(list) {
                    held.remove(&partition);
                }
                if held.is_empty() {
                    *share = None;
                }
            }
        } else if event.line.starts_with("ERROR") {
            *share = None;
        }
    }
    shares
}

/// Whether the latest shares of `members` are disjoint and cover `all`.
fn settled(events: &[Event], members: &[usize], all: &BTreeSet<String>) -> bool {
    let shares = shares(events, members);
    let mut union = BTreeSet::new();
    for share in shares.values() {
        let Some(share) = share else { return false };
        for partition in share {
            if !union.insert(partition.clone()) {
                return false;
            }
        }
    }
    union == *all
}

/// A consumed message: (member, partition, offset, value).
type Consumed = (usize, i32, i64, String);

fn consumed(events: &[Event]) -> Vec<Consumed> {
    events
        .iter()
        .filter_map(|event| {
            let rest = event.line.strip_prefix("MSG ")?;
            let fields: Vec<&str> = rest.splitn(4, ' ').collect();
            Some((
                event.member,
                fields[1].parse().unwrap(),
                fields[2].parse().unwrap(),
                fields[3].to_string(),
            ))
        })
        .collect()
}

fn distinct_values(events: &[Event]) -> BTreeSet<String> {
    consumed(events).into_iter().map(|(_, _, _, value)| value).collect()
}

fn all_partitions(topic: &str, count: i32) -> BTreeSet<String> {
    (0..count).map(|p| format!("{topic}-{p}")).collect()
}

/// `members` processes split a `partitions`-partition topic, then consume
/// 1,000 messages: every message once, each partition from one member, the
/// shares disjoint and complete. Returns the cluster, the members stopped.
fn split_and_consume_everything(name: &str, members: usize, partitions: i32) -> MockCluster {
    let zookeeper = support::zk_chroot(name);
    split_and_consume_everything_with(name, members, partitions, &zookeeper, &[])
}

/// [`split_and_consume_everything`] with these ZooKeeper and options.
fn split_and_consume_everything_with(
    name: &str,
    members: usize,
    partitions: i32,
    zookeeper: &str,
    options: &[(&str, &str)],
) -> MockCluster {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", partitions as u32);
    let mut group = Members::new(mock.bootstrap(), zookeeper, name, &["orders"], options);
    let indexes: Vec<usize> = (0..members).map(|_| group.spawn()).collect();
    let all = all_partitions("orders", partitions);
    group.until("the members settle", Duration::from_secs(60), |events| {
        settled(events, &indexes, &all)
    });

    produce_numbered(mock.bootstrap(), "orders", "m", 1000);
    group.until("1,000 messages consumed", Duration::from_secs(60), |events| {
        distinct_values(events).len() == 1000
    });
    group.collect(Duration::from_millis(500));

    let messages = consumed(&group.seen);
    assert_eq!(messages.len(), 1000, "every message exactly once");
    let mut by_partition: BTreeMap<i32, BTreeSet<usize>> = BTreeMap::new();
    for (member, partition, _, _) in &messages {
        by_partition.entry(*partition).or_default().insert(*member);
    }
    assert!(
        by_partition.values().all(|m| m.len() == 1),
        "a partition read by two members: {by_partition:?}"
    );
    assert!(
        settled(&group.seen, &indexes, &all),
        "the shares stay disjoint and complete"
    );
    let shares = shares(&group.seen, &indexes);
    let sizes: Vec<usize> = shares.values().map(|s| s.as_ref().map_or(0, BTreeSet::len)).collect();
    let (low, high) = (partitions as usize / members, (partitions as usize).div_ceil(members));
    assert!(sizes.iter().all(|s| *s == low || *s == high), "uneven split {sizes:?}");

    // All at once: each member commits before it leaves, and the mock
    // coordinator refuses commits once a leave has started a rebalance
    // (Kafka itself accepts them while the group prepares its rebalance),
    // so a member stopped after another left could not store its last
    // offsets, and the restart that follows would read them again.
    for &index in &indexes {
        group.stop(index);
    }
    for index in indexes {
        group.wait_exit(index, Duration::from_secs(20));
    }
    mock
}

#[test]
fn one_member_consumes_its_one_partition() {
    split_and_consume_everything("group_1x1", 1, 1);
}

#[test]
fn one_member_consumes_both_partitions() {
    split_and_consume_everything("group_1x2", 1, 2);
}

#[test]
fn two_members_share_one_partition_one_idle() {
    split_and_consume_everything("group_2x1", 2, 1);
}

#[test]
fn five_members_take_one_of_five_partitions_each() {
    split_and_consume_everything("group_5x5", 5, 5);
}

#[test]
fn three_members_split_eight_partitions_three_three_two() {
    split_and_consume_everything("group_3x8", 3, 8);
}

#[test]
fn a_killed_members_partitions_are_taken_over_after_its_session_expires() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    let zookeeper = support::zk_chroot("group_kill");
    let options = [("offset_storage", "kafka"), ("auto_commit_interval_messages", "7")];
    let mut group = Members::new(mock.bootstrap(), &zookeeper, "kill", &["orders"], &options);
    let (victim, survivor) = (group.spawn(), group.spawn());
    let all = all_partitions("orders", 4);
    group.until("the members settle", Duration::from_secs(60), |events| {
        settled(events, &[victim, survivor], &all)
    });
    produce_numbered(mock.bootstrap(), "orders", "before", 200);
    group.until("200 messages consumed", Duration::from_secs(60), |events| {
        distinct_values(events).len() == 200
    });

    group.kill(victim);
    let killed_at = Instant::now();
    // The victim commits no more: what is committed now is where its
    // partitions must start again.
    std::thread::sleep(Duration::from_millis(200));
    let committed_at_kill = committed_offsets(mock.bootstrap(), "kill", "orders");
    let victims: BTreeSet<String> = shares(&group.seen, &[victim])[&victim]
        .clone()
        .expect("victim held partitions");
    produce_numbered(mock.bootstrap(), "orders", "after", 200);

    let before_takeover = group.seen.len();
    let took_over = group.until("the survivor takes everything", Duration::from_secs(40), |events| {
        settled(events, &[survivor], &all)
    });
    let takeover = took_over - killed_at;
    eprintln!("takeover after SIGKILL: {takeover:?} (session timeout {SESSION_TIMEOUT:?}, cooldown {COOLDOWN} s)");
    assert!(
        takeover >= SESSION_TIMEOUT / 2,
        "taken over before the session could expire: {takeover:?}"
    );
    group.until("all 400 messages consumed", Duration::from_secs(60), |events| {
        distinct_values(events).len() == 400
    });
    group.collect(Duration::from_millis(500));

    // Redelivered: only the victim's partitions, from its last commit on.
    let messages = consumed(&group.seen);
    let mut deliveries: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (_, partition, offset, _) in &messages {
        *deliveries.entry((*partition, *offset)).or_default() += 1;
    }
    for ((partition, offset), count) in &deliveries {
        if *count > 1 {
            assert!(
                victims.contains(&format!("orders-{partition}")),
                "orders-{partition} {offset} twice"
            );
            assert!(
                *offset >= committed_at_kill[partition],
                "orders-{partition} {offset} was committed"
            );
        }
    }
    for partition in &victims {
        let id: i32 = partition.rsplit_once('-').unwrap().1.parse().unwrap();
        let first = consumed(&group.seen[before_takeover..])
            .into_iter()
            .filter(|(member, p, _, _)| *member == survivor && *p == id)
            .map(|(_, _, offset, _)| offset)
            .min()
            .expect("the survivor read the victim's partition");
        assert_eq!(first, committed_at_kill[&id], "{partition} starts at its last commit");
    }
    group.stop(survivor);
    group.wait_exit(survivor, Duration::from_secs(20));
}

#[test]
fn zookeeper_stopped_fails_every_member_and_recreated_members_resume_from_commits() {
    let private = PrivateZookeeper::start("group_zookeeper_stop");
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    let zookeeper = format!("{}/cluster-b", private.address());
    let options = [("offset_storage", "kafka"), ("auto_commit_interval_messages", "5")];
    let mut group = Members::new(mock.bootstrap(), &zookeeper, "zkstop", &["orders"], &options);
    let members = [group.spawn(), group.spawn()];
    let all = all_partitions("orders", 4);
    group.until("the members settle", Duration::from_secs(60), |events| {
        settled(events, &members, &all)
    });
    produce_numbered(mock.bootstrap(), "orders", "before", 100);
    group.until("100 messages consumed", Duration::from_secs(60), |events| {
        distinct_values(events).len() == 100
    });

    private.stop();
    let stopped_at = Instant::now();
    for member in members {
        group.until("PartitionerError", SESSION_TIMEOUT + Duration::from_secs(2), |events| {
            events
                .iter()
                .any(|e| e.member == member && e.line.starts_with("ERROR PartitionerError"))
        });
    }
    let failed_after = stopped_at.elapsed();
    eprintln!("every member reported PartitionerError {failed_after:?} after ZooKeeper stopped");
    assert!(failed_after <= SESSION_TIMEOUT, "{failed_after:?}");
    // Each member commits what it processed as it stops its failed group.
    group.collect(Duration::from_secs(1));
    let committed_at_failure = committed_offsets(mock.bootstrap(), "zkstop", "orders");
    produce_numbered(mock.bootstrap(), "orders", "during", 50);
    let failed_len = group.seen.len();
    group.collect(Duration::from_secs(2));
    assert!(
        consumed(&group.seen[failed_len..]).is_empty(),
        "nothing is delivered without ZooKeeper"
    );

    private.restart();
    let restarted_at = Instant::now();
    let recovered_at = group.until("the re-created members settle", Duration::from_secs(60), |events| {
        settled(&events[failed_len..], &members, &all)
    });
    eprintln!(
        "partitions held again {:?} after ZooKeeper answered (bound: the old sessions' timeout \
         {SESSION_TIMEOUT:?} + cooldown {COOLDOWN} s + a ZooKeeper round of watches and locks)",
        recovered_at - restarted_at
    );
    group.until("every message consumed", Duration::from_secs(60), |events| {
        distinct_values(events).len() == 150
    });
    group.collect(Duration::from_millis(500));
    let mut first_after: BTreeMap<i32, i64> = BTreeMap::new();
    for (_, partition, offset, _) in consumed(&group.seen[failed_len..]) {
        let first = first_after.entry(partition).or_insert(offset);
        *first = (*first).min(offset);
    }
    for (partition, offset) in &first_after {
        assert_eq!(
            *offset, committed_at_failure[partition],
            "orders-{partition} resumes at its committed offset"
        );
    }
    for member in members {
        group.stop(member);
        group.wait_exit(member, Duration::from_secs(20));
    }
}

#[test]
fn a_mixed_group_with_a_kazoo_member_splits_as_kazoo_computes() {
    let mock = MockCluster::start(3);
    mock.create_topic("events", 9);
    let zookeeper = support::zk_chroot("group_mixed");
    let mut group = Members::new(mock.bootstrap(), &zookeeper, "mixed", &["events"], &[]);
    let ours = [group.spawn(), group.spawn()];
    let all = all_partitions("events", 9);
    let (address, chroot) = zookeeper.split_at(zookeeper.find('/').unwrap());
    let path = yelp_kafka::test_support::layout::group_path(None, "mixed", &["events".to_string()], true);
    let all_list: Vec<String> = all.iter().cloned().collect();
    let kazoo = KazooPeer::start(
        &format!("{address}{chroot}"),
        &path,
        Duration::from_millis(500),
        &all_list,
    );
    let acquisition = loop {
        let acquisition = kazoo.next_acquisition(Duration::from_secs(30)).expect("kazoo acquires");
        if acquisition.split.len() == 3 {
            break acquisition;
        }
    };
    let kazoo_share: BTreeSet<String> = acquisition.mine.iter().cloned().collect();
    group.until("our members take kazoo's split", Duration::from_secs(30), |events| {
        let shares = shares(events, &ours);
        shares.values().all(Option::is_some)
            && shares.values().flatten().all(|share| share.is_disjoint(&kazoo_share))
            && shares.values().flatten().map(BTreeSet::len).sum::<usize>() + kazoo_share.len() == 9
    });
    let expected: BTreeSet<BTreeSet<String>> = acquisition
        .split
        .iter()
        .filter(|(member, _)| *member != kazoo.identifier())
        .map(|(_, share)| share.iter().cloned().collect())
        .collect();
    let actual: BTreeSet<BTreeSet<String>> = shares(&group.seen, &ours).into_values().flatten().collect();
    assert_eq!(actual, expected, "our members hold exactly kazoo's split");
    kazoo.leave();
    for member in ours {
        group.stop(member);
        group.wait_exit(member, Duration::from_secs(20));
    }
}

#[test]
fn a_graceful_leave_hands_partitions_over_within_the_cooldown_and_a_second() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 6);
    let zookeeper = support::zk_chroot("group_handover");
    let mut group = Members::new(mock.bootstrap(), &zookeeper, "handover", &["orders"], &[]);
    let (leaver, stayer) = (group.spawn(), group.spawn());
    let all = all_partitions("orders", 6);
    group.until("the members settle", Duration::from_secs(60), |events| {
        settled(events, &[leaver, stayer], &all)
    });
    let asked = Instant::now();
    group.stop(leaver);
    group.until("the stayer takes everything", Duration::from_secs(20), |events| {
        settled(events, &[stayer], &all)
    });
    let event_at = |member: usize, prefix: &str| -> Instant {
        group
            .seen
            .iter()
            .rev()
            .find(|e| e.member == member && e.line.starts_with(prefix))
            .map(|e| e.at)
            .unwrap_or_else(|| panic!("member {member} printed no {prefix}"))
    };
    let (releasing, acquired) = (event_at(leaver, "RELEASING"), event_at(stayer, "ACQUIRED"));
    let handover = acquired.saturating_duration_since(releasing);
    eprintln!(
        "handover after a graceful leave: {handover:?} from the leaver's pre-rebalance callback to the \
         stayer's post-rebalance callback ({:?} from the stop request), cooldown {COOLDOWN} s",
        acquired.saturating_duration_since(asked)
    );
    assert!(handover <= Duration::from_millis(1500), "handover took {handover:?}");
    group.wait_exit(leaver, Duration::from_secs(20));
    group.stop(stayer);
    group.wait_exit(stayer, Duration::from_secs(20));
}

/// A member that has fetched far ahead of what it handed out (it spends
/// 5 ms on each message) is asked to release when a second member joins:
/// from its pre-rebalance callback on it hands out no message of the
/// partitions it gives up, although their messages were fetched already
/// (docs/consumer-groups.md, "Rebalancing").
#[test]
fn a_member_with_messages_fetched_ahead_hands_out_none_of_a_released_partition() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    produce_numbered(mock.bootstrap(), "orders", "m", 2000);
    let zookeeper = support::zk_chroot("group_fetched_ahead");
    let mut group = Members::new(mock.bootstrap(), &zookeeper, "fetched_ahead", &["orders"], &[]);
    let slow = group.spawn_with_env(&[(DELAY_ENV, "5")]);
    group.until(
        "the slow member hands out 50 messages",
        Duration::from_secs(60),
        |events| consumed(events).iter().filter(|m| m.0 == slow).count() >= 50,
    );
    let joiner = group.spawn();
    let all = all_partitions("orders", 4);
    group.until("the members settle", Duration::from_secs(60), |events| {
        settled(events, &[slow, joiner], &all)
    });
    group.until(
        "both hand out messages after the rebalance",
        Duration::from_secs(60),
        |events| {
            let reacquired = events
                .iter()
                .rposition(|e| e.member == slow && e.line.starts_with("ACQUIRED"))
                .expect("the slow member acquired");
            let handed_out = |member: usize, events: &[Event]| {
                events.iter().any(|e| e.member == member && e.line.starts_with("MSG "))
            };
            handed_out(slow, &events[reacquired..]) && handed_out(joiner, events)
        },
    );
    assert!(
        group
            .seen
            .iter()
            .any(|e| e.member == slow && e.line.starts_with("RELEASING")),
        "the slow member released"
    );
    assert_exclusive(&group.seen, "orders");
    group.leave_all(&[slow, joiner]);
}

#[test]
fn a_member_paused_past_its_session_hands_out_and_commits_nothing_after_the_takeover() {
    use nix::sys::signal::Signal;
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    let zookeeper = support::zk_chroot("group_pause");
    let session_timeout = Duration::from_secs(2);
    let options = [
        ("offset_storage", "kafka"),
        ("zookeeper_session_timeout_ms", "2000"),
        // Commits by time only, so that a commit the paused member makes
        // after it continues is one its auto-committer started late.
        ("auto_commit_interval_messages", "0"),
        ("auto_commit_interval_ms", "500"),
    ];
    let mut group = Members::new(mock.bootstrap(), &zookeeper, "pause", &["orders"], &options);
    // The victim is slow, so that fetched messages wait in its queue when it is paused.
    let victim = group.spawn_with_env(&[(DELAY_ENV, "50")]);
    let survivor = group.spawn();
    let all = all_partitions("orders", 4);
    group.until("the members settle", Duration::from_secs(60), |events| {
        settled(events, &[victim, survivor], &all)
    });
    let victims = shares(&group.seen, &[victim])[&victim]
        .clone()
        .expect("the victim holds partitions");
    produce_numbered(mock.bootstrap(), "orders", "m", 400);
    group.until("the victim is busy", Duration::from_secs(60), |events| {
        consumed(events).iter().filter(|(member, ..)| *member == victim).count() >= 10
    });
    // Right after a message line the victim sleeps in its delay, not
    // between taking a message and printing it.
    let seen = group.seen.len();
    group.until("the victim prints a message", Duration::from_secs(10), |events| {
        consumed(&events[seen..]).iter().any(|(member, ..)| *member == victim)
    });
    group.signal(victim, Signal::SIGSTOP);
    let stopped_at = Instant::now();

    let acquired_at = group.until("the survivor takes everything", Duration::from_secs(30), |events| {
        settled(events, &[survivor], &all)
    });
    let bootstrap = mock.bootstrap().to_string();
    let everything: BTreeMap<i32, i64> = (0..4).map(|p| (p, 100)).collect();
    group.until(
        "the survivor consumed and committed everything",
        Duration::from_secs(60),
        |events| distinct_values(events).len() == 400 && committed_offsets(&bootstrap, "pause", "orders") == everything,
    );
    let paused = stopped_at.elapsed();
    let resumed = group.seen.len();
    group.signal(victim, Signal::SIGCONT);
    let continued_at = Instant::now();
    group.until(
        "the paused member reports PartitionerError",
        Duration::from_secs(20),
        |events| {
            events[resumed..]
                .iter()
                .any(|e| e.member == victim && e.line.starts_with("ERROR PartitionerError"))
        },
    );
    let failed_after = continued_at.elapsed();
    // Long enough for a late commit or delivery to show.
    group.collect(Duration::from_secs(2));

    let late: Vec<&Event> = group.seen[resumed..]
        .iter()
        .filter(|e| e.member == victim && e.line.starts_with("MSG "))
        .collect();
    let first_late = late.first().map(|e| e.at.saturating_duration_since(continued_at));
    eprintln!(
        "victim paused {paused:?} (survivor owned everything {:?} after the pause, session timeout \
         {session_timeout:?}); after SIGCONT it failed in {failed_after:?} and handed out {} message(s) \
         of partitions the survivor owned, the first {first_late:?} after SIGCONT",
        acquired_at.saturating_duration_since(stopped_at),
        late.len()
    );
    assert!(
        late.is_empty(),
        "the paused member handed out messages the survivor owned: {:#?}",
        late.iter().map(|e| &e.line).collect::<Vec<_>>()
    );
    let committed = committed_offsets(mock.bootstrap(), "pause", "orders");
    assert_eq!(
        committed, everything,
        "the paused member committed its old positions of {victims:?} over the survivor's"
    );
    for member in [victim, survivor] {
        group.stop(member);
        group.wait_exit(member, Duration::from_secs(20));
    }
}

// ---------------------------------------------------------------------------
// group_protocol=kafka: the same groups balanced by Kafka's group protocol
// ---------------------------------------------------------------------------

/// A group of this process subscribed to "orders" with `options`, started.
fn started_orders_group(mock: &MockCluster, group_id: &str, options: &[(&str, &str)]) -> ConsumerGroup {
    let config = consumer_fixtures::consumer_config(mock.bootstrap(), group_id, options);
    let group = ConsumerGroup::new(&["orders".to_string()], config, None).expect("group");
    group
        .start(Duration::from_secs(30), &mut PrintingHandler)
        .expect("start");
    group
}

/// Options of a member balanced by Kafka's group protocol, with `assignor`.
fn kafka_options(assignor: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("group_protocol", "kafka"),
        ("partition_assignment_strategy", assignor),
        ("session_timeout_ms", "6000"),
        ("heartbeat_interval_ms", "300"),
        ("auto_commit_interval_messages", "10"),
    ]
}

/// As [`split_and_consume_everything`] through Kafka's group protocol (no
/// ZooKeeper); then the group's commits hold across a restart: a new
/// member reads only what was written after, nothing twice.
fn kafka_split_consume_and_restart(name: &str, members: usize, partitions: i32) {
    split_consume_and_restart_with(name, members, partitions, &kafka_options("range"));
}

/// [`kafka_split_consume_and_restart`] with these options.
fn split_consume_and_restart_with(name: &str, members: usize, partitions: i32, options: &[(&str, &str)]) {
    let mock = split_and_consume_everything_with(name, members, partitions, "", options);
    produce_numbered(mock.bootstrap(), "orders", "n", 100);
    let mut group = Members::new(mock.bootstrap(), "", name, &["orders"], options);
    let member = group.spawn();
    group.until("the 100 new messages consumed", Duration::from_secs(60), |events| {
        distinct_values(events).len() >= 100
    });
    group.collect(Duration::from_millis(500));
    let values = consumed(&group.seen);
    assert_eq!(values.len(), 100, "only the new messages, once each");
    assert!(
        values.iter().all(|(_, _, _, value)| value.starts_with("n-")),
        "a message committed before the restart read again"
    );
    group.stop(member);
    group.wait_exit(member, Duration::from_secs(20));
}

#[test]
fn kafka_protocol_one_member_one_partition() {
    kafka_split_consume_and_restart("kafka_1x1", 1, 1);
}

#[test]
fn kafka_protocol_two_members_one_partition() {
    kafka_split_consume_and_restart("kafka_2x1", 2, 1);
}

#[test]
fn kafka_protocol_three_members_eight_partitions() {
    kafka_split_consume_and_restart("kafka_3x8", 3, 8);
}

#[test]
fn kafka_protocol_five_members_five_partitions() {
    kafka_split_consume_and_restart("kafka_5x5", 5, 5);
}

/// A confluent-kafka (librdkafka) consumer as a group member printing the
/// member process's `YK ...` lines: argv bootstrap, group, topic,
/// assignor, session timeout (ms), and optionally `consumer` for the
/// next-generation protocol (whose coordinator assigns and times the
/// session: librdkafka refuses the assignor and timing options with it).
/// Leaves (closing the consumer, which commits) on a line on stdin.
const LIBRDKAFKA_MEMBER: &str = r#"
import sys, threading, confluent_kafka
bootstrap, group, topic, assignor, session = sys.argv[1:6]
settings = {
    "bootstrap.servers": bootstrap, "group.id": group,
    "auto.offset.reset": "earliest", "auto.commit.interval.ms": 200,
}
if sys.argv[6:] == ["consumer"]:
    settings["group.protocol"] = "consumer"
else:
    settings.update({
        "partition.assignment.strategy": assignor,
        "session.timeout.ms": int(session), "heartbeat.interval.ms": 300,
    })
consumer = confluent_kafka.Consumer(settings)
def names(partitions):
    return ",".join(f"{p.topic}-{p.partition}" for p in partitions)
def assigned(consumer, partitions):
    print("YK ACQUIRED " + names(partitions), flush=True)
def revoked(consumer, partitions):
    print("YK RELEASING " + names(partitions), flush=True)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
consumer.subscribe([topic], on_assign=assigned, on_revoke=revoked)
while not stop.is_set():
    message = consumer.poll(0.1)
    if message is None or message.error():
        continue
    value = message.value().decode()
    print(f"YK MSG {message.topic()} {message.partition()} {message.offset()} {value}", flush=True)
consumer.close()
print("YK STOPPED", flush=True)
"#;

/// Starts a librdkafka member of `group` on `topic` with `assignor`.
fn spawn_librdkafka(members: &mut Members, bootstrap: &str, group: &str, topic: &str, assignor: &str) -> usize {
    spawn_librdkafka_with(members, bootstrap, group, topic, &[assignor, "6000"])
}

/// Starts a librdkafka member of `group` on `topic`; `settings` are the
/// script's arguments after the topic (assignor, session, protocol).
fn spawn_librdkafka_with(members: &mut Members, bootstrap: &str, group: &str, topic: &str, settings: &[&str]) -> usize {
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(LIBRDKAFKA_MEMBER)
        .args([bootstrap, group, topic])
        .args(settings);
    members.spawn_command(command)
}

/// Each member's holding of each partition, from the ACQUIRED line naming
/// it to the next RELEASING line naming it, or the member's next ERROR or
/// STOPPED line or its SIGKILL (or the end): (partition, member, from,
/// until).
fn holdings(events: &[Event]) -> Vec<(String, usize, Instant, Option<Instant>)> {
    let mut open: BTreeMap<(usize, String), Instant> = BTreeMap::new();
    let mut closed = Vec::new();
    for event in events {
        let ends_all = ["ERROR", "STOPPED", "KILLED"]
            .iter()
            .any(|prefix| event.line.starts_with(prefix));
        let released: Option<Vec<String>> = event.line.strip_prefix("RELEASING").map(|list| listed(list).collect());
        if let Some(list) = event.line.strip_prefix("ACQUIRED") {
            for partition in listed(list) {
                open.insert((event.member, partition), event.at);
            }
        } else if ends_all || released.is_some() {
            let mine: Vec<(usize, String)> = open
                .keys()
                .filter(|(m, p)| *m == event.member && released.as_ref().is_none_or(|list| list.contains(p)))
                .cloned()
                .collect();
            for key in mine {
                let from = open.remove(&key).expect("open holding");
                closed.push((key.1, key.0, from, Some(event.at)));
            }
        }
    }
    closed.extend(
        open.into_iter()
            .map(|((member, partition), from)| (partition, member, from, None)),
    );
    closed
}

/// Every member's rebalance lines (messages left out), with when each
/// was read, in ms from the first: what a failed exclusivity check shows.
fn rebalance_story(events: &[Event]) -> String {
    let Some(first) = events.first() else {
        return String::new();
    };
    events
        .iter()
        .filter(|e| !e.line.starts_with("MSG "))
        .map(|e| {
            format!(
                "{:>7} ms  member {}  {}",
                e.at.duration_since(first.at).as_millis(),
                e.member,
                e.line
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// No partition held by two members at once, and every message handed
/// out by a member while it held the message's partition.
fn assert_exclusive(events: &[Event], topic: &str) {
    assert_exclusive_but_fenced(events, topic, None);
}

/// As [`assert_exclusive`], for a group whose members may be fenced from
/// `fenced_since` on. A coordinator gives a fenced member's partitions to
/// another member at once, before the fenced one hears of it (Kafka does,
/// and so does the mock for a fencing error pushed to it), so both may
/// count a partition as theirs for a moment: the fenced member must then
/// hand out none of that partition's messages once the other took it.
fn assert_exclusive_but_fenced(events: &[Event], topic: &str, fenced_since: Option<Instant>) {
    let holdings = holdings(events);
    for (i, (partition, member, from, until)) in holdings.iter().enumerate() {
        for (other_partition, other, other_from, other_until) in &holdings[i + 1..] {
            if partition != other_partition || member == other {
                continue;
            }
            let overlap = until.is_none_or(|until| *other_from < until)
                && other_until.is_none_or(|other_until| *from < other_until);
            if !overlap {
                continue;
            }
            let ((first, first_until), taken_at) = if from <= other_from {
                ((*member, *until), *other_from)
            } else {
                ((*other, *other_until), *from)
            };
            let handed_out_after_taken = |released: Instant| {
                events.iter().any(|e| {
                    e.member == first
                        && e.at >= taken_at
                        && e.at <= released
                        && e.line.strip_prefix("MSG ").is_some_and(|rest| {
                            format!("{topic}-{}", rest.split(' ').nth(1).unwrap_or_default()) == *partition
                        })
                })
            };
            let fenced = fenced_since
                .zip(first_until)
                .is_some_and(|(since, released)| released >= since && !handed_out_after_taken(released));
            assert!(
                fenced,
                "{partition} held by members {member} and {other} at once; what the members said:\n{}",
                rebalance_story(events)
            );
        }
    }
    for event in events {
        let Some(rest) = event.line.strip_prefix("MSG ") else {
            continue;
        };
        let partition = format!("{topic}-{}", rest.split(' ').nth(1).expect("partition"));
        let held = holdings.iter().any(|(p, member, from, until)| {
            *p == partition && *member == event.member && *from <= event.at && until.is_none_or(|u| event.at <= u)
        });
        assert!(
            held,
            "member {} handed out {rest} without holding {partition}",
            event.member
        );
    }
}

/// Two of our members and two librdkafka 2.16 (confluent-kafka) members
/// in one group under `assignor`: the split settles, every message is
/// consumed, also across the rebalance a librdkafka member's leave causes,
/// and no partition is ever held by two members at once.
fn mixed_group_with_librdkafka(name: &str, assignor: &'static str) {
    mixed_group(name, &kafka_options(assignor), &[assignor, "6000"]);
}

/// Two of our members with `options` and two librdkafka members with
/// `settings` ([`spawn_librdkafka_with`]) in group `name`, as
/// [`mixed_group_with_librdkafka`] checks them.
fn mixed_group(name: &str, options: &[(&str, &str)], settings: &[&str]) {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 8);
    let mut group = Members::new(mock.bootstrap(), "", name, &["orders"], options);
    let ours = [group.spawn(), group.spawn()];
    let theirs = [
        spawn_librdkafka_with(&mut group, mock.bootstrap(), name, "orders", settings),
        spawn_librdkafka_with(&mut group, mock.bootstrap(), name, "orders", settings),
    ];
    let everyone = [ours[0], ours[1], theirs[0], theirs[1]];
    let all = all_partitions("orders", 8);
    group.until("the four members settle", Duration::from_secs(90), |events| {
        settled(events, &everyone, &all)
    });
    let sizes: Vec<usize> = shares(&group.seen, &everyone)
        .values()
        .map(|s| s.as_ref().map_or(0, BTreeSet::len))
        .collect();
    assert_eq!(sizes, [2, 2, 2, 2], "an even split");

    group.produce_and_consume(mock.bootstrap(), "orders", "a", 500, 500);
    group.stop(theirs[1]);
    let rest = [ours[0], ours[1], theirs[0]];
    group.until("three members settle", Duration::from_secs(60), |events| {
        settled(events, &rest, &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "b", 500, 1000);
    group.collect(Duration::from_millis(500));
    assert_exclusive(&group.seen, "orders");
    for member in rest {
        group.stop(member);
    }
    for member in [ours[0], ours[1], theirs[0], theirs[1]] {
        group.wait_exit(member, Duration::from_secs(30));
    }
}

#[test]
fn kafka_protocol_mixed_with_librdkafka_under_range() {
    mixed_group_with_librdkafka("kafka_mixed_range", "range");
}

#[test]
fn kafka_protocol_mixed_with_librdkafka_under_roundrobin() {
    mixed_group_with_librdkafka("kafka_mixed_roundrobin", "roundrobin");
}

/// Session timeout of the Kafka-protocol tests (`kafka_options`).
const KAFKA_SESSION: Duration = Duration::from_millis(6000);

/// The time from `from` to when `member` holds every partition of `all`.
fn takeover(group: &mut Members, from: Instant, member: usize, all: &BTreeSet<String>) -> Duration {
    group.until("one member takes everything", Duration::from_secs(60), |events| {
        settled(events, &[member], all)
    }) - from
}

/// When `member` last printed a line starting with `prefix`.
fn last_line_at(group: &Members, member: usize, prefix: &str) -> Instant {
    group
        .seen
        .iter()
        .rev()
        .find(|e| e.member == member && e.line.starts_with(prefix))
        .map(|e| e.at)
        .unwrap_or_else(|| panic!("member {member} printed no {prefix}"))
}

/// Churn, for a pair of members made by `spawn`: one SIGKILLed is
/// replaced after the session timeout; a third that leaves cleanly hands
/// its partitions over without waiting for its session. Returns (takeover after the kill,
/// handover after the clean leave).
fn churn(name: &str, spawn: &dyn Fn(&mut Members, &str) -> usize) -> (Duration, Duration) {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    let mut group = Members::new(mock.bootstrap(), "", name, &["orders"], &kafka_options("range"));
    let (victim, survivor) = (spawn(&mut group, mock.bootstrap()), spawn(&mut group, mock.bootstrap()));
    let all = all_partitions("orders", 4);
    group.until("the pair settles", Duration::from_secs(60), |events| {
        settled(events, &[victim, survivor], &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "before", 200, 200);
    group.kill(victim);
    let killed = takeover(&mut group, Instant::now(), survivor, &all);
    assert!(
        killed >= KAFKA_SESSION / 2,
        "taken over before the session could expire: {killed:?}"
    );
    group.produce_and_consume(mock.bootstrap(), "orders", "after", 200, 400);

    let leaver = spawn(&mut group, mock.bootstrap());
    group.until("the new pair settles", Duration::from_secs(60), |events| {
        settled(events, &[leaver, survivor], &all)
    });
    group.stop(leaver);
    takeover(&mut group, Instant::now(), survivor, &all);
    let handover =
        last_line_at(&group, survivor, "ACQUIRED").saturating_duration_since(last_line_at(&group, leaver, "RELEASING"));
    // The mock coordinator waits a second less than the session timeout
    // for members to rejoin (docs/protocol-notes.md); a killed member is
    // first waited for a whole session timeout, so a clean leave must be
    // handed over sooner than that.
    assert!(
        handover < killed,
        "a clean leave ({handover:?}) was not handed over sooner than a kill ({killed:?})"
    );
    group.collect(Duration::from_millis(300));
    assert_exclusive(&group.seen, "orders");
    group.wait_exit(leaver, Duration::from_secs(20));
    group.stop(survivor);
    group.wait_exit(survivor, Duration::from_secs(20));
    (killed, handover)
}

/// Our members and librdkafka's go through the same churn in one run, so
/// their rebalance times compare.
#[test]
fn kafka_protocol_churn_killed_member_replaced_and_clean_leave_rebalances_at_once() {
    let ours = churn("kafka_churn_ours", &|group, _| group.spawn());
    let theirs = churn("kafka_churn_librdkafka", &|group, bootstrap| {
        spawn_librdkafka(group, bootstrap, "kafka_churn_librdkafka", "orders", "range")
    });
    eprintln!(
        "session timeout {KAFKA_SESSION:?}: takeover after SIGKILL ours {:?}, librdkafka {:?}; \
         handover after a clean leave ours {:?}, librdkafka {:?}",
        ours.0, theirs.0, ours.1, theirs.1
    );
}

/// A group that ran on ZooKeeper with `offset_storage=dual` switches to
/// `group_protocol=kafka` and continues from its committed offsets:
/// nothing read again, nothing skipped.
#[test]
fn kafka_protocol_takes_over_a_zookeeper_group_from_its_dual_offsets() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    let zookeeper = support::zk_chroot("kafka_migration");
    let mut before = Members::new(
        mock.bootstrap(),
        &zookeeper,
        "migration",
        &["orders"],
        &[("offset_storage", "dual"), ("auto_commit_interval_messages", "7")],
    );
    let old = [before.spawn(), before.spawn()];
    let all = all_partitions("orders", 4);
    before.until("the ZooKeeper members settle", Duration::from_secs(60), |events| {
        settled(events, &old, &all)
    });
    produce_numbered(mock.bootstrap(), "orders", "zk", 300);
    before.until(
        "300 messages consumed on ZooKeeper",
        Duration::from_secs(60),
        |events| distinct_values(events).len() == 300,
    );
    before.leave_all(&old);

    produce_numbered(mock.bootstrap(), "orders", "kafka", 300);
    let mut after = Members::new(mock.bootstrap(), "", "migration", &["orders"], &kafka_options("range"));
    let new = [after.spawn(), after.spawn()];
    after.until(
        "300 new messages consumed by the Kafka group",
        Duration::from_secs(60),
        |events| distinct_values(events).len() >= 300,
    );
    after.collect(Duration::from_millis(500));
    let values = consumed(&after.seen);
    assert!(
        values.iter().all(|(_, _, _, value)| value.starts_with("kafka-")),
        "a message committed on ZooKeeper read again"
    );
    assert_eq!(values.len(), 300, "every new message once");
    after.leave_all(&new);
}

/// A member whose application stops calling `next` for longer than
/// `max_poll_interval_ms` leaves the group, so that another member takes
/// its partitions well before its session would expire, and its next call
/// says why.
#[test]
fn kafka_protocol_a_member_past_max_poll_interval_leaves_and_learns_it() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    let mut options = kafka_options("range");
    options.push(("max_poll_interval_ms", "1000"));
    let idle = started_orders_group(&mock, "kafka_max_poll", &options);

    let mut group = Members::new(mock.bootstrap(), "", "kafka_max_poll", &["orders"], &options);
    let busy = group.spawn();
    let all = all_partitions("orders", 4);
    let asked = Instant::now();
    let took = takeover(&mut group, asked, busy, &all);
    assert!(
        took < KAFKA_SESSION + Duration::from_secs(4),
        "the idle member did not leave before its session expired: {took:?}"
    );
    let error = idle.next(&mut PrintingHandler).expect_err("the idle member is out");
    assert_eq!(error.code(), ErrorCode::ConsumerGroup, "{error}");
    assert!(error.to_string().contains("max_poll_interval_ms"), "{error}");
    idle.stop(Duration::from_secs(5), &mut PrintingHandler)
        .expect("stop after leaving");
    group.stop(busy);
    group.wait_exit(busy, Duration::from_secs(20));
}

/// A member asked to stop while its JoinGroup waits for a rebalance to
/// end leaves at once, without waiting for the coordinator.
#[test]
fn kafka_protocol_a_member_stops_promptly_in_the_middle_of_a_rebalance() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 2);
    let mut group = Members::new(
        mock.bootstrap(),
        "",
        "kafka_stop_rejoin",
        &["orders"],
        &kafka_options("range"),
    );
    let (leaver, stayer) = (group.spawn(), group.spawn());
    let all = all_partitions("orders", 2);
    group.until("the pair settles", Duration::from_secs(60), |events| {
        settled(events, &[leaver, stayer], &all)
    });
    group.stop(leaver);
    group.wait_exit(leaver, Duration::from_secs(20));
    let releases = |events: &[Event]| {
        events
            .iter()
            .filter(|e| e.member == stayer && e.line.starts_with("RELEASING"))
            .count()
    };
    let before = releases(&group.seen);
    group.until(
        "the stayer gives its share up to rejoin",
        Duration::from_secs(20),
        |events| releases(events) > before,
    );
    // The mock now waits most of a session timeout for members to rejoin.
    let asked = Instant::now();
    group.stop(stayer);
    group.wait_exit(stayer, Duration::from_secs(20));
    let took = asked.elapsed();
    assert!(took < KAFKA_SESSION / 2, "stopping waited for the rebalance: {took:?}");
    group.collect(Duration::from_millis(300));
    assert!(
        group
            .seen
            .iter()
            .any(|e| e.member == stayer && e.line == "STOPPED Ok(())"),
        "the stop failed: {:#?}",
        group.tail()
    );
}

/// The coordinator's refusals and its death in the middle of a rebalance
/// are survived: pushed Heartbeat errors (coordinator moved or away, a
/// rebalance, an old generation, an unknown member) make the members look
/// the coordinator up again or rejoin; the coordinator's broker taken
/// down while a third member joins and brought back; every message is
/// consumed and no partition is ever held twice.
#[test]
fn kafka_protocol_survives_coordinator_errors_and_its_death_mid_rebalance() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 4);
    let name = "kafka_coordinator_chaos";
    mock.set_coordinator("group", name, 1);
    let mut group = Members::new(mock.bootstrap(), "", name, &["orders"], &kafka_options("range"));
    let pair = [group.spawn(), group.spawn()];
    let all = all_partitions("orders", 4);
    group.until("the pair settles", Duration::from_secs(60), |events| {
        settled(events, &pair, &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "a", 200, 200);

    const HEARTBEAT: i16 = 12;
    // NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, REBALANCE_IN_PROGRESS,
    // ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID.
    mock.push_errors(HEARTBEAT, &[16, 15, 27, 22, 25]);
    produce_numbered(mock.bootstrap(), "orders", "b", 200);
    group.until(
        "400 messages consumed after the refusals",
        Duration::from_secs(60),
        |events| distinct_values(events).len() == 400,
    );
    group.until("the pair settles again", Duration::from_secs(60), |events| {
        settled(events, &pair, &all)
    });

    let third = group.spawn();
    std::thread::sleep(Duration::from_millis(500));
    mock.broker_down(1);
    std::thread::sleep(Duration::from_secs(2));
    mock.broker_up(1);
    let everyone = [pair[0], pair[1], third];
    group.until("the three settle", Duration::from_secs(90), |events| {
        settled(events, &everyone, &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "c", 200, 600);
    group.collect(Duration::from_millis(300));
    assert!(
        !group.seen.iter().any(|e| e.line.starts_with("ERROR")),
        "a member failed: {:#?}",
        group.tail()
    );
    assert_exclusive(&group.seen, "orders");
    for member in everyone {
        group.stop(member);
    }
    for member in everyone {
        group.wait_exit(member, Duration::from_secs(20));
    }
}

/// A static member (`group_instance_id`) joins, consumes and commits with
/// its instance id on every group request (the mocks keep no static
/// membership state, so what a restart keeps is not checked here).
#[test]
fn kafka_protocol_a_static_member_joins_consumes_and_commits() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 3);
    let mut options = kafka_options("roundrobin");
    options.push(("group_instance_id", "static-member-1"));
    let mut group = Members::new(mock.bootstrap(), "", "kafka_static", &["orders"], &options);
    let member = group.spawn();
    group.until("the member holds everything", Duration::from_secs(60), |events| {
        settled(events, &[member], &all_partitions("orders", 3))
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "s", 150, 150);
    group.leave_all(&[member]);
    let committed = committed_offsets(mock.bootstrap(), "kafka_static", "orders");
    assert_eq!(
        committed.values().sum::<i64>(),
        150,
        "stop committed everything: {committed:?}"
    );
}

#[test]
fn kafka_protocol_mixed_with_librdkafka_under_cooperative_sticky() {
    mixed_group_with_librdkafka("kafka_mixed_cooperative", "cooperative-sticky");
}

/// With cooperative-sticky, a joining member moves only the partitions it
/// takes: the two members already in give up one partition each (their
/// pre-rebalance callbacks name just that one) and keep consuming the
/// others; nothing is ever held twice.
#[test]
fn kafka_protocol_cooperative_sticky_moves_only_what_a_joining_member_takes() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 6);
    let mut group = Members::new(
        mock.bootstrap(),
        "",
        "kafka_cooperative",
        &["orders"],
        &kafka_options("cooperative-sticky"),
    );
    let pair = [group.spawn(), group.spawn()];
    let all = all_partitions("orders", 6);
    group.until("the pair settles", Duration::from_secs(60), |events| {
        settled(events, &pair, &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "a", 300, 300);
    let joined_at = group.seen.len();
    let third = group.spawn();
    let everyone = [pair[0], pair[1], third];
    group.until("the three settle", Duration::from_secs(60), |events| {
        settled(events, &everyone, &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "b", 300, 600);
    group.collect(Duration::from_millis(300));
    for member in pair {
        let released: Vec<&str> = group.seen[joined_at..]
            .iter()
            .filter(|e| e.member == member)
            .filter_map(|e| e.line.strip_prefix("RELEASING "))
            .collect();
        assert_eq!(
            released.len(),
            1,
            "member {member} gave up more than once: {released:?}"
        );
        assert_eq!(
            listed(released[0]).count(),
            1,
            "member {member} gave up more than the partition moved: {released:?}"
        );
    }
    let sizes: Vec<usize> = shares(&group.seen, &everyone)
        .values()
        .map(|s| s.as_ref().map_or(0, BTreeSet::len))
        .collect();
    assert_eq!(sizes, [2, 2, 2], "an even split");
    assert_exclusive(&group.seen, "orders");
    group.leave_all(&everyone);
}

/// A commit the coordinator refuses for an old generation is an
/// `OffsetCommitError` carrying Kafka's code, never a silent loss; the
/// offsets stay uncommitted, and the next commit stores them.
#[test]
fn kafka_protocol_a_commit_refused_for_an_old_generation_is_an_error() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 2);
    let mut options = kafka_options("range");
    options.push(("auto_commit_enable", "false"));
    let group = started_orders_group(&mock, "kafka_old_generation", &options);
    produce_numbered(mock.bootstrap(), "orders", "g", 20);
    let mut done = 0;
    while done < 20 {
        match group.next(&mut PrintingHandler) {
            Ok(message) => {
                group.task_done(&message).expect("task_done");
                done += 1;
            }
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => panic!("next: {error}"),
        }
    }
    const OFFSET_COMMIT: i16 = 8;
    const ILLEGAL_GENERATION: i16 = 22;
    mock.push_errors(OFFSET_COMMIT, &[ILLEGAL_GENERATION]);
    let refused = group.commit().expect_err("the refused commit is an error");
    assert_eq!(refused.code(), ErrorCode::OffsetCommit, "{refused}");
    assert_eq!(refused.kafka_code(), Some(ILLEGAL_GENERATION), "{refused}");
    group.commit().expect("the next commit goes through");
    let committed = committed_offsets(mock.bootstrap(), "kafka_old_generation", "orders");
    assert_eq!(committed.values().sum::<i64>(), 20, "{committed:?}");
    group.stop(Duration::from_secs(10), &mut PrintingHandler).expect("stop");
}

/// The commit before an eager revoke, when a second member joins: the
/// first member runs the pre-rebalance callback and commits what was
/// `task_done` before it sends JoinGroup. Kafka accepts that commit (the
/// generation is still current while the rebalance is prepared); both
/// librdkafka mocks refuse every OffsetCommit from the moment a member
/// joins (REBALANCE_IN_PROGRESS, docs/consumer-groups.md). Either way
/// nothing is lost: the committed offset is what was done, or the commit
/// is refused, `next` says so with Kafka's code, and everything after the
/// last commit is read again by the partitions' owners — nothing before
/// it, nothing skipped.
#[test]
fn kafka_protocol_the_commit_before_an_eager_revoke_is_made_or_said_refused() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 2);
    let group_id = "kafka_revoke_commit";
    let mut options = kafka_options("range");
    options.retain(|(key, _)| *key != "auto_commit_interval_messages");
    options.extend([
        ("auto_commit_interval_messages", "1000000"),
        ("auto_commit_interval_ms", "3600000"),
        ("consumer_timeout_ms", "200"),
    ]);
    let config = consumer_fixtures::consumer_config(mock.bootstrap(), group_id, &options);
    let first = ConsumerGroup::new(&["orders".to_string()], config.clone(), None).expect("group");
    let mut handler = RecordingHandler::default();
    first.start(Duration::from_secs(30), &mut handler).expect("start");
    produce_numbered(mock.bootstrap(), "orders", "committed", 20);
    take_done(&first, &mut handler, 20);
    first.commit().expect("commit");
    produce_numbered(mock.bootstrap(), "orders", "done", 10);
    take_done(&first, &mut handler, 10);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let second_stop = std::sync::Arc::clone(&stop);
    let second_values = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let values = std::sync::Arc::clone(&second_values);
    let second = std::thread::spawn(move || {
        let group = ConsumerGroup::new(&["orders".to_string()], config, None).expect("group");
        let mut handler = RecordingHandler::default();
        group.start(Duration::from_secs(60), &mut handler).expect("start");
        while !second_stop.load(Ordering::SeqCst) {
            match group.next(&mut handler) {
                Ok(message) => {
                    group.task_done(&message).expect("task_done");
                    let value = String::from_utf8_lossy(message.value().unwrap_or_default()).into_owned();
                    values.lock().unwrap().push(value);
                }
                Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
                Err(error) => panic!("second member: {error}"),
            }
        }
        group.stop(Duration::from_secs(10), &mut handler).expect("stop");
        handler.acquired
    });

    let (released_before, acquired_before) = (handler.released.len(), handler.acquired.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut again, mut errors) = (Vec::new(), Vec::new());
    while handler.acquired.len() == acquired_before {
        assert!(Instant::now() < deadline, "the first member never rebalanced");
        match first.next(&mut handler) {
            Ok(message) => {
                first.task_done(&message).expect("task_done");
                again.push(String::from_utf8_lossy(message.value().unwrap_or_default()).into_owned());
            }
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => errors.push(error),
        }
    }
    assert_eq!(
        handler.released[released_before], "orders-0,orders-1",
        "an eager revoke gives everything up, the application told first"
    );
    // Let both members read what their partitions hold after the commit:
    // 3 s, or after a refused commit until the 10 messages after it were
    // read again (the mock may take more than one round, each slow on a
    // loaded machine), within 60 s.
    let settled_at = Instant::now() + Duration::from_secs(3);
    let deadline = Instant::now() + Duration::from_secs(60);
    let read_again = |again: &[String]| {
        let mut read: BTreeSet<String> = again.iter().cloned().collect();
        read.extend(second_values.lock().unwrap().iter().cloned());
        read.len()
    };
    while Instant::now() < settled_at || (!errors.is_empty() && read_again(&again) < 10 && Instant::now() < deadline) {
        match first.next(&mut handler) {
            Ok(message) => {
                first.task_done(&message).expect("task_done");
                again.push(String::from_utf8_lossy(message.value().unwrap_or_default()).into_owned());
            }
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => errors.push(error),
        }
    }
    // Committed while the group is stable: the second member's leave
    // starts a rebalance of its own.
    first.commit().expect("commit");
    stop.store(true, Ordering::SeqCst);
    let second_acquired = second.join().expect("the second member");
    // The mock may take more than one round to settle (each a revoke).
    let mut shares = vec![handler.acquired.last().cloned(), second_acquired.last().cloned()];
    shares.sort();
    assert_eq!(
        shares,
        [Some("orders-0".to_string()), Some("orders-1".to_string())],
        "range gives each member one partition"
    );
    again.extend(second_values.lock().unwrap().drain(..));
    assert!(
        again.iter().all(|value| value.starts_with("done-")),
        "nothing before the last commit is read again: {again:?}"
    );
    let committed = committed_offsets(mock.bootstrap(), group_id, "orders");
    if errors.is_empty() {
        eprintln!("the commit before the revoke was accepted");
        assert!(again.is_empty(), "the accepted commit is not read again: {again:?}");
    } else {
        // One refusal per revoke: the mock may take more than one round.
        const REBALANCE_IN_PROGRESS: i16 = 27;
        const ILLEGAL_GENERATION: i16 = 22;
        for refused in &errors {
            assert_eq!(refused.code(), ErrorCode::OffsetCommit, "{refused}");
            assert!(
                matches!(refused.kafka_code(), Some(REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION)),
                "{refused}"
            );
        }
        eprintln!("the commit before the revoke was refused: {errors:?}");
        let mut read: Vec<&String> = again.iter().collect();
        read.sort();
        read.dedup();
        assert_eq!(
            read.len(),
            10,
            "every message after the last commit is read again: {again:?}"
        );
    }
    // In the end everything is committed. The second member's leave gives
    // its partition back to the first; the mock may have settled in more
    // than one round, the second member's share read again only in part
    // when it was told to stop (its last commit covers what it read). The
    // first member reads what is left after the committed offsets, only
    // messages after the last commit, and commits it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut committed_after = committed_offsets(mock.bootstrap(), group_id, "orders");
    let mut drained = Vec::new();
    while committed_after.values().sum::<i64>() < 30 {
        assert!(
            Instant::now() < deadline,
            "in the end everything is committed: {committed:?} then {committed_after:?}"
        );
        match first.next(&mut handler) {
            Ok(message) => {
                first.task_done(&message).expect("task_done");
                drained.push(String::from_utf8_lossy(message.value().unwrap_or_default()).into_owned());
            }
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {
                // Refused while the group rebalances: tried at the next pause.
                let _ = first.commit();
                committed_after = committed_offsets(mock.bootstrap(), group_id, "orders");
            }
            Err(error) => assert_eq!(error.code(), ErrorCode::OffsetCommit, "{error}"),
        }
    }
    assert!(
        drained.iter().all(|value| value.starts_with("done-")),
        "nothing before the last commit is read again: {drained:?}"
    );
    first.stop(Duration::from_secs(10), &mut handler).expect("stop");
    let committed_at_stop = committed_offsets(mock.bootstrap(), group_id, "orders");
    assert_eq!(committed_at_stop.values().sum::<i64>(), 30, "{committed_at_stop:?}");
}

/// A static member fenced by another with its `group_instance_id`
/// (FENCED_INSTANCE_ID on a heartbeat) is out of the group for good: the
/// next call says so with `ConsumerGroupError` and Kafka's code.
#[test]
fn kafka_protocol_a_fenced_static_member_learns_it_is_out() {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 2);
    let mut options = kafka_options("range");
    options.push(("group_instance_id", "fenced-1"));
    let group = started_orders_group(&mock, "kafka_fenced", &options);
    const HEARTBEAT: i16 = 12;
    const FENCED_INSTANCE_ID: i16 = 82;
    mock.push_errors(HEARTBEAT, &[FENCED_INSTANCE_ID]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let error = loop {
        match group.next(&mut PrintingHandler) {
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => break error,
            Ok(message) => panic!("no message was produced: {message:?}"),
        }
        assert!(Instant::now() < deadline, "the member never learned it was fenced");
    };
    assert_eq!(error.code(), ErrorCode::ConsumerGroup, "{error}");
    assert_eq!(error.kafka_code(), Some(FENCED_INSTANCE_ID), "{error}");
    group.stop(Duration::from_secs(10), &mut PrintingHandler).expect("stop");
}

// ---------------------------------------------------------------------------
// group_protocol=kafka_consumer: Kafka's next-generation protocol (KIP-848)
// ---------------------------------------------------------------------------

/// Options of a member balanced by the next-generation protocol.
fn consumer_protocol_options() -> Vec<(&'static str, &'static str)> {
    vec![
        ("group_protocol", "kafka_consumer"),
        ("session_timeout_ms", "6000"),
        ("heartbeat_interval_ms", "300"),
        ("auto_commit_interval_messages", "10"),
    ]
}

/// Whether the mock speaks the next-generation protocol (the librdkafka
/// 2.16 mock announces ConsumerGroupHeartbeat; the 2.0.2 mock does not).
/// Where it does not, asserts that a member fails at once with a
/// `ConsumerGroupError` naming the missing API, and returns false.
fn consumer_protocol_spoken(name: &str) -> bool {
    let mock = MockCluster::start(1);
    let version = mock.librdkafka_version();
    eprintln!("{name}: librdkafka {version} mock");
    if !version.starts_with("2.0.") {
        return true;
    }
    mock.create_topic("orders", 1);
    let mut group = Members::new(mock.bootstrap(), "", name, &["orders"], &consumer_protocol_options());
    let member = group.spawn();
    let error = group
        .events
        .recv_timeout(Duration::from_secs(30))
        .expect("the member reports the missing API");
    assert!(
        error.line.starts_with("ERROR start ConsumerGroupError")
            && error.line.contains("not supported by the broker")
            && error.line.contains("ConsumerGroupHeartbeat"),
        "{}",
        error.line
    );
    eprintln!("{name}: {}", error.line);
    group.kill(member);
    false
}

/// A mock cluster with an `orders` topic of `partitions` partitions and
/// two of our members of group `name` (next-generation protocol) that
/// settled on a split: (cluster, members, the pair, every partition).
fn settled_pair(name: &str, partitions: i32) -> (MockCluster, Members, [usize; 2], BTreeSet<String>) {
    let mock = MockCluster::start(3);
    mock.create_topic("orders", partitions as u32);
    let mut group = Members::new(mock.bootstrap(), "", name, &["orders"], &consumer_protocol_options());
    let pair = [group.spawn(), group.spawn()];
    let all = all_partitions("orders", partitions);
    group.until("the pair settles", Duration::from_secs(60), |events| {
        settled(events, &pair, &all)
    });
    (mock, group, pair, all)
}

#[test]
fn kafka_consumer_protocol_one_member_one_partition() {
    if consumer_protocol_spoken("kip848_1x1") {
        split_consume_and_restart_with("kip848_1x1", 1, 1, &consumer_protocol_options());
    }
}

#[test]
fn kafka_consumer_protocol_two_members_one_partition() {
    if consumer_protocol_spoken("kip848_2x1") {
        split_consume_and_restart_with("kip848_2x1", 2, 1, &consumer_protocol_options());
    }
}

#[test]
fn kafka_consumer_protocol_three_members_eight_partitions() {
    if consumer_protocol_spoken("kip848_3x8") {
        split_consume_and_restart_with("kip848_3x8", 3, 8, &consumer_protocol_options());
    }
}

/// A member leaving hands its partitions over: the one left takes them
/// all and consumes what is written next.
#[test]
fn kafka_consumer_protocol_a_member_leaving_hands_over() {
    if !consumer_protocol_spoken("kip848_leave") {
        return;
    }
    let (mock, mut group, pair, all) = settled_pair("kip848_leave", 4);
    group.stop(pair[0]);
    group.wait_exit(pair[0], Duration::from_secs(20));
    group.until("the other takes everything", Duration::from_secs(30), |events| {
        settled(events, &pair[1..], &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "a", 200, 200);
    group.collect(Duration::from_millis(300));
    assert_eq!(consumed(&group.seen).len(), 200, "every message once");
    group.leave_all(&pair[1..]);
}

/// A third member joining moves only partitions: the two already in give
/// up (pre-rebalance callbacks) exactly those the coordinator's new split
/// moves away from them, and keep consuming the rest without a revoke;
/// nothing is ever held twice. (The mock's range assignor may also move a
/// partition between the two, docs/protocol-notes.md.)
#[test]
fn kafka_consumer_protocol_a_joining_member_moves_only_what_it_takes() {
    if !consumer_protocol_spoken("kip848_join") {
        return;
    }
    let (mock, mut group, pair, all) = settled_pair("kip848_join", 6);
    group.produce_and_consume(mock.bootstrap(), "orders", "a", 300, 300);
    let joined_at = group.seen.len();
    let third = group.spawn();
    let everyone = [pair[0], pair[1], third];
    group.until("the three settle", Duration::from_secs(60), |events| {
        settled(events, &everyone, &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "b", 300, 600);
    group.collect(Duration::from_millis(300));
    let before = shares(&group.seen[..joined_at], &pair);
    let shares = shares(&group.seen, &everyone);
    for member in pair {
        let kept = before[&member].clone().unwrap_or_default();
        let now = shares[&member].clone().unwrap_or_default();
        let mut released = BTreeSet::new();
        for event in group.seen[joined_at..].iter().filter(|e| e.member == member) {
            if let Some(list) = event.line.strip_prefix("RELEASING ") {
                released.extend(listed(list));
            }
        }
        let moved: BTreeSet<String> = kept.difference(&now).cloned().collect();
        assert_eq!(
            released, moved,
            "member {member} gave up more than what moved away from it"
        );
    }
    let sizes: Vec<usize> = shares.values().map(|s| s.as_ref().map_or(0, BTreeSet::len)).collect();
    assert_eq!(sizes, [2, 2, 2], "an even split");
    assert_exclusive(&group.seen, "orders");
    assert_eq!(consumed(&group.seen).len(), 600, "every message once");
    group.leave_all(&everyone);
}

/// The coordinator's refusals: moved or unavailable coordinators are
/// looked up again, a fenced epoch and an unknown member give everything
/// up and join again with epoch 0, and the pair keeps consuming; a
/// refusal the member cannot act on (GROUP_MAX_SIZE_REACHED) fails the
/// group with a `ConsumerGroupError` naming it.
#[test]
fn kafka_consumer_protocol_survives_coordinator_refusals() {
    if !consumer_protocol_spoken("kip848_refusals") {
        return;
    }
    let (mock, mut group, pair, all) = settled_pair("kip848_refusals", 4);
    group.produce_and_consume(mock.bootstrap(), "orders", "a", 200, 200);

    const CONSUMER_GROUP_HEARTBEAT: i16 = 68;
    // NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, FENCED_MEMBER_EPOCH,
    // UNKNOWN_MEMBER_ID.
    let refused_at = group.seen.len();
    let fenced_since = Instant::now();
    mock.push_errors(CONSUMER_GROUP_HEARTBEAT, &[16, 15, 110, 25]);
    group.until("a member gives everything up", Duration::from_secs(30), |events| {
        events[refused_at..].iter().any(|e| e.line.starts_with("RELEASING"))
    });
    produce_numbered(mock.bootstrap(), "orders", "b", 200);
    group.until(
        "400 messages consumed after the refusals",
        Duration::from_secs(60),
        |events| distinct_values(events).len() == 400,
    );
    group.until("the pair settles again", Duration::from_secs(60), |events| {
        settled(events, &pair, &all)
    });
    assert!(
        !group.seen.iter().any(|e| e.line.starts_with("ERROR")),
        "a member failed: {:#?}",
        group.tail()
    );
    assert_exclusive_but_fenced(&group.seen, "orders", Some(fenced_since));

    const GROUP_MAX_SIZE_REACHED: i16 = 81;
    mock.push_errors(CONSUMER_GROUP_HEARTBEAT, &[GROUP_MAX_SIZE_REACHED]);
    group.until("a member fails naming the refusal", Duration::from_secs(30), |events| {
        events
            .iter()
            .any(|e| e.line.starts_with("ERROR ConsumerGroupError") && e.line.contains("GroupMaxSizeReached"))
    });
    group.leave_all(&pair);
}

/// Records the rebalance callbacks a test drives itself.
#[derive(Default)]
struct RecordingHandler {
    released: Vec<String>,
    acquired: Vec<String>,
}

impl RebalanceHandler for RecordingHandler {
    fn before_release(&mut self, partitions: &[TopicPartition]) {
        self.released.push(names(partitions));
    }

    fn after_acquire(&mut self, partitions: &[TopicPartition]) {
        self.acquired.push(names(partitions));
    }
}

/// Calls `next` until `count` messages came, marking each done; returns
/// their values and the errors met on the way.
fn take_done(
    group: &ConsumerGroup,
    handler: &mut RecordingHandler,
    count: usize,
) -> (Vec<String>, Vec<yelp_kafka::Error>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut values, mut errors) = (Vec::new(), Vec::new());
    while values.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} messages came; errors {errors:?}",
            values.len()
        );
        match group.next(handler) {
            Ok(message) => {
                group.task_done(&message).expect("task_done");
                values.push(String::from_utf8_lossy(message.value().unwrap_or_default()).into_owned());
            }
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => errors.push(error),
        }
    }
    (values, errors)
}

/// A member the coordinator says is fenced (FENCED_MEMBER_EPOCH) or
/// unknown (UNKNOWN_MEMBER_ID) has lost its assignment: it gives every
/// partition up (the pre-rebalance callback names them), commits nothing
/// with its old epoch (the commit of what was done is refused before it
/// is sent and `next` says so once), joins again with epoch 0, gets its
/// partitions back, reads again what was not committed, and goes on
/// consuming and committing with its new epoch.
#[test]
fn kafka_consumer_protocol_a_fenced_member_drops_its_partitions_and_rejoins() {
    if !consumer_protocol_spoken("kip848_fenced") {
        return;
    }
    let mock = MockCluster::start(1);
    mock.create_topic("orders", 2);
    let mut options = consumer_protocol_options();
    options.retain(|(key, _)| *key != "auto_commit_interval_messages");
    options.extend([
        ("auto_commit_interval_messages", "1000000"),
        ("auto_commit_interval_ms", "3600000"),
        ("consumer_timeout_ms", "200"),
    ]);
    let group_id = "kip848_fenced";
    let config = consumer_fixtures::consumer_config(mock.bootstrap(), group_id, &options);
    let group = ConsumerGroup::new(&["orders".to_string()], config, None).expect("group");
    let mut handler = RecordingHandler::default();
    group.start(Duration::from_secs(30), &mut handler).expect("start");
    assert_eq!(handler.acquired, ["orders-0,orders-1"]);

    const CONSUMER_GROUP_HEARTBEAT: i16 = 68;
    const FENCED_MEMBER_EPOCH: i16 = 110;
    const UNKNOWN_MEMBER_ID: i16 = 25;
    let mut committed_total = 0;
    for (round, code) in [FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID].into_iter().enumerate() {
        let committed = format!("committed{round}");
        let pending = format!("pending{round}");
        produce_numbered(mock.bootstrap(), "orders", &committed, 20);
        let (_, errors) = take_done(&group, &mut handler, 20);
        assert!(errors.is_empty(), "{errors:?}");
        group.commit().expect("commit");
        committed_total += 20;
        produce_numbered(mock.bootstrap(), "orders", &pending, 10);
        let (_, errors) = take_done(&group, &mut handler, 10);
        assert!(errors.is_empty(), "{errors:?}");

        let (released_before, acquired_before) = (handler.released.len(), handler.acquired.len());
        mock.push_errors(CONSUMER_GROUP_HEARTBEAT, &[code]);
        // The 10 done but not committed are read again after the rejoin.
        let (again, errors) = take_done(&group, &mut handler, 10);
        assert_eq!(
            handler.released[released_before..],
            ["orders-0,orders-1"],
            "round {round}: every partition given up, the application told"
        );
        assert_eq!(
            handler.acquired[acquired_before..],
            ["orders-0,orders-1"],
            "round {round}: the partitions come back after the rejoin"
        );
        assert!(
            again.iter().all(|value| value.starts_with(&pending)),
            "round {round}: {again:?}"
        );
        assert_eq!(
            errors.len(),
            1,
            "round {round}: the refused commit is said once: {errors:?}"
        );
        assert_eq!(errors[0].code(), ErrorCode::OffsetCommit, "{}", errors[0]);
        assert_eq!(
            committed_offsets(mock.bootstrap(), group_id, "orders")
                .values()
                .sum::<i64>(),
            committed_total,
            "round {round}: nothing was committed with the old epoch"
        );
        group.commit().expect("the new epoch commits");
        committed_total += 10;
        assert_eq!(
            committed_offsets(mock.bootstrap(), group_id, "orders")
                .values()
                .sum::<i64>(),
            committed_total
        );
    }
    group.stop(Duration::from_secs(10), &mut handler).expect("stop");
}

/// Two of our members and two librdkafka 2.16 members with
/// `group.protocol=consumer` in one group: the coordinator splits evenly
/// between them, every message is consumed, and nothing is held twice,
/// also across the reassignment a librdkafka member's leave causes.
#[test]
fn kafka_consumer_protocol_mixed_with_librdkafka() {
    let name = "kip848_mixed";
    if consumer_protocol_spoken(name) {
        mixed_group(name, &consumer_protocol_options(), &["-", "0", "consumer"]);
    }
}

/// A static member (`group_instance_id`) leaves with epoch −2, which keeps
/// its place: restarted (with a new member id) it gets its partitions back
/// and reads on from its commits.
#[test]
fn kafka_consumer_protocol_a_static_member_comes_back_to_its_partitions() {
    if !consumer_protocol_spoken("kip848_static") {
        return;
    }
    let mock = MockCluster::start(3);
    mock.create_topic("orders", 3);
    let mut options = consumer_protocol_options();
    options.push(("group_instance_id", "static-member-1"));
    let mut group = Members::new(mock.bootstrap(), "", "kip848_static", &["orders"], &options);
    let all = all_partitions("orders", 3);
    let first = group.spawn();
    group.until("the member holds everything", Duration::from_secs(60), |events| {
        settled(events, &[first], &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "s", 150, 150);
    group.leave_all(&[first]);
    let committed = committed_offsets(mock.bootstrap(), "kip848_static", "orders");
    assert_eq!(
        committed.values().sum::<i64>(),
        150,
        "stop committed everything: {committed:?}"
    );

    let again = group.spawn();
    group.until("the member holds everything again", Duration::from_secs(60), |events| {
        settled(events, &[again], &all)
    });
    group.produce_and_consume(mock.bootstrap(), "orders", "t", 50, 200);
    group.collect(Duration::from_millis(300));
    assert_eq!(
        consumed(&group.seen).len(),
        200,
        "nothing read twice across the restart"
    );
    group.leave_all(&[again]);
}
