//! `MultiprocessingConsumerGroup` (docs/consumer-groups.md): one worker per acquired
//! partition, for high-volume topics. The group is a member of the
//! ZooKeeper party like any `KafkaConsumerGroup`, but instead of consuming
//! itself it runs a worker per partition it holds — a thread running the
//! application's callbacks, or a process running the application's worker
//! program — watches them, restarts one that died, and on release asks
//! them to stop, waits up to `max_termination_timeout_secs`, and then
//! abandons (threads: fenced, so their commits are refused, and joined
//! before the group is freed) or kills
//! (processes) the rest before the partitions move. One worker failing
//! never stops the others.
//!
//! Under Kafka's group protocol the group is the one member; its workers'
//! commits carry its generation: thread workers share it in memory,
//! worker processes read it from the group's membership file
//! ([`membership_file`]).
//!
//! Owns the partitioner, the workers, the membership file and their
//! bookkeeping; the workers own their consumers ([`thread`], [`process`]).

pub(crate) mod membership_file;
pub(crate) mod process;
pub(crate) mod thread;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::consumer::ConsumerConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::groups::membership::{
    check_group_topics, join_group, partition_set, Balancer, PartitionerGate, Released, Step, PARTITIONS_REFRESH,
};
use crate::groups::run_gate::RunGate;
use crate::kafka::coordinator::MemberGeneration;
use crate::kafka::KafkaCluster;
use crate::set_partitioner::layout;
use crate::sync::Locking;
use crate::topic_partition::TopicPartition;

use membership_file::MembershipFile;
use process::ProcessWorker;
use thread::{ThreadWorker, WorkerFactory};

/// How often the group looks at its workers (a dead one is restarted within this).
pub const MONITOR_PERIOD: Duration = Duration::from_millis(250);
/// How long leaving the party may take once the workers are gone.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the group runs its workers.
#[derive(Clone)]
pub enum WorkerMode {
    /// A thread per partition running the factory's workers.
    Threads(Arc<dyn WorkerFactory>),
    /// A process per partition running this command (program and arguments).
    Processes(Vec<String>),
}

/// The kind of a worker, as `consumers` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerKind {
    /// A thread of this process.
    Thread,
    /// A child process.
    Process,
}

/// One live worker, as `consumers` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The partition it consumes.
    pub partition: TopicPartition,
    /// Thread or process.
    pub kind: WorkerKind,
    /// How many times it was restarted after dying.
    pub restarts: u32,
    /// The process id of a process worker.
    pub pid: Option<u32>,
}

enum Running {
    Thread(ThreadWorker),
    Process(ProcessWorker),
}

struct Worker {
    partition: TopicPartition,
    restarts: u32,
    running: Running,
}

impl Worker {
    fn info(&self) -> WorkerInfo {
        let (kind, pid) = match &self.running {
            Running::Thread(_) => (WorkerKind::Thread, None),
            Running::Process(process) => (WorkerKind::Process, Some(process.pid())),
        };
        WorkerInfo {
            partition: self.partition.clone(),
            kind,
            restarts: self.restarts,
            pid,
        }
    }

    fn has_ended(&mut self) -> bool {
        match &mut self.running {
            Running::Thread(thread) => thread.has_ended(),
            Running::Process(process) => process.has_ended(),
        }
    }
}

/// A multiprocessing consumer group member. `start_group` blocks; every
/// other method may be called from any thread meanwhile.
pub struct MultiprocessingGroup {
    topics: Vec<String>,
    config: ConsumerConfig,
    mode: WorkerMode,
    cluster: KafkaCluster,
    identifier: String,
    gate: RunGate,
    live: Mutex<Vec<WorkerInfo>>,
    /// Fenced worker threads that may still run the application's code.
    fenced: Mutex<Vec<JoinHandle<()>>>,
    /// The gate of the latest partitioner, which the thread workers take
    /// messages and commit through (docs/consumer-groups.md, "Losing
    /// ZooKeeper"); kept for [`MultiprocessingGroup::may_deliver`].
    delivery: Mutex<Option<Arc<PartitionerGate>>>,
    /// The generation the thread workers' commits carry, with Kafka's
    /// group protocol.
    generation: Mutex<Option<Arc<MemberGeneration>>>,
}

impl MultiprocessingGroup {
    /// A member of `config`'s group for `topics` (at least one), running
    /// workers as `mode` says. Nothing connects before `start_group`.
    pub fn new(topics: &[String], config: ConsumerConfig, mode: WorkerMode) -> Result<MultiprocessingGroup> {
        check_group_topics(topics)?;
        if let WorkerMode::Processes(command) = &mode {
            process::check_command(command)?;
            process::check_config(&config)?;
        }
        Ok(MultiprocessingGroup {
            topics: topics.to_vec(),
            cluster: KafkaCluster::new(config.cluster().broker_list().to_vec(), config.client.clone()),
            config,
            mode,
            identifier: layout::unique_identifier(),
            gate: RunGate::default(),
            live: Mutex::new(Vec::new()),
            fenced: Mutex::new(Vec::new()),
            delivery: Mutex::new(None),
            generation: Mutex::new(None),
        })
    }

    /// Joins the group and runs workers for the partitions it holds until
    /// `stop_group`; then stops them and leaves. While the session is in
    /// doubt the workers are paused; a lost ZooKeeper session stops them
    /// as a release does and is `PartitionerError`. A run that
    /// would end well while fenced worker threads still run the
    /// application's code is `WorkersRunning`.
    pub fn start_group(&self) -> Result<()> {
        self.gate.run(|| {
            let result = self.supervise();
            self.live.locked().clear();
            result.and_then(|()| self.check_fenced())
        })
    }

    /// `WorkersRunning` while a fenced worker thread has not returned yet
    /// (docs/c-abi.md: a call after which application code still runs says
    /// so); the threads that returned are joined.
    fn check_fenced(&self) -> Result<()> {
        let mut fenced = self.fenced.locked();
        let (ended, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *fenced)
            .into_iter()
            .partition(JoinHandle::is_finished);
        for thread in ended {
            let _ = thread.join();
        }
        *fenced = running;
        match fenced.len() {
            0 => Ok(()),
            count => Err(Error::new(
                ErrorCode::WorkersRunning,
                format!(
                    "{count} worker thread(s), fenced after max_termination_timeout_secs, still run the \
                     application's callbacks; freeing the group waits for them"
                ),
            )),
        }
    }

    /// Gives the partitioner the partition set read now; when it cannot be
    /// read the partitioner keeps the one it has.
    fn refresh_partitions(&self, partitioner: &dyn Balancer) -> Result<()> {
        if let Ok(partitions) = partition_set(&self.cluster, &self.topics) {
            partitioner.update_partitions(partitions)?;
        }
        Ok(())
    }

    fn supervise(&self) -> Result<()> {
        let partitions = partition_set(&self.cluster, &self.topics)?;
        // Made before the member joins, so that nothing is left to undo
        // when it cannot be; removed when this run ends, after the workers.
        let membership = match (&self.mode, &self.config.kafka_group) {
            (WorkerMode::Processes(_), Some(_)) => Some(MembershipFile::create()?),
            _ => None,
        };
        let partitioner = join_group(&self.config, &self.topics, &self.identifier, partitions)?;
        let gate = PartitionerGate::new(&partitioner);
        *self.delivery.locked() = Some(Arc::clone(&gate));
        *self.generation.locked() = partitioner.generation();
        if let (Some(file), Some(generation)) = (&membership, partitioner.generation()) {
            file.follow(&generation);
        }
        let mut workers: BTreeMap<TopicPartition, Worker> = BTreeMap::new();
        let result = contain_panic(|| self.run_workers(partitioner.as_ref(), &gate, membership.as_ref(), &mut workers));
        // Every way out, an error or a panic included, stops the workers
        // (with their commits) and leaves the party, as Python yelp_kafka's
        // MultiprocessingConsumerGroup does in its finally clause: no worker
        // outlives `start_group`.
        self.stop_workers(&mut workers);
        let left = partitioner.stop(LEAVE_TIMEOUT);
        result.and(left)
    }

    /// Follows the partitioner with a worker per held partition until a
    /// stop is asked for (`Ok`) or something fails; the workers left in
    /// `workers` are the caller's to stop.
    fn run_workers(
        &self,
        partitioner: &dyn Balancer,
        gate: &Arc<PartitionerGate>,
        membership: Option<&MembershipFile>,
        workers: &mut BTreeMap<TopicPartition, Worker>,
    ) -> Result<()> {
        let mut last_refresh = Instant::now();
        loop {
            if self.gate.stop_requested() {
                return Ok(());
            }
            match partitioner.step(Instant::now()) {
                Step::Continue => {}
                Step::Acquire(partitions) => {
                    for partition in partitions {
                        let running = self.start_worker(&partition, gate, membership)?;
                        workers.insert(
                            partition.clone(),
                            Worker {
                                partition,
                                restarts: 0,
                                running,
                            },
                        );
                    }
                }
                Step::Release => {
                    self.stop_workers(workers);
                    partitioner.released(Released::All);
                    self.refresh_partitions(partitioner)?;
                    last_refresh = Instant::now();
                }
                Step::ReleaseSome(partitions) => {
                    let mut leaving: BTreeMap<TopicPartition, Worker> = partitions
                        .iter()
                        .filter_map(|partition| workers.remove_entry(partition))
                        .collect();
                    self.stop_workers(&mut leaving);
                    partitioner.released(Released::Only(&partitions));
                }
                Step::Fail(error) => {
                    // The workers were paused since the session came in
                    // doubt (their gate, docs/consumer-groups.md), having
                    // committed what they finished: they stop as on a
                    // release, and whatever they would commit now is
                    // refused, as the partitions may be another member's.
                    self.stop_workers(workers);
                    return Err(error.with_code(partitioner.failure_code()));
                }
            }
            self.restart_dead_workers(workers, gate, membership)?;
            // Thread workers ask the gate themselves; processes are held
            // from here (docs/consumer-groups.md, "Workers while ZooKeeper
            // is in doubt"). The wait below returns when the connection
            // comes or goes, so they are held as soon as it drops.
            let hold = !partitioner.may_deliver();
            for worker in workers.values_mut() {
                if let Running::Process(process) = &mut worker.running {
                    process.hold(hold);
                }
            }
            if last_refresh.elapsed() >= PARTITIONS_REFRESH {
                self.refresh_partitions(partitioner)?;
                last_refresh = Instant::now();
            }
            *self.live.locked() = workers.values().map(Worker::info).collect();
            partitioner.wait(MONITOR_PERIOD);
        }
    }

    fn start_worker(
        &self,
        partition: &TopicPartition,
        gate: &Arc<PartitionerGate>,
        membership: Option<&MembershipFile>,
    ) -> Result<Running> {
        Ok(match &self.mode {
            WorkerMode::Threads(factory) => Running::Thread(ThreadWorker::start(
                &self.config,
                partition,
                Arc::clone(factory),
                Arc::clone(gate),
                self.generation.locked().clone(),
            )?),
            WorkerMode::Processes(command) => Running::Process(ProcessWorker::start(
                command,
                &self.config,
                partition,
                membership.map(MembershipFile::path),
            )?),
        })
    }

    fn restart_dead_workers(
        &self,
        workers: &mut BTreeMap<TopicPartition, Worker>,
        gate: &Arc<PartitionerGate>,
        membership: Option<&MembershipFile>,
    ) -> Result<()> {
        for worker in workers.values_mut() {
            if worker.has_ended() {
                worker.running = self.start_worker(&worker.partition, gate, membership)?;
                worker.restarts += 1;
            }
        }
        Ok(())
    }

    /// Asks every worker to stop, waits up to `max_termination_timeout`
    /// for all of them together, then abandons or kills the rest.
    fn stop_workers(&self, workers: &mut BTreeMap<TopicPartition, Worker>) {
        for worker in workers.values_mut() {
            match &mut worker.running {
                Running::Thread(thread) => thread.request_stop(),
                Running::Process(process) => process.request_stop(),
            }
        }
        let deadline = Instant::now() + self.config.max_termination_timeout;
        while Instant::now() < deadline && !workers.values_mut().all(Worker::has_ended) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.abandon_workers(workers);
    }

    /// Ends every worker now: threads are fenced and kept until they
    /// return, processes are killed.
    fn abandon_workers(&self, workers: &mut BTreeMap<TopicPartition, Worker>) {
        for (_, worker) in std::mem::take(workers) {
            match worker.running {
                Running::Thread(thread) => {
                    if let Some(running) = thread.fence() {
                        self.fenced.locked().push(running);
                    }
                }
                Running::Process(process) => process.kill(),
            }
        }
        self.live.locked().clear();
    }

    /// Asks `start_group` to stop its workers and leave, and waits up to
    /// `timeout` for it to return. `TimedOut` when it has not (it still
    /// stops); `WorkersRunning` when it has but fenced worker threads still
    /// run the application's code. Callable from any thread, also before
    /// `start_group` (which then returns `Ok` at once without joining).
    pub fn stop_group(&self, timeout: Duration) -> Result<()> {
        self.gate.stop(timeout)?;
        self.check_fenced()
    }

    /// Whether the workers may take messages now: the running partitioner
    /// vouches for the partitions (`test_support` reads it).
    pub(crate) fn may_deliver(&self) -> bool {
        self.delivery.locked().as_ref().is_some_and(|gate| gate.may_deliver())
    }

    /// The live workers, by partition.
    pub fn consumers(&self) -> Vec<WorkerInfo> {
        self.live.locked().clone()
    }
}

impl Drop for MultiprocessingGroup {
    /// Waits for the fenced worker threads: once the group is freed no
    /// callback of the application may run (docs/c-abi.md).
    fn drop(&mut self) {
        for thread in std::mem::take(&mut *self.fenced.locked()) {
            let _ = thread.join();
        }
    }
}

/// Runs the supervisor loop so that a panic in it (a defect of ours: no
/// application code runs on the supervising thread) comes back as
/// `InternalError` instead of unwinding past the workers' stop. The loop's
/// state stays usable for that stop: a worker map, valid whatever step
/// panicked.
fn contain_panic(supervise: impl FnOnce() -> Result<()>) -> Result<()> {
    std::panic::catch_unwind(AssertUnwindSafe(supervise)).unwrap_or_else(|_| {
        Err(Error::new(
            ErrorCode::Internal,
            "the multiprocessing group's supervisor loop panicked; its workers were stopped",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_supervisor_loop_is_an_internal_error() {
        let result = contain_panic(|| panic!("a defect in the loop"));
        assert_eq!(result.unwrap_err().code(), ErrorCode::Internal);
        assert!(contain_panic(|| Ok(())).is_ok());
    }
}
