//! Issue 12's chaos test: a mixed consumer group — three of our members
//! (this test binary run again, see `chaos_member_process`) and two Python
//! members (kazoo's `SetPartitioner` with confluent-kafka,
//! tests/support/kazoo_consumer.py) — consumes a 12-partition topic of a
//! 3-broker mock while a producer writes numbered messages and the test
//! SIGKILLs a member, stops and restarts another, stops ZooKeeper for 15 s,
//! takes a broker down and moves leaders. From the members' logs it checks
//! the promise of docs/consumer-groups.md: no acknowledged message lost, no
//! partition processed by two members at once, and re-reads only where the
//! design allows them.
//!
//! The re-read bound. Every member logs each commit Kafka stored, and the
//! next owner of a partition starts at the last one ("A member holds a
//! partition's lock before it fetches from it, and gives the lock up only
//! after its last commit for it"). A message may therefore be processed
//! again only if the hold of the member that processed it before ended
//! without a stored commit — SIGKILL, PartitionerError (kazoo: FAILURE), or
//! a release whose commit failed ("A failed commit is returned after the
//! release") — and that member processed it after its last stored commit of
//! the partition. Stopping ZooKeeper should add none: our members stop
//! handing out messages when the connection drops but keep committing while
//! their session confirmation is fresh ("Losing ZooKeeper"), and kazoo
//! members release, with a commit, as soon as the connection is SUSPENDED.
//! Every member's lines, and the test's faults, are kept in
//! target/chaos/events-librdkafka-<mock version>.log.

#[path = "support/consumer_fixtures.rs"]
mod consumer_fixtures;
#[path = "support/group_fixtures.rs"]
mod group_fixtures;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consumer_fixtures::{cluster_config, mock_values};
use group_fixtures::{group_nodes, PrivateZookeeper};
use support::MockCluster;
use yelp_kafka::consumer::{ConsumerConfig, TopicPartition};
use yelp_kafka::groups::{ConsumerGroup, RebalanceHandler};
use yelp_kafka::producer::{Producer, QueueWait};
use yelp_kafka::test_support::layout;
use yelp_kafka::ErrorCode;

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 12;
const GROUP: &str = "chaos";
const COOLDOWN: &str = "0.5";
/// Shorter than the 10 s default so that a SIGKILLed member's partitions
/// move, and cut-off members fail, within the test's time (both are bounded
/// by the session timeout, docs/consumer-groups.md "Losing ZooKeeper").
const SESSION_TIMEOUT_MS: u64 = 6000;
/// Every member commits after this many messages, or this long after the
/// oldest uncommitted one, and logs each commit: a re-read is then checked
/// against the last commit its first reader made (docs/offsets.md).
const COMMIT_EVERY: u32 = 10;
const COMMIT_AFTER: Duration = Duration::from_millis(300);
/// The group's coordinator: never taken down, so that commits (and the
/// commit before every release) keep working while a partition leader is
/// away. Broker 2 is the one taken down.
const COORDINATOR: i32 = 1;
const DOWN_BROKER: i32 = 2;
const MEMBER_ENV: &str = "YK_CHAOS_MEMBER";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("wall clock after 1970")
        .as_millis() as u64
}

fn numbers(partitions: impl IntoIterator<Item = i32>) -> String {
    let names: Vec<String> = partitions.into_iter().map(|p| p.to_string()).collect();
    names.join(",")
}

// ---------------------------------------------------------------------------
// Our member process
// ---------------------------------------------------------------------------

/// One incarnation of the group in a member process: logs every event as
/// `YK <wall ms> <name> <incarnation> <EVENT> ...` (the Python members'
/// format) and keeps the positions it will commit.
struct MemberLog {
    name: String,
    incarnation: u32,
    /// Partition → next offset to commit, for the partitions held.
    positions: BTreeMap<i32, i64>,
    uncommitted: u32,
    oldest_uncommitted: Option<Instant>,
    /// Set by `before_release`: the call that released reports the commit.
    released: bool,
}

impl MemberLog {
    fn log(&self, what: &str) {
        println!("YK {} {} {} {what}", now_ms(), self.name, self.incarnation);
    }

    fn processed(&mut self, partition: i32, offset: i64) {
        self.positions.insert(partition, offset + 1);
        self.uncommitted += 1;
        self.oldest_uncommitted.get_or_insert_with(Instant::now);
    }

    fn commit_due(&self) -> bool {
        self.uncommitted >= COMMIT_EVERY || self.oldest_uncommitted.is_some_and(|at| at.elapsed() >= COMMIT_AFTER)
    }

    fn commit(&mut self, group: &ConsumerGroup) {
        match group.commit() {
            Ok(()) => {
                let positions: Vec<String> = self.positions.iter().map(|(p, o)| format!("{p}={o}")).collect();
                self.log(&format!("COMMIT ok {}", positions.join(",")));
                self.uncommitted = 0;
                self.oldest_uncommitted = None;
            }
            Err(error) => self.log(&format!("COMMIT err {}", error.code().name())),
        }
    }
}

impl RebalanceHandler for MemberLog {
    fn before_release(&mut self, partitions: &[TopicPartition]) {
        self.log(&format!(
            "RELEASING {}",
            numbers(partitions.iter().map(|p| p.partition))
        ));
        for partition in partitions {
            self.positions.remove(&partition.partition);
        }
        self.released = true;
    }

    fn after_acquire(&mut self, partitions: &[TopicPartition]) {
        self.log(&format!("ACQUIRED {}", numbers(partitions.iter().map(|p| p.partition))));
    }
}

/// Python yelp_kafka's consumer loop (examples-c/consumer_group.c): the
/// group re-created after a PartitionerError, every message marked done,
/// commits as [`COMMIT_EVERY`] says; leaves on a line (or EOF) on stdin.
#[test]
fn chaos_member_process() {
    let Ok(spec) = std::env::var(MEMBER_ENV) else {
        return; // run by the chaos test only
    };
    let [name, bootstrap, zookeeper] = spec.split('|').collect::<Vec<_>>()[..] else {
        panic!("bad {MEMBER_ENV}: {spec}");
    };
    let session_timeout = SESSION_TIMEOUT_MS.to_string();
    let options = [
        ("partitioner_cooldown", COOLDOWN),
        ("auto_offset_reset", "smallest"),
        ("offset_storage", "kafka"),
        ("zookeeper_session_timeout_ms", session_timeout.as_str()),
        // Auto-commit stays on for the commit before a release and on stop;
        // by count and time it is off (a day, the longest interval allowed), so that
        // every other commit is one this member logs.
        ("auto_commit_interval_messages", "0"),
        ("auto_commit_interval_ms", "86400000"),
    ];
    let config =
        ConsumerConfig::new(GROUP, &cluster_config(bootstrap, zookeeper), &mock_values(&options)).expect("config");
    let leaving = group_fixtures::leave_on_stdin_line();
    let mut incarnation = 0;
    loop {
        incarnation += 1;
        let mut member = MemberLog {
            name: name.to_string(),
            incarnation,
            positions: BTreeMap::new(),
            uncommitted: 0,
            oldest_uncommitted: None,
            released: false,
        };
        let group = ConsumerGroup::new(&[TOPIC.to_string()], config.clone(), None).expect("group");
        match group.start(Duration::from_secs(30), &mut member) {
            Ok(()) => {}
            Err(error) if error.code() == ErrorCode::TimedOut => {}
            Err(error) => {
                // ZooKeeper unreachable: docs/consumer-groups.md, "Recovery after an outage".
                member.log(&format!("RETRY start {}", error.code().name()));
                std::thread::sleep(Duration::from_millis(300));
                continue;
            }
        }
        member.log(&format!("STARTED {}", group.identifier()));
        loop {
            if leaving.load(Ordering::SeqCst) {
                // A stop after an unnoticed PartitionerError commits nothing
                // and still succeeds: the explicit commit tells them apart.
                member.commit(&group);
                let result = group.stop(Duration::from_secs(10), &mut member);
                member.log(&format!("STOPPED {}", if result.is_ok() { "ok" } else { "err" }));
                return;
            }
            member.released = false;
            let result = group.next(&mut member);
            if member.released {
                // A failed commit before a release is returned after it
                // (docs/consumer-groups.md, "States").
                let committed = !matches!(&result, Err(e) if e.code() != ErrorCode::ConsumerTimeout);
                member.log(&format!("RELEASED {}", if committed { "ok" } else { "err" }));
                member.uncommitted = 0;
                member.oldest_uncommitted = None;
            }
            match result {
                Ok(message) => {
                    let value = String::from_utf8_lossy(message.value().unwrap_or_default()).into_owned();
                    member.log(&format!("MSG {} {} {value}", message.partition(), message.offset()));
                    group.task_done(&message).expect("task_done");
                    member.processed(message.partition(), message.offset());
                }
                Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
                Err(error) if error.code() == ErrorCode::Partitioner => {
                    member.log("FAILED partitioner");
                    let _ = group.stop(Duration::from_secs(5), &mut member);
                    break;
                }
                Err(error) => {
                    member.log(&format!("RETRY next {}", error.code().name()));
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            if member.commit_due() {
                member.commit(&group);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// What the members log
// ---------------------------------------------------------------------------

/// One logged line: `YK <wall ms> <name> <incarnation> <EVENT> ...`.
#[derive(Debug, Clone)]
struct Event {
    member: usize,
    ms: u64,
    incarnation: u32,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Started(String),
    Acquired(Vec<i32>),
    Releasing(Vec<i32>),
    /// Whether the commit before the release was stored.
    Released(bool),
    /// Positions stored, or `None` when the commit failed.
    Commit(Option<Vec<(i32, i64)>>),
    Msg {
        partition: i32,
        offset: i64,
        seq: u64,
    },
    Failed,
    Stopped,
    Retry,
}

fn parse_numbers(text: &str) -> Vec<i32> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().expect("partition number"))
        .collect()
}

/// Parses the part of a member's output line from `YK ` on.
fn parse(member: usize, line: &str) -> Option<Event> {
    let (_, line) = line.split_once("YK ")?;
    let fields: Vec<&str> = line.split(' ').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let kind = match field(3) {
        "STARTED" => Kind::Started(field(4).to_string()),
        "ACQUIRED" => Kind::Acquired(parse_numbers(field(4))),
        "RELEASING" => Kind::Releasing(parse_numbers(field(4))),
        "RELEASED" => Kind::Released(field(4) == "ok"),
        "COMMIT" if field(4) == "ok" => Kind::Commit(Some(
            field(5)
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (p, o) = pair.split_once('=').expect("partition=offset");
                    (p.parse().expect("partition"), o.parse().expect("offset"))
                })
                .collect(),
        )),
        "COMMIT" => Kind::Commit(None),
        "MSG" => Kind::Msg {
            partition: field(4).parse().expect("partition"),
            offset: field(5).parse().expect("offset"),
            seq: field(6)
                .strip_prefix('s')
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("a value the producer did not write: {line}")),
        },
        "FAILED" => Kind::Failed,
        "STOPPED" => Kind::Stopped,
        "RETRY" => Kind::Retry,
        _ => panic!("member {member} logged {line:?}"),
    };
    Some(Event {
        member,
        ms: field(0).parse().expect("wall ms"),
        incarnation: field(2).parse().expect("incarnation"),
        kind,
    })
}

// ---------------------------------------------------------------------------
// The member processes, seen from the test
// ---------------------------------------------------------------------------

struct Process {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Asked to leave, or killed: its exit is expected.
    leaving: bool,
    killed: bool,
}

/// Every member process, what they logged, and the group's state as the
/// logs tell it. Drop kills whatever still runs.
struct Members {
    processes: Vec<Process>,
    lines: Receiver<(usize, String)>,
    sender: Sender<(usize, String)>,
    events: Vec<Event>,
    /// Everything read, for the report when an assertion fails.
    log: File,
    bootstrap: String,
    zookeeper: String,
    group_path: String,
    /// The latest share of each member still running (None: holds nothing).
    shares: BTreeMap<usize, Option<BTreeSet<i32>>>,
    identifiers: BTreeMap<usize, String>,
    /// Highest sequence number processed, by partition.
    latest_seq: BTreeMap<i32, u64>,
    processed_seqs: BTreeSet<u64>,
}

impl Members {
    fn new(bootstrap: &str, zookeeper: &str, log_path: &std::path::Path) -> Members {
        let (sender, lines) = mpsc::channel();
        Members {
            processes: Vec::new(),
            lines,
            sender,
            events: Vec::new(),
            log: File::create(log_path).expect("create the event log"),
            bootstrap: bootstrap.to_string(),
            zookeeper: zookeeper.to_string(),
            group_path: layout::group_path(None, GROUP, &[TOPIC.to_string()], true),
            shares: BTreeMap::new(),
            identifiers: BTreeMap::new(),
            latest_seq: BTreeMap::new(),
            processed_seqs: BTreeSet::new(),
        }
    }

    fn spawn(&mut self, name: String, mut command: Command) -> usize {
        let index = self.processes.len();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let sender = self.sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send((index, line)).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        self.processes.push(Process {
            name,
            child,
            stdin,
            leaving: false,
            killed: false,
        });
        self.shares.insert(index, None);
        index
    }

    /// One of our members: this binary running `chaos_member_process`.
    fn spawn_ours(&mut self) -> usize {
        let name = format!("ours-{}", self.processes.len());
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args(["--exact", "chaos_member_process", "--nocapture", "--test-threads=1"])
            .env(MEMBER_ENV, format!("{name}|{}|{}", self.bootstrap, self.zookeeper));
        self.spawn(name, command)
    }

    /// A Python member: tests/support/kazoo_consumer.py.
    fn spawn_kazoo(&mut self) -> usize {
        let name = format!("kazoo-{}", self.processes.len());
        let mut command = Command::new("python3");
        command
            .arg(support::repo_root().join("tests/support/kazoo_consumer.py"))
            .args([&name, &self.zookeeper, &self.group_path, &self.bootstrap, TOPIC])
            .arg(PARTITIONS.to_string())
            .arg(GROUP)
            .arg(COOLDOWN)
            .arg((SESSION_TIMEOUT_MS as f64 / 1000.0).to_string())
            .arg(COMMIT_EVERY.to_string())
            .arg(COMMIT_AFTER.as_millis().to_string());
        self.spawn(name, command)
    }

    fn record(&mut self, event: Event) {
        let member = event.member;
        match &event.kind {
            Kind::Started(identifier) => {
                self.identifiers.insert(member, identifier.clone());
            }
            Kind::Acquired(partitions) => {
                self.shares.insert(member, Some(partitions.iter().copied().collect()));
            }
            Kind::Releasing(_) | Kind::Failed | Kind::Stopped => {
                self.shares.insert(member, None);
            }
            Kind::Msg { partition, seq, .. } => {
                let latest = self.latest_seq.entry(*partition).or_default();
                *latest = (*latest).max(*seq);
                self.processed_seqs.insert(*seq);
            }
            Kind::Released(_) | Kind::Commit(_) | Kind::Retry => {}
        }
        self.events.push(event);
    }

    /// Reads what the members log for `time`; panics if a member exits
    /// unasked.
    fn collect(&mut self, time: Duration) {
        let deadline = Instant::now() + time;
        while let Ok((member, line)) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            writeln!(self.log, "{member} {line}").expect("write the event log");
            if let Some(event) = parse(member, &line) {
                self.record(event);
            }
        }
        for process in &mut self.processes {
            if !process.leaving {
                if let Ok(Some(status)) = process.child.try_wait() {
                    panic!("{} exited unasked: {status}", process.name);
                }
            }
        }
    }

    /// Reads until `done` holds, or panics after `timeout`; returns when.
    fn until(&mut self, what: &str, timeout: Duration, done: impl Fn(&Members) -> bool) -> u64 {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {timeout:?}; shares {:?}",
                self.shares
            );
            self.collect(Duration::from_millis(50));
        }
        now_ms()
    }

    /// Whether the running members hold disjoint shares covering the topic.
    fn settled(&self) -> bool {
        let mut union = BTreeSet::new();
        for share in self.shares.values() {
            let Some(share) = share else { return false };
            for partition in share {
                if !union.insert(*partition) {
                    return false;
                }
            }
        }
        union.len() == PARTITIONS as usize
    }

    /// Whether every partition processed a message numbered `seq` or later.
    fn progressed_past(&self, seq: u64) -> bool {
        (0..PARTITIONS).all(|p| self.latest_seq.get(&p).is_some_and(|latest| *latest >= seq))
    }

    fn kill(&mut self, index: usize) {
        let process = &mut self.processes[index];
        process.leaving = true;
        process.killed = true;
        process.child.kill().expect("SIGKILL member");
        let _ = process.child.wait();
        self.shares.remove(&index);
        self.identifiers.remove(&index);
    }

    /// Asks member `index` to leave (stdin closed) and waits for its exit.
    fn leave(&mut self, index: usize, timeout: Duration) {
        self.processes[index].leaving = true;
        drop(self.processes[index].stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.processes[index].child.try_wait() {
                assert!(status.success(), "{} exited with {status}", self.processes[index].name);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not leave",
                self.processes[index].name
            );
            self.collect(Duration::from_millis(50));
        }
        // Its last lines may still be in the pipe.
        self.collect(Duration::from_millis(200));
        self.shares.remove(&index);
        self.identifiers.remove(&index);
    }

    /// Notes what the test did in the event log, among the members' lines.
    fn mark(&mut self, what: &str) {
        writeln!(self.log, "# {what}").expect("write the event log");
    }

    fn running(&self) -> Vec<usize> {
        self.shares.keys().copied().collect()
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// The producer
// ---------------------------------------------------------------------------

/// What the producer wrote: acknowledged sequence numbers with where they
/// went, and the ones refused or failed.
#[derive(Default)]
struct Produced {
    acked: BTreeMap<u64, (i32, i64)>,
    failed: BTreeSet<u64>,
}

/// Our producer (acks=all) on a thread: six numbered messages every 50 ms,
/// message `s<n>` to partition n mod 12, until stopped.
struct ProducerThread {
    next_seq: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    produced: Arc<Mutex<Produced>>,
    thread: Option<JoinHandle<()>>,
}

impl ProducerThread {
    fn start(bootstrap: &str) -> ProducerThread {
        let options = [("acks", "all"), ("retries", "1000"), ("retry_backoff_ms", "100")];
        let producer = Producer::new(&cluster_config(bootstrap, ""), &mock_values(&options), None).expect("producer");
        let next_seq = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let produced = Arc::new(Mutex::new(Produced::default()));
        let (thread_seq, thread_stop, thread_produced) =
            (Arc::clone(&next_seq), Arc::clone(&stop), Arc::clone(&produced));
        let thread = std::thread::spawn(move || {
            let mut record = |served: yelp_kafka::producer::Reports| {
                let mut produced = thread_produced.lock().unwrap();
                for report in served {
                    let seq = report.opaque as u64;
                    if report.error.is_none() {
                        produced.acked.insert(seq, (report.partition, report.offset));
                    } else {
                        produced.failed.insert(seq);
                    }
                }
            };
            while !thread_stop.load(Ordering::SeqCst) {
                for _ in 0..6 {
                    let seq = thread_seq.fetch_add(1, Ordering::SeqCst);
                    let value = format!("s{seq}");
                    let partition = (seq % PARTITIONS as u64) as i32;
                    let queued = producer.produce(
                        TOPIC,
                        Some(partition),
                        None,
                        Some(value.as_bytes()),
                        seq as usize,
                        QueueWait::Upto(Duration::from_secs(1)),
                    );
                    if queued.is_err() {
                        thread_produced.lock().unwrap().failed.insert(seq);
                    }
                }
                let _ = producer.poll(Duration::ZERO, &mut record);
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = producer.close(Duration::from_secs(20), &mut record);
        });
        ProducerThread {
            next_seq,
            stop,
            produced,
            thread: Some(thread),
        }
    }

    /// The number the next message will carry.
    fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::SeqCst)
    }

    /// Stops producing, waits for the last acknowledgements.
    fn finish(mut self) -> (u64, Produced) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("producer thread");
        }
        let produced = std::mem::take(&mut *self.produced.lock().unwrap());
        (self.next_seq(), produced)
    }
}

impl Drop for ProducerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Faults and recovery
// ---------------------------------------------------------------------------

/// One fault: when it began, when the test undid it (the same for a kill or
/// a leave), and when the group was whole again.
struct Fault {
    name: String,
    began_ms: u64,
    undone_ms: u64,
    /// The first message produced after the fault was undone.
    first_seq_after: u64,
    /// Every running member holds a share and they cover the topic.
    settled_ms: u64,
    /// Every partition processed a message produced after the fault was undone.
    progressed_ms: u64,
}

impl Fault {
    fn begin(members: &mut Members, name: &str) -> Fault {
        let now = now_ms();
        members.mark(&format!("{now} fault begins: {name}"));
        Fault {
            name: name.to_string(),
            began_ms: now,
            undone_ms: now,
            first_seq_after: 0,
            settled_ms: 0,
            progressed_ms: 0,
        }
    }

    /// Waits (up to `timeout`) until the group is whole again after the
    /// fault was undone now.
    fn recover(mut self, members: &mut Members, producer: &ProducerThread, timeout: Duration) -> Fault {
        self.undone_ms = now_ms();
        self.first_seq_after = producer.next_seq();
        members.mark(&format!("{} fault undone: {}", self.undone_ms, self.name));
        let seq = self.first_seq_after;
        let what = format!("recovery after {}", self.name);
        members.until(&what, timeout, |m| m.settled() && m.progressed_past(seq));
        // The last acquisition among the running members (before the fault
        // when the shares never changed).
        self.settled_ms = members
            .events
            .iter()
            .filter(|e| members.shares.contains_key(&e.member) && matches!(e.kind, Kind::Acquired(_)))
            .map(|e| e.ms)
            .max()
            .unwrap_or_default();
        // From the members' own timestamps: the first message numbered
        // `seq` or later on the partition that got one last.
        let mut first: BTreeMap<i32, u64> = BTreeMap::new();
        for event in &members.events {
            if let Kind::Msg { partition, seq: s, .. } = event.kind {
                if s >= seq {
                    let at = first.entry(partition).or_insert(event.ms);
                    *at = (*at).min(event.ms);
                }
            }
        }
        self.progressed_ms = first.values().copied().max().expect("progress on every partition");
        members.mark(&format!("{} recovered: {}", self.progressed_ms, self.name));
        self
    }
}

// ---------------------------------------------------------------------------
// Reading the logs back
// ---------------------------------------------------------------------------

/// How a member's hold on a partition ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// Released after a commit that was stored: the next owner starts
    /// right after the last message processed (docs/consumer-groups.md,
    /// "A member holds a partition's lock before it fetches ...").
    Released,
    /// Released, but the commit before it failed: the next owner starts at
    /// the last commit ("A failed commit is returned after the release").
    ReleaseCommitFailed,
    /// Left the group (its explicit commit just before is the last one).
    Stopped,
    /// PartitionerError (or kazoo's FAILURE): nothing more is committed
    /// ("Losing ZooKeeper").
    Failed,
    /// SIGKILLed: nothing more is committed.
    Killed,
    /// The log ended without one of the above although nobody killed it.
    Unended,
}

/// One member's hold on one partition, from ACQUIRED to its end.
struct Tenure {
    member: usize,
    partition: i32,
    acquired_ms: u64,
    /// (wall ms, offset) of every message it processed.
    processed: Vec<(u64, i64)>,
    /// (wall ms, position) of its last stored commit of the partition.
    last_commit: Option<(u64, i64)>,
    end: End,
}

impl Tenure {
    fn window(&self) -> Option<(u64, u64)> {
        let first = self.processed.iter().map(|(ms, _)| *ms).min()?;
        let last = self.processed.iter().map(|(ms, _)| *ms).max()?;
        Some((first, last))
    }
}

/// One processing of a message.
struct Processing {
    ms: u64,
    member: usize,
    partition: i32,
    offset: i64,
    seq: u64,
    /// Index into the tenures; None when the member did not hold the partition.
    tenure: Option<usize>,
}

/// Rebuilds every tenure and processing from the members' logs.
fn tenures(events: &[Event], killed: &BTreeSet<usize>) -> (Vec<Tenure>, Vec<Processing>) {
    let mut tenures: Vec<Tenure> = Vec::new();
    let mut processings = Vec::new();
    let members: BTreeSet<usize> = events.iter().map(|e| e.member).collect();
    for member in members {
        // (incarnation, partition) → tenure, for holds not yet given up.
        let mut open: BTreeMap<(u32, i32), usize> = BTreeMap::new();
        // Given up, waiting for the commit's outcome.
        let mut releasing: Vec<(u32, usize)> = Vec::new();
        for event in events.iter().filter(|e| e.member == member) {
            let incarnation = event.incarnation;
            match &event.kind {
                Kind::Acquired(partitions) => {
                    for partition in partitions {
                        open.insert((incarnation, *partition), tenures.len());
                        tenures.push(Tenure {
                            member,
                            partition: *partition,
                            acquired_ms: event.ms,
                            processed: Vec::new(),
                            last_commit: None,
                            end: End::Unended,
                        });
                    }
                }
                Kind::Releasing(partitions) => {
                    for partition in partitions {
                        if let Some(index) = open.remove(&(incarnation, *partition)) {
                            releasing.push((incarnation, index));
                        }
                    }
                }
                Kind::Released(stored) => {
                    let end = if *stored {
                        End::Released
                    } else {
                        End::ReleaseCommitFailed
                    };
                    for (_, index) in releasing.drain(..) {
                        tenures[index].end = end;
                    }
                }
                Kind::Stopped | Kind::Failed => {
                    let end = if event.kind == Kind::Failed {
                        End::Failed
                    } else {
                        End::Stopped
                    };
                    let ended = releasing.drain(..).map(|(_, index)| index);
                    for index in ended.chain(std::mem::take(&mut open).into_values()) {
                        tenures[index].end = end;
                    }
                }
                Kind::Commit(Some(positions)) => {
                    for (partition, position) in positions {
                        let held = open.get(&(incarnation, *partition)).copied().or_else(|| {
                            releasing
                                .iter()
                                .find(|(i, index)| *i == incarnation && tenures[*index].partition == *partition)
                                .map(|(_, index)| *index)
                        });
                        if let Some(index) = held {
                            tenures[index].last_commit = Some((event.ms, *position));
                        }
                    }
                }
                Kind::Msg { partition, offset, seq } => {
                    let tenure = open.get(&(incarnation, *partition)).copied();
                    if let Some(index) = tenure {
                        tenures[index].processed.push((event.ms, *offset));
                    }
                    processings.push(Processing {
                        ms: event.ms,
                        member,
                        partition: *partition,
                        offset: *offset,
                        seq: *seq,
                        tenure,
                    });
                }
                Kind::Started(_) | Kind::Commit(None) | Kind::Retry => {}
            }
        }
        let end = if killed.contains(&member) {
            End::Killed
        } else {
            End::Unended
        };
        for index in releasing.into_iter().map(|(_, index)| index).chain(open.into_values()) {
            tenures[index].end = end;
        }
    }
    (tenures, processings)
}

/// The safety properties, read from the logs.
#[derive(Default)]
struct Verdict {
    processings: usize,
    distinct: usize,
    /// Re-reads the design allows, by how the first reader's hold ended.
    duplicates: BTreeMap<String, usize>,
    /// Re-reads it does not allow.
    unjustified: Vec<String>,
    unheld: Vec<String>,
    overlaps: Vec<String>,
    handovers: usize,
    lost: Vec<u64>,
    misplaced: Vec<String>,
}

fn judge(tenures: &[Tenure], processings: &[Processing], produced: &Produced, names: &[String]) -> Verdict {
    let mut verdict = Verdict {
        processings: processings.len(),
        ..Verdict::default()
    };
    let describe = |p: &Processing| format!("{} at {} ms", names[p.member], p.ms);

    // Each message: where it sits, and every processing of it in time order.
    let mut by_message: BTreeMap<(i32, i64), Vec<&Processing>> = BTreeMap::new();
    for processing in processings {
        if processing.tenure.is_none() {
            verdict.unheld.push(format!(
                "{} processed {}/{} without holding it",
                describe(processing),
                processing.partition,
                processing.offset
            ));
        }
        if processing.seq % PARTITIONS as u64 != processing.partition as u64 {
            verdict.misplaced.push(format!(
                "s{} read from partition {}",
                processing.seq, processing.partition
            ));
        }
        by_message
            .entry((processing.partition, processing.offset))
            .or_default()
            .push(processing);
    }
    verdict.distinct = by_message.len();
    for ((partition, offset), readings) in &mut by_message {
        readings.sort_by_key(|p| p.ms);
        if readings.iter().any(|p| p.seq != readings[0].seq) {
            verdict
                .misplaced
                .push(format!("{partition}/{offset} read with different values"));
        }
        // A re-read is allowed only where the reader before it could not
        // commit: its hold ended without a stored commit, and it processed
        // the message after its last stored commit of the partition.
        for pair in readings.windows(2) {
            let before = pair[0];
            let allowed = before.tenure.map(|index| &tenures[index]).filter(|tenure| {
                tenure.end != End::Released
                    && tenure
                        .last_commit
                        .is_none_or(|(ms, position)| *offset >= position && before.ms >= ms)
            });
            match allowed {
                Some(tenure) => *verdict.duplicates.entry(format!("{:?}", tenure.end)).or_default() += 1,
                None => verdict.unjustified.push(format!(
                    "{partition}/{offset}: first {} (hold ended {:?}, last commit {:?}), again {}",
                    describe(before),
                    before.tenure.map(|index| tenures[index].end),
                    before.tenure.and_then(|index| tenures[index].last_commit),
                    describe(pair[1])
                )),
            }
        }
    }

    for partition in 0..PARTITIONS {
        let mut held: Vec<&Tenure> = tenures.iter().filter(|t| t.partition == partition).collect();
        held.sort_by_key(|t| t.acquired_ms);
        verdict.handovers += held.windows(2).filter(|pair| pair[0].member != pair[1].member).count();
        let windows: Vec<(&Tenure, (u64, u64))> = held.iter().filter_map(|t| Some((*t, t.window()?))).collect();
        for (i, (a, (a_first, a_last))) in windows.iter().enumerate() {
            for (b, (b_first, b_last)) in &windows[i + 1..] {
                if a_first <= b_last && b_first <= a_last {
                    verdict.overlaps.push(format!(
                        "partition {partition}: {} processed it {a_first}..{a_last} ms, {} {b_first}..{b_last} ms",
                        names[a.member], names[b.member]
                    ));
                }
            }
        }
    }

    for (seq, (partition, offset)) in &produced.acked {
        match by_message.get(&(*partition, *offset)) {
            Some(readings) if readings[0].seq == *seq => {}
            Some(readings) => verdict.misplaced.push(format!(
                "s{seq} acknowledged at {partition}/{offset}, which holds s{}",
                readings[0].seq
            )),
            None => verdict.lost.push(*seq),
        }
    }
    verdict
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn a_mixed_group_loses_nothing_and_never_shares_a_partition_through_faults() {
    let started = Instant::now();
    let mock = MockCluster::start(3);
    mock.create_topic(TOPIC, PARTITIONS as u32);
    mock.set_coordinator("group", GROUP, COORDINATOR);
    // A ZooKeeper of its own, since the test stops it; no chroot is needed.
    let zookeeper = PrivateZookeeper::start("chaos");
    let log_dir = support::target_dir().join("chaos");
    std::fs::create_dir_all(&log_dir).expect("create target/chaos");
    let log_path = log_dir.join(format!("events-librdkafka-{}.log", mock.librdkafka_version()));
    let mut group = Members::new(mock.bootstrap(), &zookeeper.address(), &log_path);
    eprintln!("chaos: members' log in {}", log_path.display());

    let ours: Vec<usize> = (0..3).map(|_| group.spawn_ours()).collect();
    for _ in 0..2 {
        group.spawn_kazoo();
    }
    group.until("the five members settle", Duration::from_secs(60), Members::settled);
    let producer = ProducerThread::start(mock.bootstrap());
    group.collect(Duration::from_secs(3));
    let mut faults = Vec::new();

    // Killed with work done but not committed, the case a SIGKILL is about
    // (docs/consumer-groups.md, "Leaving"): its next owner reads it again.
    let victim = ours[0];
    group.until("ours-0 processes past its last commit", Duration::from_secs(20), |m| {
        let last = m
            .events
            .iter()
            .rev()
            .find(|e| e.member == victim && matches!(e.kind, Kind::Msg { .. } | Kind::Commit(Some(_))));
        last.is_some_and(|e| matches!(e.kind, Kind::Msg { .. }))
    });
    let fault = Fault::begin(&mut group, "SIGKILL of ours-0");
    group.kill(victim);
    faults.push(fault.recover(&mut group, &producer, Duration::from_secs(45)));
    group.collect(Duration::from_secs(2));

    let fault = Fault::begin(&mut group, "clean leave of ours-1");
    group.leave(ours[1], Duration::from_secs(20));
    faults.push(fault.recover(&mut group, &producer, Duration::from_secs(30)));
    let fault = Fault::begin(&mut group, "ours-1 started again (as ours-5)");
    group.spawn_ours();
    faults.push(fault.recover(&mut group, &producer, Duration::from_secs(30)));
    group.collect(Duration::from_secs(2));

    let fault = Fault::begin(&mut group, "ZooKeeper stopped for 15 s");
    zookeeper.stop();
    group.collect(Duration::from_secs(15));
    zookeeper.restart();
    faults.push(fault.recover(&mut group, &producer, Duration::from_secs(60)));
    group.collect(Duration::from_secs(2));

    let fault = Fault::begin(&mut group, &format!("broker {DOWN_BROKER} down for 5 s"));
    mock.broker_down(DOWN_BROKER);
    group.collect(Duration::from_secs(5));
    mock.broker_up(DOWN_BROKER);
    faults.push(fault.recover(&mut group, &producer, Duration::from_secs(45)));
    group.collect(Duration::from_secs(2));

    // Two rounds move every partition's leader at least once, whatever the
    // mock chose at first (docs/test-cluster.md: leaders are random).
    let fault = Fault::begin(&mut group, "every leader moved, twice");
    for round in 1..=2 {
        for partition in 0..PARTITIONS {
            mock.move_leader(TOPIC, partition, (partition + round) % 3 + 1);
        }
        group.collect(Duration::from_secs(2));
    }
    faults.push(fault.recover(&mut group, &producer, Duration::from_secs(45)));

    let (produced_count, produced) = producer.finish();
    let acked: Vec<u64> = produced.acked.keys().copied().collect();
    group.until("every acknowledged message processed", Duration::from_secs(60), |m| {
        acked.iter().all(|seq| m.processed_seqs.contains(seq))
    });
    group.until("the members settle", Duration::from_secs(30), Members::settled);

    // The group's nodes while it is settled: one lock per partition, held by
    // the member that says it holds it, and a party of the running members.
    let (party, locks) = group_nodes(&zookeeper.address(), &group.group_path);
    let mut party: Vec<String> = party
        .iter()
        .map(|child| layout::member_identifier(child).to_string())
        .collect();
    party.sort();
    let mut running: Vec<String> = group.running().iter().map(|m| group.identifiers[m].clone()).collect();
    running.sort();
    assert_eq!(party, running, "the party is the running members");
    for partition in 0..PARTITIONS {
        let name = layout::partition_name(TOPIC, partition);
        let contenders = locks.get(&name).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(contenders.len(), 1, "{name}: lock contenders {contenders:?}");
        let owner = group
            .running()
            .into_iter()
            .find(|m| group.shares[m].as_ref().is_some_and(|share| share.contains(&partition)))
            .expect("an owner");
        // kazoo's lock nodes carry no data, ours the identifier
        // (docs/consumer-groups.md, "Allocation").
        let expected = if group.processes[owner].name.starts_with("ours") {
            group.identifiers[&owner].clone()
        } else {
            String::new()
        };
        assert_eq!(
            String::from_utf8_lossy(&contenders[0].1),
            expected,
            "{name}'s lock holder"
        );
    }

    for member in group.running() {
        group.leave(member, Duration::from_secs(20));
    }

    let killed: BTreeSet<usize> = (0..group.processes.len())
        .filter(|m| group.processes[*m].killed)
        .collect();
    let names: Vec<String> = group.processes.iter().map(|p| p.name.clone()).collect();
    let (tenures, processings) = tenures(&group.events, &killed);
    let verdict = judge(&tenures, &processings, &produced, &names);

    eprintln!(
        "chaos: mock librdkafka {}, {:?} in all",
        mock.librdkafka_version(),
        started.elapsed()
    );
    eprintln!(
        "chaos: produced {produced_count}, acknowledged {}, failed {}; processed {} times ({} distinct \
         messages), duplicates {} {:?}, overlaps {}, handovers {}",
        produced.acked.len(),
        produced.failed.len(),
        verdict.processings,
        verdict.distinct,
        verdict.duplicates.values().sum::<usize>(),
        verdict.duplicates,
        verdict.overlaps.len(),
        verdict.handovers,
    );
    for fault in &faults {
        let shares = if fault.settled_ms < fault.undone_ms {
            "shares unchanged".to_string()
        } else {
            format!("shares whole {} ms after", fault.settled_ms - fault.undone_ms)
        };
        eprintln!(
            "chaos: {}: undone after {} ms; {shares}; every partition past it {} ms after",
            fault.name,
            fault.undone_ms - fault.began_ms,
            fault.progressed_ms.saturating_sub(fault.undone_ms),
        );
    }
    let unended: Vec<String> = tenures
        .iter()
        .filter(|t| t.end == End::Unended)
        .map(|t| format!("{} partition {}", names[t.member], t.partition))
        .collect();
    assert!(unended.is_empty(), "holds that never ended: {unended:?}");
    assert!(
        verdict.lost.is_empty(),
        "acknowledged but never processed: {:?}",
        verdict.lost
    );
    assert!(verdict.misplaced.is_empty(), "{:#?}", verdict.misplaced);
    assert!(verdict.unheld.is_empty(), "{:#?}", verdict.unheld);
    assert!(verdict.overlaps.is_empty(), "{:#?}", verdict.overlaps);
    assert!(
        verdict.unjustified.is_empty(),
        "re-reads the design does not allow: {:#?}",
        verdict.unjustified
    );
}

/// The checker itself, on a made-up log: a re-read after a SIGKILL is
/// allowed, while two members processing one partition at once, a re-read
/// after a committed release, and an acknowledged message nobody read are
/// each reported.
#[test]
fn the_checker_reports_overlaps_unjustified_rereads_and_losses() {
    let event = |member: usize, ms: u64, kind: Kind| Event {
        member,
        ms,
        incarnation: 1,
        kind,
    };
    let message = |offset: i64| Kind::Msg {
        partition: 0,
        offset,
        seq: offset as u64 * PARTITIONS as u64,
    };
    let events = vec![
        event(0, 100, Kind::Acquired(vec![0])),
        event(0, 101, message(0)),
        event(0, 102, Kind::Commit(Some(vec![(0, 1)]))),
        event(0, 103, message(1)),
        event(1, 200, Kind::Acquired(vec![0])),
        event(1, 201, message(1)),
        event(1, 202, message(2)),
        event(2, 205, Kind::Acquired(vec![0])),
        event(2, 206, message(2)),
        event(1, 208, message(3)),
        event(1, 210, Kind::Releasing(vec![0])),
        event(1, 211, Kind::Released(true)),
    ];
    let killed = BTreeSet::from([0]);
    let (tenures, processings) = tenures(&events, &killed);
    let mut produced = Produced::default();
    for offset in 0..5 {
        produced.acked.insert(offset as u64 * PARTITIONS as u64, (0, offset));
    }
    let names = ["a", "b", "c"].map(String::from);
    let verdict = judge(&tenures, &processings, &produced, &names);
    assert_eq!(verdict.duplicates, BTreeMap::from([("Killed".to_string(), 1)]));
    assert_eq!(verdict.unjustified.len(), 1, "{:?}", verdict.unjustified);
    assert!(verdict.unjustified[0].starts_with("0/2"), "{:?}", verdict.unjustified);
    assert_eq!(verdict.overlaps.len(), 1, "{:?}", verdict.overlaps);
    assert_eq!(verdict.lost, [4 * PARTITIONS as u64]);
    assert!(verdict.unheld.is_empty() && verdict.misplaced.is_empty());
    assert_eq!(verdict.handovers, 2);
}
