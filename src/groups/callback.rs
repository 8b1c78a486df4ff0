//! `CallbackGroup`, Python yelp_kafka's callback-style `ConsumerGroup`
//! (docs/consumer-groups.md): the older group style. `run` consumes the
//! balanced group's messages and hands each to the
//! application's processor on the calling thread until `stop` (from any
//! thread) or a failure; a processor that fails stops the loop with
//! `ProcessMessageError` carrying its text.
//!
//! Owns a [`ConsumerGroup`] and nothing else: balancing, commits and
//! rebalance callbacks are the group's.

use std::time::Duration;

use crate::consumer::{ConsumerConfig, Message};
use crate::error::{Error, ErrorCode, Result};
use crate::groups::consumer_group::{ConsumerGroup, RebalanceHandler};
use crate::groups::run_gate::RunGate;
use crate::metrics::MetricsResponder;

/// How long `run` waits for a message before it looks at `stop` again.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long `run` waits for the first allocation inside `start`; the group
/// goes on allocating in the loop after that.
const FIRST_ALLOCATION_WAIT: Duration = Duration::from_millis(100);
/// How long `run` gives the group to commit and leave once the loop ends.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Processes one message; an `Err` text stops the group.
pub trait MessageProcessor {
    /// Handles `message`; returns why it could not.
    fn process(&mut self, message: &Message) -> std::result::Result<(), String>;
}

/// A callback-style consumer group member.
pub struct CallbackGroup {
    group: ConsumerGroup,
    gate: RunGate,
}

impl CallbackGroup {
    /// A member of `config`'s group for `topics`. The loop looks for
    /// messages in steps of 100 ms whatever `consumer_timeout_ms` says, so
    /// that `stop` is seen promptly.
    pub fn new(
        topics: &[String],
        mut config: ConsumerConfig,
        responder: Option<Box<dyn MetricsResponder>>,
    ) -> Result<CallbackGroup> {
        config.consumer_timeout = Some(STOP_CHECK_INTERVAL);
        Ok(CallbackGroup {
            group: ConsumerGroup::new(topics, config, responder)?,
            gate: RunGate::default(),
        })
    }

    /// Joins the group and processes messages until `stop` or a failure;
    /// each processed message is marked done (commits follow the group's
    /// auto-commit settings). On the way out the group commits and leaves.
    /// A run can happen once per group; after a stop, asked for before
    /// the run too, it returns `Ok` at once without joining.
    pub fn run(&self, processor: &mut dyn MessageProcessor, handler: &mut dyn RebalanceHandler) -> Result<()> {
        self.gate.run(|| {
            let result = self.consume(processor, handler);
            let left = self.group.stop(LEAVE_TIMEOUT, handler);
            result.and(left)
        })
    }

    fn consume(&self, processor: &mut dyn MessageProcessor, handler: &mut dyn RebalanceHandler) -> Result<()> {
        match self.group.start(FIRST_ALLOCATION_WAIT, handler) {
            Err(error) if error.code() != ErrorCode::TimedOut => return Err(error),
            _ => {}
        }
        while !self.gate.stop_requested() {
            let message = match self.group.next(handler) {
                Ok(message) => message,
                Err(error) if error.code() == ErrorCode::ConsumerTimeout => continue,
                Err(error) => return Err(error),
            };
            if let Err(text) = processor.process(&message) {
                return Err(Error::new(
                    ErrorCode::ProcessMessage,
                    format!(
                        "processing {}/{} offset {} failed: {text}",
                        message.topic().as_str(),
                        message.partition(),
                        message.offset()
                    ),
                ));
            }
            self.group.task_done(&message)?;
        }
        Ok(())
    }

    /// Asks `run` to stop after the message it is processing, without waiting.
    pub fn request_stop(&self) {
        self.gate.request_stop();
    }

    /// Asks `run` to stop after the message it is processing, and waits up
    /// to `timeout` for it to have committed and left. `TimedOut` when it
    /// has not (it still stops). Callable from any thread, also before `run`
    /// (which then never joins).
    pub fn stop(&self, timeout: Duration) -> Result<()> {
        self.gate.stop(timeout)
    }
}
