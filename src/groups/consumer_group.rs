//! `ConsumerGroup`, Python yelp_kafka's `KafkaConsumerGroup`
//! (docs/consumer-groups.md): the recommended consumer. Instances in
//! any processes split the partitions of their topics through the ZooKeeper
//! set partitioner, or Kafka's group protocol (`group_protocol`), and
//! consume them with the consumer core.
//!
//! Owns a [`Consumer`] (subscription [`Subscription::Assigned`]: it reads
//! what the balancer gives it), a [`Balancer`] (the partitioner), a Kafka
//! client for the partition set, and the group's metrics. Everything the
//! group does in response to the balancer — rebalance callbacks, commits
//! before a release, assigning and revoking partitions — happens on the
//! calling thread, inside `start`, `next` and `stop`: the balancer's
//! engine task only changes its state.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::consumer::{Consumer, ConsumerConfig, Message, Subscription};
use crate::error::{Error, ErrorCode, Result};
use crate::groups::membership::{check_group_topics, join_group, partition_set, PartitionerGate, PARTITIONS_REFRESH};
use crate::groups::membership::{Balancer, Released, StandingVouch, Step, Vouch};
use crate::groups::metrics::{FetchMetrics, GroupMetric};
use crate::metrics::{MetricsRecorder, MetricsResponder};
use crate::set_partitioner::layout;
use crate::sync::Locking;
use crate::topic_partition::TopicPartition;

/// How long one internal fetch attempt of `next` waits before the
/// partitioner is refreshed again (the Python library's 100 ms).
const INTERNAL_TIMEOUT: Duration = Duration::from_millis(100);

/// Receives the partitions a group gives up and acquires, on the thread
/// that called into the group.
pub trait RebalanceHandler {
    /// Before `partitions` are given up (their offsets are committed after
    /// this, with auto-commit).
    fn before_release(&mut self, partitions: &[TopicPartition]);
    /// After `partitions` were acquired, before any of their messages is delivered.
    fn after_acquire(&mut self, partitions: &[TopicPartition]);
}

/// A handler that does nothing.
pub struct NoRebalanceHandler;

impl RebalanceHandler for NoRebalanceHandler {
    fn before_release(&mut self, _: &[TopicPartition]) {}
    fn after_acquire(&mut self, _: &[TopicPartition]) {}
}

/// Where a group is in its life. Changed only under the state lock (start
/// and stop are compound steps); read without it, so that `task_done` and
/// `commit` never wait for a rebalance holding that lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Lifecycle {
    New,
    Started,
    Stopped,
}

/// What the calling threads share, behind one lock.
struct GroupState {
    partitioner: Option<Arc<dyn Balancer>>,
    /// The partitions the consumer reads, as acquired.
    held: Vec<TopicPartition>,
    /// Acquired but not yet assigned to the consumer (the assignment failed).
    unassigned: Option<Vec<TopicPartition>>,
    /// The partitioner failed: what every later call reports.
    failure: Option<Error>,
    /// A message taken from the consumer while the partitioner stopped
    /// vouching for the partitions (a pause during the wait): handed out
    /// once it vouches again, dropped with a release.
    withheld: Option<Message>,
    /// The partitioner's last answer, "Continue, and hand out messages",
    /// in the standing form it gave it: while it stands, `refresh` need
    /// not ask again ([`Balancer::vouch_stands`]).
    standing_vouch: Option<StandingVouch>,
    /// When the partition set is read from Kafka again.
    next_partitions_refresh: Instant,
    force_partitions_refresh: bool,
}

/// A balanced consumer group member. Usable from several threads at once.
pub struct ConsumerGroup {
    topics: Vec<String>,
    consumer: Arc<Consumer>,
    metrics: Arc<MetricsRecorder>,
    lifecycle: AtomicU8,
    state: Mutex<GroupState>,
    identifier: String,
}

impl ConsumerGroup {
    /// A member of `config`'s group for `topics` (at least one); nothing
    /// connects before [`ConsumerGroup::start`]. Measurements go to
    /// `responder` (`groups::metrics::GROUP_METRICS`).
    pub fn new(
        topics: &[String],
        config: ConsumerConfig,
        responder: Option<Box<dyn MetricsResponder>>,
    ) -> Result<ConsumerGroup> {
        check_group_topics(topics)?;
        let metrics = Arc::new(MetricsRecorder::new(responder, true));
        let consumer = Consumer::new(Subscription::Assigned, config)?
            .with_fetch_observer(Arc::new(FetchMetrics(Arc::clone(&metrics))));
        Ok(ConsumerGroup {
            topics: topics.to_vec(),
            consumer: Arc::new(consumer),
            metrics,
            lifecycle: AtomicU8::new(Lifecycle::New as u8),
            state: Mutex::new(GroupState {
                partitioner: None,
                held: Vec::new(),
                unassigned: None,
                failure: None,
                withheld: None,
                standing_vouch: None,
                next_partitions_refresh: Instant::now(),
                force_partitions_refresh: true,
            }),
            identifier: layout::unique_identifier(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        self.consumer.config()
    }

    /// This member's identifier in the party (`<fqdn>-<pid>-<n>`).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.locked()
    }

    fn lifecycle(&self) -> Lifecycle {
        match self.lifecycle.load(Ordering::Acquire) {
            0 => Lifecycle::New,
            1 => Lifecycle::Started,
            _ => Lifecycle::Stopped,
        }
    }

    /// Moves to `lifecycle`; the caller holds the state lock.
    fn set_lifecycle(&self, _state: &GroupState, lifecycle: Lifecycle) {
        self.lifecycle.store(lifecycle as u8, Ordering::Release);
    }

    /// Connects, joins the group and waits up to `timeout` for the first
    /// allocation (after at least the cooldown). Still allocating then is
    /// `TimedOut`: the group is started and `next` goes on allocating, and
    /// `start` again (or [`ConsumerGroup::wait_assignment`]) waits again.
    /// Any other failure leaves the group stopped (create a new one).
    pub fn start(&self, timeout: Duration, handler: &mut dyn RebalanceHandler) -> Result<()> {
        {
            let mut state = self.lock();
            match self.lifecycle() {
                Lifecycle::New => {}
                // A start that timed out goes on waiting (docs/consumer-groups.md).
                Lifecycle::Started => {
                    drop(state);
                    return self.wait_assignment(timeout, handler);
                }
                Lifecycle::Stopped => return Err(stopped()),
            }
            // A start that fails half-way leaves the group stopped: create a new one.
            self.set_lifecycle(&state, Lifecycle::Stopped);
            let partitioner = self.join().inspect_err(|_| {
                let _ = self.consumer.close();
            })?;
            self.consumer.set_commit_gate(PartitionerGate::new(&partitioner));
            state.partitioner = Some(partitioner);
            state.next_partitions_refresh = Instant::now() + PARTITIONS_REFRESH;
            state.force_partitions_refresh = false;
            self.set_lifecycle(&state, Lifecycle::Started);
        }
        self.wait_assignment(timeout, handler)
    }

    /// Waits up to `timeout` until the group holds its allocation and may
    /// deliver, following the partitioner (rebalances and their callbacks
    /// run here). `TimedOut` when it is still allocating (it goes on in
    /// `next`); `WrongState` before `start`, `ClosedHandle` after `stop`.
    pub fn wait_assignment(&self, timeout: Duration, handler: &mut dyn RebalanceHandler) -> Result<()> {
        self.started()?;
        let deadline = Instant::now() + timeout;
        let result = loop {
            let vouched = {
                let mut state = self.lock();
                self.refresh(&mut state, handler, Instant::now())
            };
            match vouched {
                Err(error) => break Err(error),
                Ok(true) => break Ok(()),
                Ok(false) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(Error::new(
                    ErrorCode::TimedOut,
                    format!("no allocation within {timeout:?}; the group goes on allocating in next()"),
                ));
            }
            self.wait_partitioner(left.min(INTERNAL_TIMEOUT));
        };
        self.metrics.deliver();
        result
    }

    /// Connects the consumer, reads the partition set and joins the party.
    fn join(&self) -> Result<Arc<dyn Balancer>> {
        self.consumer.connect()?;
        let partitions = self.partition_set()?;
        let balancer = join_group(self.config(), &self.topics, &self.identifier, partitions)?;
        // A rebalance reaches `next` at once, also while it waits for messages.
        let consumer = Arc::downgrade(&self.consumer);
        balancer.wake_holder_with(Box::new(move || {
            if let Some(consumer) = consumer.upgrade() {
                consumer.interrupt_wait();
            }
        }));
        if let Some(generation) = balancer.generation() {
            self.consumer.commit_as_member(generation);
        }
        Ok(balancer)
    }

    /// The next message of the partitions this member holds. Before each
    /// internal fetch attempt (100 ms) the partitioner is refreshed:
    /// rebalances run here, with their callbacks. Under Kafka's group
    /// protocols the member's events end an attempt at once. Nothing within
    /// `consumer_timeout_ms` is `ConsumerTimeout`; a lost ZooKeeper session
    /// is `PartitionerError`, now and on every later call.
    pub fn next(&self, handler: &mut dyn RebalanceHandler) -> Result<Message> {
        let mut taken = None;
        let result = self.next_messages(handler, 1, &mut |message| taken = Some(message));
        self.metrics.deliver();
        result.map(|_| taken.expect("next_messages succeeds with a message"))
    }

    /// [`ConsumerGroup::next`], then up to `max - 1` more messages fetched
    /// already, without waiting, while the partitioner vouches for the
    /// partitions; each goes to `put`, in order. Returns how many.
    pub fn next_batch(
        &self,
        handler: &mut dyn RebalanceHandler,
        max: usize,
        mut put: impl FnMut(Message),
    ) -> Result<usize> {
        let result = self.next_messages(handler, max.max(1), &mut put);
        self.metrics.deliver();
        result
    }

    /// Up to `max` (at least one) messages to `put`, in order: the first as
    /// `next` waits for it, the others fetched already.
    ///
    /// Messages fetched already are taken under the group's lock and one
    /// answer of the partitioner, so no release can start between the
    /// answer and the hand-out (a release runs under that lock and revokes
    /// the consumer's partitions before it lets go of it). Only a message
    /// that had to be waited for is checked again after the wait
    /// ([`ConsumerGroup::hand_out`]). The clock is read once per call,
    /// under the lock: the deadline, the partition-refresh check, the
    /// partitioner's step (a Kafka member's sign of life) and its trust
    /// check share it, unless the refresh acted
    /// (callbacks, ZooKeeper, Kafka), after which the trust check reads it
    /// again; so the time it compares is never older than the last wait.
    /// Another read comes only when there is something to wait for: these
    /// checks run once per message.
    fn next_messages(
        &self,
        handler: &mut dyn RebalanceHandler,
        max: usize,
        put: &mut dyn FnMut(Message),
    ) -> Result<usize> {
        let timeout = self.config().consumer_timeout;
        let mut deadline = None;
        loop {
            let vouched = {
                let mut state = self.lock();
                let now = Instant::now();
                if let Some(timeout) = timeout {
                    deadline.get_or_insert(now + timeout);
                }
                let vouched = self.refresh(&mut state, handler, now)?;
                // A wakeup while allocating ends the wait within one attempt.
                self.consumer.wakeup().take()?;
                if vouched {
                    if let Some(message) = state.withheld.take() {
                        put(message);
                        return Ok(1);
                    }
                    let taken = self.consumer.take_fetched(max, &mut *put)?;
                    if taken > 0 {
                        return Ok(taken);
                    }
                }
                vouched
            };
            let attempt = deadline.map_or(INTERNAL_TIMEOUT, |deadline| {
                deadline.saturating_duration_since(Instant::now()).min(INTERNAL_TIMEOUT)
            });
            if vouched {
                match self.consumer.get_message(true, Some(attempt)) {
                    Ok(message) => {
                        if let Some(taken) = self.hand_out(message, max, &mut *put)? {
                            return Ok(taken);
                        }
                    }
                    Err(error) if error.code() == ErrorCode::ConsumerTimeout => {}
                    Err(error) => return Err(error),
                }
            } else {
                self.wait_partitioner(attempt);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(Error::new(
                    ErrorCode::ConsumerTimeout,
                    format!(
                        "KafkaConsumerGroup timed out after {} ms",
                        timeout.unwrap_or_default().as_millis()
                    ),
                ));
            }
        }
    }

    /// Makes a blocked [`ConsumerGroup::next`] return `WokenUp`: at once
    /// while it waits for messages, within one internal attempt (100 ms)
    /// while the group allocates. Async-signal-safe.
    pub fn wakeup(&self) {
        self.consumer.wakeup().request();
    }

    /// A descriptor readable while fetched messages wait (the consumer's).
    pub fn ready_fd(&self) -> std::os::fd::RawFd {
        self.consumer.ready_fd()
    }

    /// Marks `message` processed (any order; commits stop at the first gap).
    pub fn task_done(&self, message: &Message) -> Result<()> {
        self.started()?;
        self.consumer.task_done(message)
    }

    /// Commits the processed offsets of the partitions held now.
    pub fn commit(&self) -> Result<()> {
        self.started()?;
        let started = Instant::now();
        let result = self.consumer.commit();
        self.metrics
            .record_duration(GroupMetric::OffsetCommitRequestTimer as usize, started.elapsed());
        self.metrics.deliver();
        result
    }

    /// Leaves the group within `timeout`: the pre-rebalance callback, a
    /// commit (with auto-commit), the partitions given up, the party left,
    /// the consumer closed. Also after a `PartitionerError` (then without
    /// a commit, since the partitions may be another member's, and without
    /// ZooKeeper work). Stopping twice is harmless. The first error met is
    /// returned, but every step runs.
    pub fn stop(&self, timeout: Duration, handler: &mut dyn RebalanceHandler) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let (partitioner, held, failed) = {
            let mut state = self.lock();
            let was = self.lifecycle();
            self.set_lifecycle(&state, Lifecycle::Stopped);
            if was != Lifecycle::Started {
                return Ok(());
            }
            state.withheld = None;
            state.standing_vouch = None;
            (
                state.partitioner.take(),
                std::mem::take(&mut state.held),
                state.failure.is_some(),
            )
        };
        let mut first_error = None;
        if !held.is_empty() {
            handler.before_release(&held);
            if self.config().auto_commit_enable && !failed {
                let left = deadline.saturating_duration_since(Instant::now());
                if let Err(error) = self.commit_within(&held, left) {
                    first_error.get_or_insert(error);
                }
            }
            if let Err(error) = self.consumer.revoke(&held) {
                first_error.get_or_insert(error);
            }
        }
        if let Some(partitioner) = partitioner {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            if let Err(error) = partitioner.stop(left) {
                first_error.get_or_insert(error);
            }
        }
        if let Err(error) = self.consumer.close() {
            first_error.get_or_insert(error);
        }
        self.metrics.release();
        first_error.map_or(Ok(()), Err)
    }

    /// `Ok` once started and until stopped. Checked by `next` and
    /// `task_done` for every message: the check is inlined, the error made
    /// out of line.
    #[inline]
    fn started(&self) -> Result<()> {
        match self.lifecycle() {
            Lifecycle::Started => Ok(()),
            lifecycle => Err(not_started(lifecycle)),
        }
    }

    /// `message`, waited for, to `put` if it may be handed out now, with up
    /// to `max - 1` more fetched meanwhile; returns how many. Otherwise it is
    /// kept for later, or dropped if its partition is no longer held
    /// (`None`). The process may have been paused while the consumer waited
    /// for it, so the partitioner is asked again after the wait
    /// (docs/consumer-groups.md, "Losing ZooKeeper").
    fn hand_out(&self, message: Message, max: usize, put: &mut dyn FnMut(Message)) -> Result<Option<usize>> {
        let mut state = self.lock();
        // The message was waited for without the lock: another thread's
        // call may have released its partition meanwhile. Its new owner
        // reads it from the last commit; here it is dropped.
        let still_held = state
            .held
            .iter()
            .any(|held| held.topic == *message.topic() && held.partition == message.partition());
        if !still_held {
            return Ok(None);
        }
        if !deliverable(&state, Instant::now()) {
            state.withheld = Some(message);
            return Ok(None);
        }
        put(message);
        if max <= 1 {
            return Ok(Some(1));
        }
        Ok(Some(1 + self.consumer.take_fetched(max - 1, put)?))
    }

    /// Waits up to `timeout` for the partitioner to change state, without
    /// holding the group's lock.
    fn wait_partitioner(&self, timeout: Duration) {
        let partitioner = self.lock().partitioner.clone();
        match partitioner {
            Some(partitioner) => partitioner.wait(timeout),
            None => std::thread::sleep(timeout),
        }
    }

    /// Follows the partitioner, under the group's lock: refreshes the
    /// partition set when due at `now`, then acts on every instruction
    /// pending. Returns whether messages may be handed out ([`deliverable`])
    /// at the time the partitioner last answered, which answers that with
    /// its step: `now` when there was nothing to do, otherwise a time read
    /// after acting, since time passed meanwhile. When there is nothing to
    /// do and the partitioner's last answer still stands at `now` (nothing
    /// changed since, and its trust reaches past `now`), that answer is the
    /// one it would give: it is not asked again ([`Balancer::vouch_stands`]).
    fn refresh(&self, state: &mut GroupState, handler: &mut dyn RebalanceHandler, now: Instant) -> Result<bool> {
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        self.started()?;
        let nothing_to_do =
            !state.force_partitions_refresh && now < state.next_partitions_refresh && state.unassigned.is_none();
        if nothing_to_do {
            if let (Some(standing), Some(partitioner)) = (&state.standing_vouch, &state.partitioner) {
                if partitioner.vouch_stands(standing, now) {
                    return Ok(settled(state));
                }
            }
        }
        self.follow(state, handler, now)
    }

    /// [`ConsumerGroup::refresh`] past its checks: refreshes the partition
    /// set when due at `now`, assigns what is left to assign, then asks
    /// the partitioner and acts on its answers until it says `Continue`.
    /// Kept out of `refresh`, so that the check made before every message
    /// does not pay for this one's frame.
    #[inline(never)]
    fn follow(&self, state: &mut GroupState, handler: &mut dyn RebalanceHandler, now: Instant) -> Result<bool> {
        let mut acted = false;
        if state.force_partitions_refresh || now >= state.next_partitions_refresh {
            acted = true;
            let partitions = self.partition_set();
            let partitioner = state.partitioner.as_ref().expect("a started group has a partitioner");
            match partitions.and_then(|partitions| partitioner.update_partitions(partitions)) {
                Ok(()) => {
                    state.next_partitions_refresh = Instant::now() + PARTITIONS_REFRESH;
                    state.force_partitions_refresh = false;
                }
                Err(error) => return Err(self.fail(state, error)),
            }
        }
        if let Some(partitions) = state.unassigned.take() {
            acted = true;
            self.assign(state, partitions, handler)?;
        }
        // What acted above, and each action below, may have waited: the
        // partitioner is asked with a time read after it, which both its
        // answer about handing out and its member's sign of life take.
        let mut now = if acted { Instant::now() } else { now };
        loop {
            let (step, vouch) = state
                .partitioner
                .as_ref()
                .expect("a started group has a partitioner")
                .step_vouched(now);
            // Kept only with a `Continue` that vouches; any other answer
            // comes without one, and the next refresh asks again.
            state.standing_vouch = match vouch {
                Vouch::Until(standing) => Some(standing),
                Vouch::No | Vouch::At => None,
            };
            match step {
                Step::Continue => return Ok(vouch.vouched() && settled(state)),
                Step::Acquire(partitions) => self.assign(state, partitions, handler)?,
                Step::Release => self.release(state, handler)?,
                Step::ReleaseSome(partitions) => self.release_some(state, &partitions, handler)?,
                Step::Fail(error) => return Err(self.fail(state, error)),
            }
            now = Instant::now();
        }
    }

    /// Starts consuming `partitions`; on failure they stay pending and the
    /// next refresh tries again.
    fn assign(
        &self,
        state: &mut GroupState,
        partitions: Vec<TopicPartition>,
        handler: &mut dyn RebalanceHandler,
    ) -> Result<()> {
        let started = Instant::now();
        let assigned = self.consumer.assign(&partitions);
        self.metrics
            .record_duration(GroupMetric::OffsetFetchRequestTimer as usize, started.elapsed());
        if let Err(error) = assigned {
            state.unassigned = Some(partitions);
            return Err(error);
        }
        state.unassigned = None;
        handler.after_acquire(&partitions);
        state.held.extend(partitions);
        Ok(())
    }

    /// Gives up `partitions` only (callback, commit, revoke) in an
    /// incremental rebalance; the others go on being consumed. A failed
    /// commit is returned after the release.
    fn release_some(
        &self,
        state: &mut GroupState,
        partitions: &[TopicPartition],
        handler: &mut dyn RebalanceHandler,
    ) -> Result<()> {
        state.held.retain(|held| !partitions.contains(held));
        if let Some(pending) = &mut state.unassigned {
            pending.retain(|partition| !partitions.contains(partition));
        }
        if state.withheld.as_ref().is_some_and(|message| {
            partitions
                .iter()
                .any(|p| p.topic == *message.topic() && p.partition == message.partition())
        }) {
            state.withheld = None;
        }
        let mut commit = Ok(());
        if !partitions.is_empty() {
            handler.before_release(partitions);
            if self.config().auto_commit_enable {
                let started = Instant::now();
                commit = self.consumer.commit_partitions(partitions);
                self.metrics
                    .record_duration(GroupMetric::OffsetCommitRequestTimer as usize, started.elapsed());
            }
            self.consumer.revoke(partitions)?;
        }
        state
            .partitioner
            .as_ref()
            .expect("a started group has a partitioner")
            .released(Released::Only(partitions));
        commit
    }

    /// Gives the held partitions up (callback, commit, revoke) and lets the
    /// partitioner release their locks; the partition set is read again
    /// before the next allocation. A failed commit is returned after the
    /// release (the next owner reads again from the last commit).
    fn release(&self, state: &mut GroupState, handler: &mut dyn RebalanceHandler) -> Result<()> {
        let held = std::mem::take(&mut state.held);
        state.unassigned = None;
        state.withheld = None;
        let mut commit = Ok(());
        if !held.is_empty() {
            handler.before_release(&held);
            if self.config().auto_commit_enable {
                let started = Instant::now();
                commit = self.consumer.commit_partitions(&held);
                self.metrics
                    .record_duration(GroupMetric::OffsetCommitRequestTimer as usize, started.elapsed());
            }
            self.consumer.revoke(&held)?;
        }
        state
            .partitioner
            .as_ref()
            .expect("a started group has a partitioner")
            .released(Released::All);
        state.force_partitions_refresh = true;
        commit
    }

    /// Records the failure every later call reports, as a `PartitionerError`.
    /// Nothing more is delivered or committed: the partitions may be
    /// another member's already.
    fn fail(&self, state: &mut GroupState, error: Error) -> Error {
        let code = state
            .partitioner
            .as_ref()
            .map_or(ErrorCode::Partitioner, |balancer| balancer.failure_code());
        let error = error.with_code(code);
        state.failure = Some(error.clone());
        state.withheld = None;
        state.standing_vouch = None;
        error
    }

    /// Commits `partitions` on another thread, waiting at most `timeout`
    /// (a commit to a ZooKeeper that is gone must not hold `stop`).
    fn commit_within(&self, partitions: &[TopicPartition], timeout: Duration) -> Result<()> {
        let consumer = Arc::clone(&self.consumer);
        let partitions = partitions.to_vec();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("yk-group-commit".into())
            .spawn(move || {
                let _ = sender.send(consumer.commit_partitions(&partitions));
            })
            .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot start the commit thread: {e}")))?;
        receiver.recv_timeout(timeout).unwrap_or_else(|_| {
            Err(Error::new(
                ErrorCode::TimedOut,
                format!("the commit before leaving took longer than {timeout:?}"),
            ))
        })
    }

    /// The partition set of the group's topics, `<topic>-<partition>`, from
    /// Kafka metadata; topics Kafka does not know are left out, and no
    /// partition at all is a `PartitionerError`.
    fn partition_set(&self) -> Result<Vec<String>> {
        let started = Instant::now();
        let partitions = partition_set(self.consumer.cluster(), &self.topics);
        self.metrics
            .record_duration(GroupMetric::MetadataRequestTimer as usize, started.elapsed());
        partitions
    }
}

/// Whether messages may be handed out at `now` (a time read just before):
/// partitions acquired and assigned, the ZooKeeper connection up and the
/// session confirmed recently (the partitioner's `may_deliver_at`).
fn deliverable(state: &GroupState, now: Instant) -> bool {
    settled(state)
        && state
            .partitioner
            .as_ref()
            .is_some_and(|partitioner| partitioner.may_deliver_at(now))
}

/// No failure and no acquired partition left to assign: the group's part
/// of [`deliverable`].
fn settled(state: &GroupState) -> bool {
    state.failure.is_none() && state.unassigned.is_none()
}

impl Drop for ConsumerGroup {
    /// A group freed without `stop` lets its responder go here, on the
    /// thread that frees it: the consumer's fetch task still holds the
    /// recorder and would otherwise drop it later on an engine thread,
    /// after the application's opaque is gone (docs/metrics.md).
    fn drop(&mut self) {
        self.metrics.release();
    }
}

/// Why a call needs a started group, in `lifecycle`.
#[cold]
fn not_started(lifecycle: Lifecycle) -> Error {
    match lifecycle {
        Lifecycle::New => Error::new(ErrorCode::WrongState, "the group is not started"),
        Lifecycle::Started | Lifecycle::Stopped => stopped(),
    }
}

fn stopped() -> Error {
    Error::new(ErrorCode::ClosedHandle, "the group is stopped")
}
