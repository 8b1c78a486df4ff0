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

// markQueue holds the marks a consumer's or group's TaskDone made that the
// library was not told of yet, so that marking one message costs no call
// into the library, and no lock: they reach it in one call (the handle's
// task_done_all) at the latest markDelay after the first of them, or
// earlier, when the handle's next Next, NextBatch, NextBatchInto,
// GetMessage, Commit, CommitPartitions, CommitMessage, Stop or Close
// starts. The library's commits, automatic ones included, see a mark once
// it reached the library (docs/offsets.md, "When commits happen").
//
// A queued mark is the message's done word set to doneQueued: TaskDone's
// compare-and-swap both claims the message and queues its mark. The queue
// keeps the blocks (one per batch taken) with such marks, each once: the
// first mark on a block since the last flush puts it in, under the lock,
// and sets the block's queued word; later ones see that word and are done.
// A flush first clears the words of the blocks it takes, then looks for
// their messages in doneQueued that it did not hand over yet. A mark whose
// TaskDone saw the word set came before the clearing (the atomic
// operations are sequentially consistent), so the flush finds it.
type markQueue struct {
	mu sync.Mutex
	// blocks are the blocks with marks queued, each by the message whose
	// mark put it in: that message keeps the block's messages alive and
	// leads to them (messagesOf).
	blocks []*ConsumerMessage
	// handles and handed are a flush's, kept between flushes.
	handles []uintptr
	handed  []*ConsumerMessage
	// timer flushes markDelay after the first block queued; armed says it
	// runs.
	timer *time.Timer
	armed bool
	// failed is the error of a flush that no call returned: the next
	// TaskDone or flush returns it; failing is 1 while it is set (atomic),
	// so that TaskDone looks without the lock.
	failed  error
	failing uint32
	// doneAll marks the library's messages done with the handle's
	// task_done, stopping at the first failure: how many it marked.
	doneAll func(messages []uintptr) (marked int, err error)
	// guard is the handle's: the flushes that no call of the handle makes
	// (the timer's, a mark of another handle's message) hold it.
	guard *handleGuard
	// closed is set by close, once the handle is closed or stopped: marks
	// are refused from then on (ErrClosedHandle).
	closed bool
}

// The values of ConsumerMessage.done.
const (
	// doneNot: not marked.
	doneNot = iota
	// doneMarked: marked by a call into the library of its own
	// (ConsumerMessage.TaskDone, TaskDoneBatch, Batch.Done, CommitMessage).
	doneMarked
	// doneQueued: marked by a consumer's or group's TaskDone, in its
	// queue until a flush hands it over (ConsumerMessage.handed).
	doneQueued
)

// markDelay bounds how long a mark waits in the queue.
const markDelay = 10 * time.Millisecond

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

// add queues the mark of m, unless it was marked already (also by another
// goroutine). It needs no hold on the handle, which only a flush reaches:
// the common mark is one compare-and-swap and two loads. A message this
// queue's handle did not hand out is marked at once, in a call of its own.
func (q *markQueue) add(m *ConsumerMessage) error {
	if m == nil || m.block == nil {
		return &Error{Code: ErrInvalidArgument, Message: "TaskDone: the message was not taken from a consumer"}
	}
	b := m.block
	if b.marks != q {
		return q.markNow(m)
	}
	if !atomic.CompareAndSwapUint32(&m.done, doneNot, doneQueued) {
		return nil
	}
	if atomic.LoadUint32(&b.queued) != 0 && atomic.LoadUint32(&q.failing) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	// A flush that ran meanwhile (Close's too) may have handed m over
	// already, and its block, all marked, may be filled again: then
	// nothing is left to queue. Otherwise m's mark keeps the block from
	// being filled again until a flush hands it over.
	if m.handed {
		return q.takeFailed()
	}
	if q.closed {
		atomic.StoreUint32(&m.done, doneNot)
		return &Error{Code: ErrClosedHandle, Message: fmt.Sprintf("the %s was closed", q.guard.what)}
	}
	if atomic.LoadUint32(&b.queued) == 0 {
		atomic.StoreUint32(&b.queued, 1)
		q.blocks = append(q.blocks, m)
		q.arm()
	}
	return q.takeFailed()
}

// markNow marks m, a message of another handle or lent to a callback, at
// once on this queue's handle, as the handle's task_done would.
func (q *markQueue) markNow(m *ConsumerMessage) error {
	if claimed, err := claimMark(m); !claimed {
		return err
	}
	if !q.guard.hold() {
		atomic.StoreUint32(&m.done, doneNot)
		return &Error{Code: ErrClosedHandle, Message: fmt.Sprintf("the %s was closed", q.guard.what)}
	}
	marked, err := q.doneAll([]uintptr{m.message})
	q.guard.release()
	if marked == 0 {
		atomic.StoreUint32(&m.done, doneNot)
		return err
	}
	m.block.release(1)
	return err
}

// arm starts the timer unless it runs. Under q.mu.
func (q *markQueue) arm() {
	if q.armed {
		return
	}
	q.armed = true
	if q.timer == nil {
		q.timer = time.AfterFunc(markDelay, q.flushLater)
	} else {
		q.timer.Reset(markDelay)
	}
}

// takeFailed returns and forgets the kept failure. Under q.mu.
func (q *markQueue) takeFailed() error {
	err := q.failed
	q.failed = nil
	atomic.StoreUint32(&q.failing, 0)
	return err
}

// keepFailed keeps err, unless one is kept, for the next TaskDone or
// flush. Under q.mu.
func (q *markQueue) keepFailed(err error) {
	if q.failed == nil {
		q.failed = err
		atomic.StoreUint32(&q.failing, 1)
	}
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
	return q.takeFailed()
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
	return q.takeFailed()
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
	if err := q.flushLocked(); err != nil && !queuedStill(err) {
		q.keepFailed(err)
	}
}

// queuedStill says whether flushLocked failed with ErrReentrant, which
// leaves the marks queued: nothing failed yet.
func queuedStill(err error) bool {
	return errors.Is(err, ErrReentrant)
}

// messagesOf is the messages of m's block: m is one of them, at m.index
// in the slice the block's batch was copied into.
func messagesOf(m *ConsumerMessage) []ConsumerMessage {
	first := unsafe.Add(unsafe.Pointer(m), -int(m.index)*int(unsafe.Sizeof(*m)))
	return unsafe.Slice((*ConsumerMessage)(first), m.block.count)
}

// flushLocked is flush under q.mu: on ErrReentrant (nothing marked) the
// marks stay queued; on another failure those past the ones marked give
// their claims back and leave the queue.
func (q *markQueue) flushLocked() error {
	if len(q.blocks) == 0 {
		return nil
	}
	blocks := q.blocks
	handles, handed := q.handles[:0], q.handed[:0]
	for _, first := range blocks {
		b := first.block
		atomic.StoreUint32(&b.queued, 0)
		messages := messagesOf(first)
		// Past the messages handed over or marked by calls of their own.
		i := b.handedUpTo
		for ; i < len(messages) && (messages[i].handed || atomic.LoadUint32(&messages[i].done) == doneMarked); i++ {
		}
		b.handedUpTo = i
		for ; i < len(messages); i++ {
			m := &messages[i]
			if !m.handed && atomic.LoadUint32(&m.done) == doneQueued {
				m.handed = true
				handles = append(handles, m.message)
				handed = append(handed, m)
			}
		}
	}
	q.handles, q.handed = handles, handed
	if len(handles) == 0 {
		q.dropBlocks()
		return nil
	}
	marked, err := q.doneAll(handles)
	if marked == 0 && errors.Is(err, ErrReentrant) {
		// A commit or stop called from the handle's own callback: the
		// marks stay queued for a call outside it, or the timer.
		// Only the blocks with marks to hand over stay: a block whose
		// marks were all handed over may be filled again.
		q.dropBlocks()
		for _, m := range handed {
			m.handed = false
			if atomic.LoadUint32(&m.block.queued) == 0 {
				atomic.StoreUint32(&m.block.queued, 1)
				q.blocks = append(q.blocks, m)
			}
		}
		q.arm()
		return err
	}
	q.dropBlocks()
	for _, m := range handed[marked:] {
		m.handed = false
		atomic.StoreUint32(&m.done, doneNot)
	}
	var runs blockRuns
	for _, m := range handed[:marked] {
		runs.add(m)
	}
	runs.end()
	for i := range handed {
		handed[i] = nil
	}
	return err
}

// dropBlocks empties the list of blocks after a flush took them, and
// stops the timer. Under q.mu.
func (q *markQueue) dropBlocks() {
	for i := range q.blocks {
		q.blocks[i] = nil
	}
	q.blocks = q.blocks[:0]
	if q.armed {
		q.armed = false
		q.timer.Stop()
	}
}
