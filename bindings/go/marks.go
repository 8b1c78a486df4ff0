package yelpkafka

// #include "callbacks.h"
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// markQueue holds the messages a consumer's or group's TaskDone marked and
// the library was not told of yet, so that marking one message costs no
// call into the library: they reach it in one call (the handle's
// task_done_all) at the latest markDelay after the first of them, or
// earlier, when the handle's next Next, NextBatch, NextBatchInto,
// GetMessage, Commit, CommitPartitions, CommitMessage, Stop or Close
// starts, or when maxQueuedMarks wait. The library's commits, automatic
// ones included, see a mark once it reached the library (docs/offsets.md,
// "When commits happen").
type markQueue struct {
	mu       sync.Mutex
	messages []*ConsumerMessage
	handles  []uintptr
	// claimed is all ones: every queued message was claimed by TaskDone.
	claimed []uint64
	// timer flushes markDelay after the first mark queued; armed says it
	// runs.
	timer *time.Timer
	armed bool
	// failed is the error of a flush that no call returned: the next
	// TaskDone or flush returns it.
	failed error
	// doneAll marks the library's messages done with the handle's
	// task_done, stopping at the first failure: how many it marked.
	doneAll func(messages []uintptr) (marked int, err error)
	// guard is the handle's: the timer's flush holds it.
	guard *handleGuard
	// closed is set by close, once the handle is closed or stopped: marks
	// are refused from then on (ErrClosedHandle).
	closed bool
}

// markDelay bounds how long a mark waits in the queue.
const markDelay = 10 * time.Millisecond

// maxQueuedMarks bounds the queue: the TaskDone that fills it flushes it.
const maxQueuedMarks = 4096

// newMarkQueue is the queue of a handle guarded by guard, whose
// task_done_all (yk_go_consumer_task_done_all, ...) is doneAll.
func newMarkQueue(guard *handleGuard,
	doneAll func(messages *C.uintptr_t, count C.size_t, marked *C.size_t) C.enum_yk_error) *markQueue {
	return &markQueue{guard: guard, doneAll: func(messages []uintptr) (int, error) {
		var marked C.size_t
		err := call(func() C.enum_yk_error {
			return doneAll((*C.uintptr_t)(unsafe.Pointer(&messages[0])), C.size_t(len(messages)), &marked)
		})
		return int(marked), err
	}}
}

// add queues m, from the queue's handle, unless it was marked already
// (also by another goroutine). It needs no hold on the handle, which only
// a flush reaches: so a mark costs a claim and the queue's lock, and
// close refuses marks once the handle is closed.
func (q *markQueue) add(m *ConsumerMessage) error {
	if claimed, err := claimMark(m); !claimed {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		atomic.StoreUint32(&m.done, 0)
		return &Error{Code: ErrClosedHandle, Message: fmt.Sprintf("the %s was closed", q.guard.what)}
	}
	q.messages = append(q.messages, m)
	q.handles = append(q.handles, m.message)
	if len(q.messages) >= maxQueuedMarks && q.guard.hold() {
		// Not freed: close, which comes before the free, was not called.
		err := q.flushLocked()
		q.guard.release()
		if !queuedStill(err) {
			return err
		}
	}
	if !q.armed && len(q.messages) > 0 {
		q.armed = true
		if q.timer == nil {
			q.timer = time.AfterFunc(markDelay, q.flushLater)
		} else {
			q.timer.Reset(markDelay)
		}
	}
	if err := q.failed; err != nil {
		q.failed = nil
		return err
	}
	return nil
}

// flush hands every queued mark to the library. The handle's guard is
// entered. A failure (flushLocked says what stays queued) is returned,
// and kept for the next call when it came from the timer or a read.
func (q *markQueue) flush() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.flushLocked(); err != nil {
		return err
	}
	err := q.failed
	q.failed = nil
	return err
}

// close is flush for the handle's close or stop, after which the queue
// refuses marks. The handle's guard is entered.
func (q *markQueue) close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	if err := q.flushLocked(); err != nil {
		return err
	}
	err := q.failed
	q.failed = nil
	return err
}

// flushLater is the timer's flush, while the handle exists.
func (q *markQueue) flushLater() {
	if !q.guard.hold() {
		return
	}
	defer q.guard.release()
	q.flushKeeping()
}

// flushKeeping is flush before a read: a failure is kept for the next
// TaskDone, Commit or Close, not returned by the read.
func (q *markQueue) flushKeeping() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.flushLocked(); err != nil && !queuedStill(err) && q.failed == nil {
		q.failed = err
	}
}

// queuedStill says whether flushLocked failed with ErrReentrant, which
// leaves the marks queued: nothing failed yet.
func queuedStill(err error) bool {
	return errors.Is(err, ErrReentrant)
}

// flushLocked is flush under q.mu: on ErrReentrant (nothing marked) the
// marks stay queued; on another failure those past the ones marked give
// their claims back and leave the queue.
func (q *markQueue) flushLocked() error {
	count := len(q.messages)
	if count == 0 {
		return nil
	}
	marked, err := q.doneAll(q.handles)
	if marked == 0 && errors.Is(err, ErrReentrant) {
		// A commit or stop called from the handle's own callback: the
		// marks stay queued for a call outside it, or the timer.
		return err
	}
	if q.armed {
		q.armed = false
		q.timer.Stop()
	}
	words := (count + 63) / 64
	for len(q.claimed) < words {
		q.claimed = append(q.claimed, ^uint64(0))
	}
	messages := q.messages
	releaseMarked(count, q.claimed, marked, func(i int) *ConsumerMessage { return messages[i] })
	for i := range messages {
		messages[i] = nil
	}
	q.messages, q.handles = messages[:0], q.handles[:0]
	return err
}
