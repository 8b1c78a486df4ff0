//! The callback-style ConsumerGroup and the MultiprocessingConsumerGroup
//! against a real ZooKeeper and mock cluster: workers per partition, once
//! each; a SIGKILLed worker process restarted within a monitor period; a
//! stuck worker abandoned and fenced; thread workers paused while
//! ZooKeeper is unreachable; a failing callback stops its group.

#[path = "support/consumer_fixtures.rs"]
mod consumer_fixtures;
#[path = "support/group_fixtures.rs"]
mod group_fixtures;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consumer_fixtures::{cluster_config, committed_offsets, mock_values, produce_numbered};
use group_fixtures::PrivateZookeeper;
use support::MockCluster;
use yelp_kafka::consumer::{ConsumerConfig, Message, TopicPartition};
use yelp_kafka::groups::consumer_from_env;
use yelp_kafka::groups::NoRebalanceHandler;
use yelp_kafka::groups::{CallbackGroup, MessageProcessor};
use yelp_kafka::groups::{MultiprocessingGroup, WorkerMode};
use yelp_kafka::groups::{PartitionWorker, WorkerFactory};
use yelp_kafka::test_support::{multiprocessing_group_may_deliver, MONITOR_PERIOD, SESSION_TIMEOUT};
use yelp_kafka::ErrorCode;

fn config(bootstrap: &str, zookeeper: &str, group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut pairs = vec![
        ("offset_storage", "kafka"),
        ("auto_offset_reset", "smallest"),
        ("partitioner_cooldown", "0.5"),
    ];
    pairs.extend_from_slice(extra);
    ConsumerConfig::new(group, &cluster_config(bootstrap, zookeeper), &mock_values(&pairs)).unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until each of two groups runs four workers of an 8-partition
/// topic, and checks that their shares are disjoint and complete.
fn wait_for_two_even_shares(groups: &[Arc<MultiprocessingGroup>], within: Duration) {
    wait_until("each group runs four workers", within, || {
        groups.iter().all(|g| g.consumers().len() == 4)
    });
    let mut partitions: Vec<i32> = groups
        .iter()
        .flat_map(|g| g.consumers())
        .map(|w| w.partition.partition)
        .collect();
    partitions.sort();
    assert_eq!(
        partitions,
        (0..8).collect::<Vec<_>>(),
        "the shares are disjoint and complete"
    );
}

/// Runs `group.start_group()` on its own thread.
fn run_in_background(group: &Arc<MultiprocessingGroup>) -> std::thread::JoinHandle<yelp_kafka::Result<()>> {
    let group = Arc::clone(group);
    std::thread::spawn(move || group.start_group())
}

// ---------------------------------------------------------------------------
// Thread workers
// ---------------------------------------------------------------------------

/// Every (partition, offset) processed, by any worker of any group.
#[derive(Default)]
struct Ledger {
    processed: Mutex<BTreeMap<(i32, i64), usize>>,
}

struct LedgerFactory(Arc<Ledger>);

struct LedgerWorker(Arc<Ledger>);

impl WorkerFactory for LedgerFactory {
    fn create(&self, _: &TopicPartition) -> Result<Box<dyn PartitionWorker>, String> {
        Ok(Box::new(LedgerWorker(Arc::clone(&self.0))))
    }
}

impl PartitionWorker for LedgerWorker {
    fn process(&mut self, message: &Message) -> Result<(), String> {
        *self
            .0
            .processed
            .lock()
            .unwrap()
            .entry((message.partition(), message.offset()))
            .or_default() += 1;
        Ok(())
    }

    fn dispose(&mut self) {}
}

#[test]
fn two_groups_run_four_workers_each_and_process_every_message_once() {
    let zookeeper = support::zk_chroot("mp-two-groups");
    two_groups_run_four_workers_each(&zookeeper, "mp", &[], false);
}

/// The same through Kafka's group protocol: the workers' commits carry
/// the member's generation.
#[test]
fn two_groups_balanced_by_kafka_run_four_workers_each_and_process_every_message_once() {
    two_groups_run_four_workers_each("", "mp-kafka", &kafka_options("range"), false);
}

/// The same with incremental rebalances, the second group joining once
/// the first runs all eight workers: the first stops only the workers of
/// the four partitions that move.
#[test]
fn two_groups_balanced_cooperatively_run_four_workers_each_and_process_every_message_once() {
    two_groups_run_four_workers_each("", "mp-cooperative", &kafka_options("cooperative-sticky"), true);
}

fn kafka_options(assignor: &'static str) -> [(&'static str, &'static str); 4] {
    [
        ("group_protocol", "kafka"),
        ("partition_assignment_strategy", assignor),
        ("session_timeout_ms", "6000"),
        ("heartbeat_interval_ms", "300"),
    ]
}

/// Two thread-worker groups of `group` split an 8-partition topic four
/// and four and process 10,000 messages once each; stopping commits all.
/// With `staggered`, the second starts once the first runs all eight.
fn two_groups_run_four_workers_each(zookeeper: &str, group: &str, extra: &[(&str, &str)], staggered: bool) {
    let mock = MockCluster::start(3);
    mock.create_topic("events", 8);
    let ledger = Arc::new(Ledger::default());
    let mut options = vec![("auto_commit_interval_messages", "50")];
    options.extend_from_slice(extra);
    let groups: Vec<Arc<MultiprocessingGroup>> = (0..2)
        .map(|_| {
            let mode = WorkerMode::Threads(Arc::new(LedgerFactory(Arc::clone(&ledger))));
            let config = config(mock.bootstrap(), zookeeper, group, &options);
            Arc::new(MultiprocessingGroup::new(&["events".to_string()], config, mode).unwrap())
        })
        .collect();
    let mut runs = vec![run_in_background(&groups[0])];
    if staggered {
        wait_until("the first group runs eight workers", Duration::from_secs(30), || {
            groups[0].consumers().len() == 8
        });
    }
    runs.push(run_in_background(&groups[1]));
    wait_for_two_even_shares(&groups, Duration::from_secs(30));

    produce_numbered(mock.bootstrap(), "events", "e", 10_000);
    wait_until("10,000 messages processed", Duration::from_secs(60), || {
        ledger.processed.lock().unwrap().len() == 10_000
    });
    for group in &groups {
        group.stop_group(Duration::from_secs(20)).unwrap();
    }
    for run in runs {
        run.join().unwrap().unwrap();
    }
    let processed = ledger.processed.lock().unwrap();
    let twice: Vec<_> = processed.iter().filter(|(_, count)| **count != 1).collect();
    assert!(twice.is_empty(), "processed more than once: {twice:?}");
    let committed = committed_offsets(mock.bootstrap(), group, "events");
    assert_eq!(
        committed.values().sum::<i64>(),
        10_000,
        "stop committed everything: {committed:?}"
    );
}

/// A worker whose first message never finishes until released.
struct StuckFactory {
    release: Arc<AtomicBool>,
    stuck_at: Arc<Mutex<Option<(i32, i64)>>>,
}

struct StuckWorker {
    release: Arc<AtomicBool>,
    stuck_at: Arc<Mutex<Option<(i32, i64)>>>,
}

impl WorkerFactory for StuckFactory {
    fn create(&self, _: &TopicPartition) -> Result<Box<dyn PartitionWorker>, String> {
        Ok(Box::new(StuckWorker {
            release: Arc::clone(&self.release),
            stuck_at: Arc::clone(&self.stuck_at),
        }))
    }
}

impl PartitionWorker for StuckWorker {
    fn process(&mut self, message: &Message) -> Result<(), String> {
        *self.stuck_at.lock().unwrap() = Some((message.partition(), message.offset()));
        while !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn dispose(&mut self) {}
}

/// Lets stuck workers go when dropped.
struct ReleaseOnDrop(Arc<AtomicBool>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_stuck_worker_is_abandoned_within_the_termination_timeout_and_its_commit_refused() {
    let mock = MockCluster::start(1);
    mock.create_topic("stuck", 1);
    let zookeeper = support::zk_chroot("mp-stuck");
    produce_numbered(mock.bootstrap(), "stuck", "s", 10);
    let release = Arc::new(AtomicBool::new(false));
    let stuck_at = Arc::new(Mutex::new(None));
    let factory = StuckFactory {
        release: Arc::clone(&release),
        stuck_at: Arc::clone(&stuck_at),
    };
    let settings = [
        ("max_termination_timeout_secs", "1"),
        ("auto_commit_interval_messages", "1"),
    ];
    let group = Arc::new(
        MultiprocessingGroup::new(
            &["stuck".to_string()],
            config(mock.bootstrap(), &zookeeper, "stuck", &settings),
            WorkerMode::Threads(Arc::new(factory)),
        )
        .unwrap(),
    );
    // Dropped before the group: a failed assertion still lets the stuck
    // worker go, so the group's drop, which joins it, ends.
    let _release_on_exit = ReleaseOnDrop(Arc::clone(&release));
    let run = run_in_background(&group);
    wait_until(
        "the worker is stuck in its first message",
        Duration::from_secs(30),
        || stuck_at.lock().unwrap().is_some(),
    );
    let started = Instant::now();
    // The fenced worker is still inside process: stop and start say so.
    let stopped = group.stop_group(Duration::from_secs(10)).unwrap_err();
    assert_eq!(stopped.code(), ErrorCode::WorkersRunning, "{stopped}");
    let ran = run.join().unwrap().unwrap_err();
    assert_eq!(ran.code(), ErrorCode::WorkersRunning, "{ran}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "stop took {took:?}: termination timeout 1 s + 1 s"
    );

    release.store(true, Ordering::SeqCst);
    // Dropping the group waits for the fenced worker to finish its message.
    drop(group);
    let (partition, offset) = stuck_at.lock().unwrap().unwrap();
    let committed = committed_offsets(mock.bootstrap(), "stuck", "stuck");
    assert_eq!(
        committed.get(&partition).copied().unwrap_or(0),
        offset,
        "the abandoned worker finished its message after it was fenced: its commit was refused"
    );
}

/// Every process call started, in order; each worker waits inside its
/// call number `HOLD_AT` until `release` is set.
#[derive(Default)]
struct HoldingLedger {
    started: Mutex<Vec<(i32, i64)>>,
    held: AtomicUsize,
    release: Arc<AtomicBool>,
}

/// A worker's call that waits for the test.
const HOLD_AT: usize = 50;

struct HoldingFactory(Arc<HoldingLedger>);

struct HoldingWorker {
    ledger: Arc<HoldingLedger>,
    calls: usize,
}

impl WorkerFactory for HoldingFactory {
    fn create(&self, _: &TopicPartition) -> Result<Box<dyn PartitionWorker>, String> {
        Ok(Box::new(HoldingWorker {
            ledger: Arc::clone(&self.0),
            calls: 0,
        }))
    }
}

impl PartitionWorker for HoldingWorker {
    fn process(&mut self, message: &Message) -> Result<(), String> {
        self.ledger
            .started
            .lock()
            .unwrap()
            .push((message.partition(), message.offset()));
        self.calls += 1;
        if self.calls == HOLD_AT {
            self.ledger.held.fetch_add(1, Ordering::SeqCst);
            while !self.ledger.release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    fn dispose(&mut self) {}
}

/// Issue 12 defect 14: thread workers pause as soon as the group doubts
/// its session, as the plain group does, after committing what they
/// finished; on the loss they stop, and the next owner reads nothing
/// again. Each worker is held inside one call while ZooKeeper stops, so
/// no call can start between the stop and the group noticing it; the
/// held calls are let go once the group noticed (and long before the
/// loss, two thirds of the session timeout later).
#[test]
fn thread_workers_pause_while_zookeeper_is_unreachable_and_commit_what_they_finished() {
    let private = PrivateZookeeper::start("mp_zookeeper_stop");
    let mock = MockCluster::start(1);
    mock.create_topic("paced", 2);
    // Round-robin: 1000 a partition, far more than the workers reach.
    produce_numbered(mock.bootstrap(), "paced", "p", 2000);
    let ledger = Arc::new(HoldingLedger::default());
    // Set when the test ends, failed or not: no worker stays held.
    let _release_on_exit = ReleaseOnDrop(Arc::clone(&ledger.release));
    let settings = [
        // Only the pause (and the stop) commit: nothing automatic.
        ("auto_commit_interval_messages", "0"),
        ("auto_commit_interval_ms", "3600000"),
        ("max_termination_timeout_secs", "10"),
    ];
    let zookeeper = format!("{}/mp-pause", private.address());
    let group = Arc::new(
        MultiprocessingGroup::new(
            &["paced".to_string()],
            config(mock.bootstrap(), &zookeeper, "paced", &settings),
            WorkerMode::Threads(Arc::new(HoldingFactory(Arc::clone(&ledger)))),
        )
        .unwrap(),
    );
    let run = run_in_background(&group);
    wait_until("both workers held in a call", Duration::from_secs(30), || {
        ledger.held.load(Ordering::SeqCst) == 2
    });
    assert!(multiprocessing_group_may_deliver(&group));

    private.stop();
    wait_until("the group noticed the disconnect", SESSION_TIMEOUT, || {
        !multiprocessing_group_may_deliver(&group)
    });
    assert!(
        !run.is_finished(),
        "the group must notice the disconnect before it gives the session up"
    );
    let started_before = ledger.started.lock().unwrap().clone();
    ledger.release.store(true, Ordering::SeqCst);
    wait_until(
        "the group gives the session up",
        SESSION_TIMEOUT + Duration::from_secs(20),
        || run.is_finished(),
    );
    let error = run.join().unwrap().unwrap_err();
    assert_eq!(error.code(), ErrorCode::Partitioner, "{error}");

    let started = ledger.started.lock().unwrap().clone();
    assert_eq!(
        started.len(),
        started_before.len(),
        "process calls started after the group noticed the disconnect: {:?}",
        &started[started_before.len()..started.len().min(started_before.len() + 10)]
    );
    let mut processed: BTreeMap<i32, i64> = BTreeMap::new();
    for (partition, _) in &started {
        *processed.entry(*partition).or_default() += 1;
    }
    assert_eq!(processed.len(), 2, "{processed:?}");
    assert_eq!(
        committed_offsets(mock.bootstrap(), "paced", "paced"),
        processed,
        "committed what was processed, the held calls included: the next owner reads none of it again"
    );
}

// ---------------------------------------------------------------------------
// Process workers
// ---------------------------------------------------------------------------

/// Set by the worker program's SIGTERM handler.
static TERMINATING: AtomicBool = AtomicBool::new(false);

extern "C" fn note_terminate(_: nix::libc::c_int) {
    TERMINATING.store(true, Ordering::SeqCst);
}

/// The worker program of the process-mode tests: this test binary, started
/// by the group with the `YK_WORKER_*` environment and a `log=<path>`
/// argument; it appends `<partition> <offset> <pid> <microseconds since
/// the epoch>` per message, slowly, and commits each. On SIGTERM it takes
/// no further message and exits. With the `refusals=tolerated` argument a
/// commit the coordinator refuses in a rebalance is reported on stderr
/// and the worker goes on (each message is marked done, so the consumer's
/// auto-commit stores it later); otherwise a refused commit fails the
/// worker.
#[test]
fn worker_process_main() {
    if std::env::var_os("YK_WORKER_TOPIC").is_none() {
        return; // run by the group only
    }
    let log = std::env::args()
        .find_map(|a| a.strip_prefix("log=").map(PathBuf::from))
        .expect("log=<path>");
    let tolerate_refusals = std::env::args().any(|a| a == "refusals=tolerated");
    // A handler, not a mask: libtest's own main thread does not block
    // SIGTERM, so a signal it took would end the worker between its log
    // line and its commit. A handler runs on whichever thread takes it.
    let on_terminate = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(note_terminate),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGTERM, &on_terminate) }.expect("SIGTERM handler");
    let consumer = consumer_from_env().expect("consumer from the environment");
    consumer.connect().expect("connect");
    let pid = std::process::id();
    loop {
        let next = consumer.get_message(true, Some(Duration::from_millis(100)));
        if TERMINATING.load(Ordering::SeqCst) {
            return;
        }
        match next {
            Ok(message) => {
                std::thread::sleep(Duration::from_millis(5));
                // One write per line: workers append to one file at once.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                let line = format!("{} {} {pid} {now}\n", message.partition(), message.offset());
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap();
                file.write_all(line.as_bytes()).unwrap();
                consumer.task_done(&message).expect("task_done");
                match consumer.commit_message(&message) {
                    Err(error) if tolerate_refusals && error.code() == ErrorCode::OffsetCommit => {
                        eprintln!("worker {pid}: commit refused: {error}");
                    }
                    committed => committed.expect("commit"),
                }
            }
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
            Err(error) => panic!("worker: {error}"),
        }
    }
}

/// A fresh log under target/ and the command that runs
/// [`worker_process_main`] writing to it.
/// The log the worker processes of one test append to: removed when the
/// test passes, kept for a look when it fails.
struct WorkerLog(PathBuf);

impl std::ops::Deref for WorkerLog {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkerLog {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn worker_command(name: &str) -> (WorkerLog, Vec<String>) {
    let log = WorkerLog(support::target_dir().join(format!("{name}-{}", std::process::id())));
    let _ = std::fs::remove_file(&*log);
    let exe = std::env::current_exe().unwrap().to_string_lossy().into_owned();
    let command = [
        exe.as_str(),
        "--exact",
        "worker_process_main",
        "--nocapture",
        "--test-threads=1",
        &format!("log={}", log.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    (log, command)
}

fn read_log(path: &Path) -> Vec<(i32, i64, u32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ').map(|f| f.parse::<i64>().ok());
            Some((fields.next()?? as i32, fields.next()??, fields.next()?? as u32))
        })
        .collect()
}

/// How many partitions the worker processes have logged a message of.
fn partitions_in_log(log: &Path) -> usize {
    let partitions: std::collections::BTreeSet<i32> = read_log(log).iter().map(|(p, _, _)| *p).collect();
    partitions.len()
}

/// A group of worker processes running `command` for `topic`, with the
/// given termination timeout in seconds.
fn process_group(
    bootstrap: &str,
    zookeeper: &str,
    topic: &str,
    termination_secs: &str,
    command: Vec<String>,
) -> Arc<MultiprocessingGroup> {
    let config = config(
        bootstrap,
        zookeeper,
        topic,
        &[("max_termination_timeout_secs", termination_secs)],
    );
    Arc::new(MultiprocessingGroup::new(&[topic.to_string()], config, WorkerMode::Processes(command)).unwrap())
}

#[test]
fn a_killed_worker_process_is_restarted_within_a_monitor_period_and_continues_from_its_commit() {
    let mock = MockCluster::start(1);
    mock.create_topic("jobs", 4);
    let zookeeper = support::zk_chroot("mp-processes");
    produce_numbered(mock.bootstrap(), "jobs", "j", 2000);
    let (log, command) = worker_command("worker-log");
    let group = process_group(mock.bootstrap(), &zookeeper, "jobs", "2", command);
    let run = run_in_background(&group);
    wait_until("four workers processing", Duration::from_secs(30), || {
        partitions_in_log(&log) == 4
    });
    let victim = group
        .consumers()
        .into_iter()
        .find(|w| w.partition.partition == 0)
        .unwrap();
    let old_pid = victim.pid.unwrap();
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("the worker of partition 0 restarted", Duration::from_secs(5), || {
        group
            .consumers()
            .iter()
            .any(|w| w.partition.partition == 0 && w.restarts == 1 && w.pid != Some(old_pid))
    });
    let restarted_after = killed_at.elapsed();
    assert!(
        restarted_after <= MONITOR_PERIOD + Duration::from_millis(250),
        "restart took {restarted_after:?}"
    );
    let during = read_log(&log).len();
    std::thread::sleep(Duration::from_millis(200));
    assert!(read_log(&log).len() > during, "the other workers did not pause");
    wait_until("every message processed", Duration::from_secs(60), || {
        let entries = read_log(&log);
        let distinct: std::collections::BTreeSet<(i32, i64)> = entries.iter().map(|(p, o, _)| (*p, *o)).collect();
        distinct.len() == 2000
    });
    group.stop_group(Duration::from_secs(20)).unwrap();
    run.join().unwrap().unwrap();

    let entries = read_log(&log);
    let before: Vec<i64> = entries
        .iter()
        .filter(|(p, _, pid)| *p == 0 && *pid == old_pid)
        .map(|e| e.1)
        .collect();
    let after: Vec<i64> = entries
        .iter()
        .filter(|(p, _, pid)| *p == 0 && *pid != old_pid)
        .map(|e| e.1)
        .collect();
    let last_before = *before.last().unwrap();
    let first_after = *after.first().unwrap();
    assert!(
        first_after == last_before || first_after == last_before + 1,
        "the new worker starts at the commit: last {last_before}, then {first_after}"
    );
}

/// Whether process `pid` is stopped (SIGSTOP), from /proc/<pid>/stat.
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| rest.starts_with('T')))
        .unwrap_or(false)
}

/// SIGKILLs worker processes a failed test leaves behind: a stopped worker
/// would not even see its group go. Disarmed once the group reaped them.
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Issue 12 defect 14 for processes: the group holds its workers with
/// SIGSTOP as soon as it doubts its session, and on the loss lets them
/// stop gracefully (SIGTERM + SIGCONT) instead of killing them: no
/// message but the one a worker was in is processed after the hold, and
/// what was processed is committed, so the next owner reads none of it
/// again.
#[test]
fn worker_processes_are_held_while_zookeeper_is_unreachable_and_stop_gracefully() {
    let private = PrivateZookeeper::start("mp_processes_zookeeper_stop");
    let mock = MockCluster::start(1);
    mock.create_topic("held", 2);
    produce_numbered(mock.bootstrap(), "held", "h", 4000);
    let (log, command) = worker_command("held-log");
    let zookeeper = format!("{}/mp-held", private.address());
    let group = process_group(mock.bootstrap(), &zookeeper, "held", "10", command);
    let run = run_in_background(&group);
    wait_until("both workers processing", Duration::from_secs(30), || {
        partitions_in_log(&log) == 2
    });
    let pids: Vec<u32> = group.consumers().iter().filter_map(|w| w.pid).collect();
    assert_eq!(pids.len(), 2);
    let mut leftovers = KillOnDrop(pids.clone());

    private.stop();
    wait_until("both workers held", SESSION_TIMEOUT, || {
        pids.iter().all(|pid| is_stopped(*pid))
    });
    assert!(
        !run.is_finished(),
        "the group must hold its workers before it gives the session up"
    );
    let at_hold = read_log(&log).len();
    wait_until(
        "the group gives the session up",
        SESSION_TIMEOUT + Duration::from_secs(20),
        || run.is_finished(),
    );
    let error = run.join().unwrap().unwrap_err();
    assert_eq!(error.code(), ErrorCode::Partitioner, "{error}");
    leftovers.0.clear();

    let entries = read_log(&log);
    assert!(
        entries.len() <= at_hold + pids.len(),
        "at most the message each worker was in is processed after the hold: {} then {}",
        at_hold,
        entries.len()
    );
    let mut processed: BTreeMap<i32, i64> = BTreeMap::new();
    for (partition, _, _) in &entries {
        *processed.entry(*partition).or_default() += 1;
    }
    assert_eq!(
        committed_offsets(mock.bootstrap(), "held", "held"),
        processed,
        "every processed message committed: the next owner reads none of it again"
    );
}

// ---------------------------------------------------------------------------
// Process workers under Kafka's group protocols
// ---------------------------------------------------------------------------

/// The options of a group of worker processes balanced by Kafka's classic
/// protocol with `assignor`.
fn classic_process_options(assignor: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut options = kafka_options(assignor).to_vec();
    options.extend([
        ("max_termination_timeout_secs", "2"),
        ("auto_commit_interval_ms", "300"),
    ]);
    options
}

/// The same for the next-generation protocol; `None` (and said why) when
/// the mock does not speak it (the 2.0.2 mock offers no
/// ConsumerGroupHeartbeat).
fn next_generation_process_options(mock: &MockCluster, test: &str) -> Option<Vec<(&'static str, &'static str)>> {
    let version = mock.librdkafka_version();
    if version.starts_with("2.0.") {
        eprintln!("{test}: the librdkafka {version} mock does not speak group_protocol=kafka_consumer; skipped");
        return None;
    }
    Some(vec![
        ("group_protocol", "kafka_consumer"),
        ("session_timeout_ms", "6000"),
        ("heartbeat_interval_ms", "300"),
        ("max_termination_timeout_secs", "2"),
        ("auto_commit_interval_ms", "300"),
    ])
}

/// A group of worker processes for `topic` balanced by Kafka with `options`.
fn kafka_process_group(
    bootstrap: &str,
    group: &str,
    topic: &str,
    options: &[(&str, &str)],
    command: &[String],
) -> Arc<MultiprocessingGroup> {
    let config = config(bootstrap, "", group, options);
    Arc::new(MultiprocessingGroup::new(&[topic.to_string()], config, WorkerMode::Processes(command.to_vec())).unwrap())
}

/// How many times each (partition, offset) of the log was processed.
fn processed_counts(log: &Path) -> BTreeMap<(i32, i64), usize> {
    let mut counts = BTreeMap::new();
    for (partition, offset, _) in read_log(log) {
        *counts.entry((partition, offset)).or_default() += 1;
    }
    counts
}

/// Per partition, per worker process: when it processed its first and its
/// last message (microseconds since the epoch), from the log's fourth field.
fn holdings(log: &Path) -> BTreeMap<i32, BTreeMap<u32, (u128, u128)>> {
    let mut spans: BTreeMap<i32, BTreeMap<u32, (u128, u128)>> = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [partition, _, pid, at] = fields[..] else {
            panic!("a log line without its time: {line:?}");
        };
        let at: u128 = at.parse().unwrap();
        let span = spans
            .entry(partition.parse().unwrap())
            .or_default()
            .entry(pid.parse().unwrap())
            .or_insert((at, at));
        span.0 = span.0.min(at);
        span.1 = span.1.max(at);
    }
    spans
}

/// No two worker processes processed messages of one partition at once.
fn assert_never_shared(log: &Path) {
    for (partition, workers) in holdings(log) {
        let mut spans: Vec<(u128, u128, u32)> = workers.iter().map(|(pid, (a, b))| (*a, *b, *pid)).collect();
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "partition {partition} was processed by workers {} and {} at once: {spans:?}",
                pair[0].2,
                pair[1].2
            );
        }
    }
}

/// The command of a worker that tolerates commits refused in a rebalance.
fn tolerant_worker_command(name: &str) -> (WorkerLog, Vec<String>) {
    let (log, mut command) = worker_command(name);
    command.push("refusals=tolerated".to_string());
    (log, command)
}

#[test]
fn worker_processes_balanced_by_kafka_process_every_message_once_and_resume_from_their_commits() {
    let mock = MockCluster::start(3);
    two_process_groups_process_every_message_once(&mock, "mp-processes-kafka", &classic_process_options("range"));
}

#[test]
fn worker_processes_balanced_by_the_next_generation_protocol_process_every_message_once() {
    let mock = MockCluster::start(3);
    let test = "mp-processes-kip848";
    if let Some(options) = next_generation_process_options(&mock, test) {
        two_process_groups_process_every_message_once(&mock, test, &options);
    }
}

/// Two groups of worker processes split an 8-partition topic four and four
/// and process 2,000 messages once each, every worker committing with the
/// group member's generation (a refused commit fails the worker, so the
/// run would show it); after both stop, a new group resumes from the
/// commits: it processes only what came after.
fn two_process_groups_process_every_message_once(mock: &MockCluster, group: &str, options: &[(&str, &str)]) {
    mock.create_topic("jobs", 8);
    let (log, command) = worker_command(group);
    let groups: Vec<Arc<MultiprocessingGroup>> = (0..2)
        .map(|_| kafka_process_group(mock.bootstrap(), group, "jobs", options, &command))
        .collect();
    let runs: Vec<_> = groups.iter().map(run_in_background).collect();
    wait_for_two_even_shares(&groups, Duration::from_secs(60));

    produce_numbered(mock.bootstrap(), "jobs", "j", 2000);
    wait_until("2,000 messages processed", Duration::from_secs(60), || {
        processed_counts(&log).len() == 2000
    });
    for group in &groups {
        group.stop_group(Duration::from_secs(20)).unwrap();
    }
    for run in runs {
        run.join().unwrap().unwrap();
    }
    let twice: Vec<_> = processed_counts(&log).into_iter().filter(|(_, n)| *n != 1).collect();
    assert!(twice.is_empty(), "processed more than once: {twice:?}");
    let committed = committed_offsets(mock.bootstrap(), group, "jobs");
    assert_eq!(
        committed.values().sum::<i64>(),
        2000,
        "every message committed: {committed:?}"
    );

    let restarted = kafka_process_group(mock.bootstrap(), group, "jobs", options, &command);
    let run = run_in_background(&restarted);
    wait_until(
        "the restarted group runs eight workers",
        Duration::from_secs(60),
        || restarted.consumers().len() == 8,
    );
    produce_numbered(mock.bootstrap(), "jobs", "r", 200);
    wait_until("200 more processed", Duration::from_secs(60), || {
        processed_counts(&log).len() == 2200
    });
    restarted.stop_group(Duration::from_secs(20)).unwrap();
    run.join().unwrap().unwrap();
    assert_eq!(
        read_log(&log).len(),
        2200,
        "the restarted group resumed from the commits, reading nothing again"
    );
}

#[test]
fn a_member_joining_a_kafka_group_of_worker_processes_loses_nothing_and_shares_no_partition() {
    let mock = MockCluster::start(3);
    member_joins_worker_processes(&mock, "mp-join-eager", &classic_process_options("range"));
}

#[test]
fn a_member_joining_a_cooperative_group_of_worker_processes_loses_nothing_and_shares_no_partition() {
    let mock = MockCluster::start(3);
    member_joins_worker_processes(
        &mock,
        "mp-join-cooperative",
        &classic_process_options("cooperative-sticky"),
    );
}

#[test]
fn a_member_joining_a_next_generation_group_of_worker_processes_loses_nothing_and_shares_no_partition() {
    let mock = MockCluster::start(3);
    let test = "mp-join-kip848";
    if let Some(options) = next_generation_process_options(&mock, test) {
        member_joins_worker_processes(&mock, test, &options);
    }
}

/// A second group of worker processes joins while the first one's workers
/// are busy with a backlog: the partitions are split two and two, every
/// message is processed (a commit refused in the rebalance makes the next
/// owner read again from the last commit, never skip), no partition is
/// processed by two workers at once, and the commits come to cover
/// everything.
fn member_joins_worker_processes(mock: &MockCluster, group: &str, options: &[(&str, &str)]) {
    mock.create_topic("jobs", 4);
    produce_numbered(mock.bootstrap(), "jobs", "j", 6000);
    let (log, command) = tolerant_worker_command(group);
    let first = kafka_process_group(mock.bootstrap(), group, "jobs", options, &command);
    let first_run = run_in_background(&first);
    wait_until(
        "the first group's four workers processing",
        Duration::from_secs(60),
        || partitions_in_log(&log) == 4,
    );
    let second = kafka_process_group(mock.bootstrap(), group, "jobs", options, &command);
    let second_run = run_in_background(&second);
    wait_until("two workers in each group", Duration::from_secs(60), || {
        first.consumers().len() == 2 && second.consumers().len() == 2
    });
    assert!(
        processed_counts(&log).len() < 6000,
        "the rebalance came after the backlog was done; the test proves nothing"
    );
    wait_until("6,000 messages processed", Duration::from_secs(120), || {
        processed_counts(&log).len() == 6000
    });
    // A commit refused in the rebalance is made good by the next one
    // (the workers' auto-commit) once the group is stable.
    wait_until("6,000 messages committed", Duration::from_secs(30), || {
        committed_offsets(mock.bootstrap(), group, "jobs").values().sum::<i64>() == 6000
    });
    for member in [&first, &second] {
        member.stop_group(Duration::from_secs(20)).unwrap();
    }
    first_run.join().unwrap().unwrap();
    second_run.join().unwrap().unwrap();
    let counts = processed_counts(&log);
    let again = counts.values().filter(|n| **n > 1).count();
    eprintln!("{group}: {again} of 6000 messages processed again after the rebalance");
    assert_never_shared(&log);
    let committed = committed_offsets(mock.bootstrap(), group, "jobs");
    assert_eq!(
        committed.values().sum::<i64>(),
        6000,
        "every message committed: {committed:?}"
    );
}

// ---------------------------------------------------------------------------
// The callback group
// ---------------------------------------------------------------------------

struct FailOn {
    seen: usize,
    fail_at: usize,
}

impl MessageProcessor for FailOn {
    fn process(&mut self, _: &Message) -> Result<(), String> {
        self.seen += 1;
        if self.seen == self.fail_at {
            return Err(format!("boom at message {}", self.seen));
        }
        Ok(())
    }
}

#[test]
fn a_failing_callback_stops_the_group_with_process_message_error() {
    let mock = MockCluster::start(1);
    mock.create_topic("calls", 2);
    produce_numbered(mock.bootstrap(), "calls", "c", 20);
    let zookeeper = support::zk_chroot("callback-fails");
    let group = CallbackGroup::new(
        &["calls".to_string()],
        config(mock.bootstrap(), &zookeeper, "cb", &[]),
        None,
    )
    .unwrap();
    let error = group
        .run(&mut FailOn { seen: 0, fail_at: 5 }, &mut NoRebalanceHandler)
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ProcessMessage);
    assert!(error.message().contains("boom at message 5"), "{error}");
}

#[test]
fn a_callback_group_runs_until_stopped_from_another_thread() {
    let mock = MockCluster::start(1);
    mock.create_topic("calls", 2);
    produce_numbered(mock.bootstrap(), "calls", "c", 100);
    let zookeeper = support::zk_chroot("callback-stops");
    let group = Arc::new(
        CallbackGroup::new(
            &["calls".to_string()],
            config(mock.bootstrap(), &zookeeper, "cb", &[]),
            None,
        )
        .unwrap(),
    );
    let runner = Arc::clone(&group);
    let run = std::thread::spawn(move || {
        let mut counter = FailOn {
            seen: 0,
            fail_at: usize::MAX,
        };
        let result = runner.run(&mut counter, &mut NoRebalanceHandler);
        (result, counter.seen)
    });
    wait_until("every message processed", Duration::from_secs(30), || {
        committed_offsets(mock.bootstrap(), "cb", "calls").values().sum::<i64>() == 100
    });
    group.stop(Duration::from_secs(10)).unwrap();
    let (result, seen) = run.join().unwrap();
    result.unwrap();
    assert_eq!(seen, 100);
}
