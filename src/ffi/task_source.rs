//! The link from a handed-out message back to the consumer or group that
//! handed it out, for `yk_task_done(message)` (docs/c-abi.md, "Messages
//! and their source").
//!
//! A message may outlive its handle, and its handle may be freed while
//! another thread marks one of its messages done. So a message never holds
//! the handle: it holds a [`TaskSourceLink`], a shared slot that the
//! handle's [`TaskSource`] fills at creation and empties first thing when
//! the handle is dropped. Emptying takes the slot's write lock, so it waits
//! for a `yk_task_done` in progress and the handle's own drop (freeing
//! metrics emitters, for a group) still runs inside `_free`; a later
//! `yk_task_done` finds the slot empty and says so.

use std::sync::{Arc, RwLock};

use crate::consumer::{Consumer, Message};
use crate::error::{Error, ErrorCode, Result};
use crate::groups::consumer_group::ConsumerGroup;
use crate::sync::ReadWriteLocking;

/// What can mark its own messages done.
pub(crate) trait MarksDone: Send + Sync {
    /// Marks `message` processed.
    fn task_done(&self, message: &Message) -> Result<()>;
}

impl MarksDone for Consumer {
    fn task_done(&self, message: &Message) -> Result<()> {
        Consumer::task_done(self, message)
    }
}

impl MarksDone for ConsumerGroup {
    fn task_done(&self, message: &Message) -> Result<()> {
        ConsumerGroup::task_done(self, message)
    }
}

type Slot = RwLock<Option<Arc<dyn MarksDone>>>;

/// Held by a handle that hands messages out; dropping it cuts every link
/// its messages hold. Declare it before the field holding the consumer or
/// group, so that it is dropped first.
pub(crate) struct TaskSource(Arc<Slot>);

/// Held by a message: reaches its source while the source's handle lives.
#[derive(Clone)]
pub(crate) struct TaskSourceLink(Arc<Slot>);

impl TaskSource {
    /// The source of the messages `source` hands out.
    pub(crate) fn new(source: Arc<dyn MarksDone>) -> TaskSource {
        TaskSource(Arc::new(RwLock::new(Some(source))))
    }

    /// A link for one more message.
    pub(crate) fn link(&self) -> TaskSourceLink {
        TaskSourceLink(Arc::clone(&self.0))
    }
}

impl Drop for TaskSource {
    fn drop(&mut self) {
        self.0.write_locked().take();
    }
}

impl TaskSourceLink {
    /// Marks `message` done on its source; `ClosedHandle` once the source's
    /// handle was freed (the source's own error once it was closed or stopped).
    pub(crate) fn task_done(&self, message: &Message) -> Result<()> {
        match &*self.0.read_locked() {
            Some(source) => source.task_done(message),
            None => Err(Error::new(
                ErrorCode::ClosedHandle,
                "the consumer or consumer group that handed out this message was freed",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    impl MarksDone for Counting {
        fn task_done(&self, _: &Message) -> Result<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    fn message() -> Message {
        Message {
            topic: crate::consumer::Topic::new("t").unwrap(),
            partition: 0,
            offset: 0,
            timestamp: 0,
            log_append_time: false,
            key: None,
            value: None,
            headers: Default::default(),
            assignment: 0,
            slot: 0,
        }
    }

    #[test]
    fn a_link_reaches_its_source_until_the_source_is_dropped() {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let source = TaskSource::new(Arc::clone(&counting) as Arc<dyn MarksDone>);
        let link = source.link();
        link.task_done(&message()).unwrap();
        assert_eq!(counting.0.load(Ordering::Relaxed), 1);
        drop(source);
        assert_eq!(Arc::strong_count(&counting), 1, "the slot let its source go");
        let error = link.task_done(&message()).unwrap_err();
        assert_eq!(error.code(), ErrorCode::ClosedHandle);
        assert!(error.message().contains("freed"), "{error}");
        assert_eq!(counting.0.load(Ordering::Relaxed), 1);
    }
}
