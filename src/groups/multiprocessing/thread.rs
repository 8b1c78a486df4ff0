//! Thread workers: a thread per partition with its own simple consumer,
//! running the application's worker (initialize, process, dispose).
//!
//! A worker takes a message only while its group's partitioner vouches for
//! the partition, and commits only then too (the group's session check,
//! docs/consumer-groups.md, "Losing ZooKeeper"): while the session is in
//! doubt it pauses, after committing once what it finished, and goes on
//! when the session is confirmed again.
//!
//! A worker whose process step fails ends (after committing what it
//! finished) and the group starts a new one. A worker that does not stop
//! when asked is fenced: its consumer is closed under it, so nothing it
//! does afterwards can commit, and the partition can move; its group keeps
//! the thread and joins it before the group is freed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::consumer::{Consumer, ConsumerConfig, Message, Subscription};
use crate::error::{Error, ErrorCode, Result};
use crate::groups::membership::PartitionerGate;
use crate::kafka::coordinator::MemberGeneration;
use crate::topic_partition::TopicPartition;

/// How long a worker waits for a message before it looks at its stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often a paused worker looks whether it may go on, or must stop.
const PAUSE_CHECK: Duration = Duration::from_millis(20);

/// Makes the worker of one partition (`initialize`), on the worker's thread.
pub trait WorkerFactory: Send + Sync {
    /// A worker for `partition`; an `Err` text ends this attempt (the
    /// group tries again a monitor period later).
    fn create(&self, partition: &TopicPartition) -> std::result::Result<Box<dyn PartitionWorker>, String>;
}

/// The application's code for one partition.
pub trait PartitionWorker: Send {
    /// Handles one message; an `Err` text ends the worker, which is restarted.
    fn process(&mut self, message: &Message) -> std::result::Result<(), String>;
    /// The worker ends (stopped, failed or fenced).
    fn dispose(&mut self);
}

/// A running thread worker.
pub struct ThreadWorker {
    stop: Arc<AtomicBool>,
    consumer: Arc<Consumer>,
    thread: Option<JoinHandle<()>>,
}

impl ThreadWorker {
    /// Starts a thread consuming `partition` with `config`'s group offsets,
    /// taking messages and committing only while `gate` allows, with the
    /// member's `generation` under Kafka's group protocol.
    pub fn start(
        config: &ConsumerConfig,
        partition: &TopicPartition,
        factory: Arc<dyn WorkerFactory>,
        gate: Arc<PartitionerGate>,
        generation: Option<Arc<MemberGeneration>>,
    ) -> Result<ThreadWorker> {
        let subscription = Subscription::Topic {
            topic: partition.topic.as_str().to_string(),
            partitions: Some(vec![partition.partition]),
        };
        let consumer = Arc::new(Consumer::new(subscription, config.clone())?);
        consumer.set_commit_gate(Arc::clone(&gate) as _);
        if let Some(generation) = generation {
            consumer.commit_as_member(generation);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_consumer, thread_stop, thread_partition) =
            (Arc::clone(&consumer), Arc::clone(&stop), partition.clone());
        let thread = std::thread::Builder::new()
            .name(format!("yk-worker-{partition}"))
            .spawn(move || consume(&thread_consumer, &thread_stop, &thread_partition, &*factory, &gate))
            .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot start a worker thread: {e}")))?;
        Ok(ThreadWorker {
            stop,
            consumer,
            thread: Some(thread),
        })
    }

    /// Asks the worker to stop after the message it is processing.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the thread has ended.
    pub fn has_ended(&mut self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Ends the worker's hold on its partition now: its consumer is closed
    /// (committing what it finished, if the group's session check still
    /// allows), so its later task_done and commits
    /// fail and it calls `process` no more. A thread still inside the
    /// application's code is returned, for the group to join before it is
    /// freed (docs/c-abi.md: no callback runs after `_free`).
    pub fn fence(mut self) -> Option<JoinHandle<()>> {
        self.request_stop();
        let _ = self.consumer.close();
        let thread = self.thread.take()?;
        if thread.is_finished() {
            let _ = thread.join();
            return None;
        }
        Some(thread)
    }
}

fn consume(
    consumer: &Consumer,
    stop: &AtomicBool,
    partition: &TopicPartition,
    factory: &dyn WorkerFactory,
    gate: &PartitionerGate,
) {
    if consumer.connect().is_err() {
        return;
    }
    let Ok(mut worker) = factory.create(partition) else {
        let _ = consumer.close();
        return;
    };
    // A message taken while the session was in doubt, kept for when it is
    // confirmed again.
    let mut held: Option<Message> = None;
    let mut paused = false;
    while !stop.load(Ordering::Acquire) {
        if !gate.may_deliver() {
            // The plain group stops handing out at once when the session is
            // in doubt (docs/consumer-groups.md, "Losing ZooKeeper"); so do
            // workers. What they finished is committed once, while the
            // check still trusts the session (the commit is refused
            // otherwise), so that the next owner does not read it again.
            if !paused && consumer.config().auto_commit_enable {
                let _ = consumer.commit();
            }
            paused = true;
            std::thread::sleep(PAUSE_CHECK);
            continue;
        }
        paused = false;
        let message = match held.take() {
            Some(message) => message,
            None => match consumer.get_message(true, Some(POLL_INTERVAL)) {
                Ok(message) => message,
                Err(error) if error.code() == ErrorCode::ConsumerTimeout => continue,
                Err(_) => break,
            },
        };
        // The wait for the message may have outlasted the check (or the
        // process stood still): ask again just before the application
        // gets it, as the plain group does.
        if !gate.may_deliver() {
            held = Some(message);
            continue;
        }
        if worker.process(&message).is_err() || consumer.task_done(&message).is_err() {
            break;
        }
    }
    worker.dispose();
    let _ = consumer.close();
}
