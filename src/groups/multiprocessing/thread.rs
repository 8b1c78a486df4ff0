//! Thread workers: a thread per partition with its own simple consumer,
//! running the application's worker (initialize, process, dispose).
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
use crate::topic_partition::TopicPartition;

/// How long a worker waits for a message before it looks at its stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

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
    /// Starts a thread consuming `partition` with `config`'s group offsets.
    pub fn start(
        config: &ConsumerConfig,
        partition: &TopicPartition,
        factory: Arc<dyn WorkerFactory>,
    ) -> Result<ThreadWorker> {
        let subscription = Subscription::Topic {
            topic: partition.topic.as_str().to_string(),
            partitions: Some(vec![partition.partition]),
        };
        let consumer = Arc::new(Consumer::new(subscription, config.clone())?);
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_consumer, thread_stop, thread_partition) =
            (Arc::clone(&consumer), Arc::clone(&stop), partition.clone());
        let thread = std::thread::Builder::new()
            .name(format!("yk-worker-{partition}"))
            .spawn(move || consume(&thread_consumer, &thread_stop, &thread_partition, &*factory))
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
    /// (committing what it finished), so its later task_done and commits
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

fn consume(consumer: &Consumer, stop: &AtomicBool, partition: &TopicPartition, factory: &dyn WorkerFactory) {
    if consumer.connect().is_err() {
        return;
    }
    let Ok(mut worker) = factory.create(partition) else {
        let _ = consumer.close();
        return;
    };
    while !stop.load(Ordering::Acquire) {
        let message = match consumer.get_message(true, Some(POLL_INTERVAL)) {
            Ok(message) => message,
            Err(error) if error.code() == ErrorCode::ConsumerTimeout => continue,
            Err(_) => break,
        };
        if worker.process(&message).is_err() || consumer.task_done(&message).is_err() {
            break;
        }
    }
    worker.dispose();
    let _ = consumer.close();
}
