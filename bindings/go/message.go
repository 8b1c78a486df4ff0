package yelpkafka

// #include <stdlib.h>
// #include "callbacks.h"
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// TimestampType says who set a message's timestamp.
type TimestampType int32

// The values of ConsumerMessage.TimestampType.
const (
	// TimestampCreateTime: the producer, when it created the message.
	TimestampCreateTime TimestampType = C.YK_TIMESTAMP_TYPE_CREATE_TIME
	// TimestampLogAppendTime: the broker, when it appended the message
	// (the topic's message.timestamp.type is LogAppendTime).
	TimestampLogAppendTime TimestampType = C.YK_TIMESTAMP_TYPE_LOG_APPEND_TIME
)

// Header is one record header: a name and a value, nil for a null value
// (Kafka's headers may have one), empty for an empty one.
type Header struct {
	Key   string
	Value []byte
}

// ConsumerMessage is one message taken from a consumer or a consumer
// group. Its fields are copies in Go memory, valid for as long as the Go
// program keeps them (those of one NextBatch share that memory: NextBatch
// says what keeping one keeps). Mark it done with TaskDone (its own, or
// its consumer's or group's).
type ConsumerMessage struct {
	Topic     string
	Partition int32
	// TimestampType says who set Timestamp, the time its record batch gives.
	TimestampType TimestampType
	Offset        int64
	Timestamp     time.Time
	// Key and Value are nil when null, empty when empty.
	Key, Value []byte
	// Headers are the record's headers in record order, nil when none; a
	// name repeated within the record is kept once, with its last value.
	Headers []Header

	// message is the library's message (a *C.yk_message, kept as an
	// integer that the garbage collector need not look at), for the done
	// calls; it lives in block's C batch, which is not filled again before
	// every message taken with it was marked done.
	message uintptr
	block   *messageBlock
	// done says whether and how the message was marked done (doneNot,
	// doneMarked, doneQueued; atomic).
	done uint32
	// index is the message's place in the slice its batch was copied
	// into (messagesOf); handed is set once its queue handed its mark
	// over (under the queue's lock).
	index  uint16
	handed bool
}

// Header returns the value of the header named key, and whether there is one.
func (m *ConsumerMessage) Header(key string) (value []byte, ok bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// TaskDone marks m processed on whichever consumer or consumer group
// handed it out (yk_task_done), as their own TaskDone does but at once,
// in a call into the library of its own (theirs queue the mark and hand
// the queue over in one call: Consumer.TaskDone); safe from any
// goroutine, also after the handle was closed (then ErrClosedHandle:
// nothing is marked). Marking a message twice does nothing the second
// time.
func (m *ConsumerMessage) TaskDone() error {
	return markOne(m, func(message C.uintptr_t) error { return resultError(C.yk_go_task_done(message)) })
}

// TaskDoneBatch marks every message of batch processed on whichever
// consumer or group handed it out, as ConsumerMessage.TaskDone does, in
// one call into the library. It stops at the first failure.
func TaskDoneBatch(batch []*ConsumerMessage) error {
	return markDone(batch, func(messages *C.uintptr_t, count C.size_t, marked *C.size_t) C.enum_yk_error {
		return C.yk_go_task_done_all(messages, count, marked)
	})
}

// markOne marks one message done with done, a call on the library's
// message, unless it was marked already; marked, it releases its block.
func markOne(m *ConsumerMessage, done func(message C.uintptr_t) error) error {
	if claimed, err := claimMark(m); !claimed {
		return err
	}
	if err := done(C.uintptr_t(m.message)); err != nil {
		atomic.StoreUint32(&m.done, doneNot)
		return err
	}
	m.block.release(1)
	return nil
}

// claimMark claims m for the caller to mark done: false when it was
// claimed before (also by another goroutine), or is a lent message, which
// its group marks; an error when m was not taken from a consumer.
func claimMark(m *ConsumerMessage) (bool, error) {
	if m == nil || m.block == nil {
		return false, &Error{Code: ErrInvalidArgument, Message: "TaskDone: the message was not taken from a consumer"}
	}
	return !m.block.lent && atomic.CompareAndSwapUint32(&m.done, doneNot, doneMarked), nil
}

// markDone marks messages done with done, a call over an array of the
// library's messages that stops at the first failure (its index in
// *marked). Messages marked already are skipped; those marked now release
// their blocks.
func markDone(messages []*ConsumerMessage,
	done func(messages *C.uintptr_t, count C.size_t, marked *C.size_t) C.enum_yk_error) error {
	for _, m := range messages {
		if m != nil && m.block == nil {
			return &Error{Code: ErrInvalidArgument, Message: "TaskDone: the message was not taken from a consumer"}
		}
	}
	// The messages this call marks: claimed (done 0 -> 1) here, so that a
	// message marked twice, also from two goroutines, counts once.
	claimed := make([]uint64, (len(messages)+63)/64)
	handles := make([]uintptr, 0, len(messages))
	for i, m := range messages {
		if m != nil && !m.block.lent && atomic.CompareAndSwapUint32(&m.done, doneNot, doneMarked) {
			claimed[i>>6] |= 1 << (i & 63)
			handles = append(handles, m.message)
		}
	}
	if len(handles) == 0 {
		return nil
	}
	var marked C.size_t
	err := call(func() C.enum_yk_error {
		return done((*C.uintptr_t)(unsafe.Pointer(&handles[0])), C.size_t(len(handles)), &marked)
	})
	releaseMarked(len(messages), claimed, int(marked), func(i int) *ConsumerMessage { return messages[i] })
	return err
}

// releaseMarked settles a call that marked done the messages claimed (bit
// i of claimed for message(i), i < count) and stopped after marked of
// them: those marked release their blocks, one atomic operation per run of
// messages of one block (one fill is one block); the others give their
// claims back.
func releaseMarked(count int, claimed []uint64, marked int, message func(int) *ConsumerMessage) {
	var runs blockRuns
	n := 0
	for i := 0; i < count; i++ {
		if claimed[i>>6]&(1<<(i&63)) == 0 {
			continue
		}
		m := message(i)
		if n >= marked {
			atomic.StoreUint32(&m.done, doneNot)
			continue
		}
		n++
		runs.add(m)
	}
	runs.end()
}

// blockRuns releases the blocks of messages marked done, one atomic
// operation per run of messages of one block.
type blockRuns struct {
	block *messageBlock
	run   int32
}

// add counts m, marked done, toward its block's release.
func (r *blockRuns) add(m *ConsumerMessage) {
	if m.block != r.block {
		r.end()
		r.block = m.block
	}
	r.run++
}

// end releases the run counted last.
func (r *blockRuns) end() {
	if r.run > 0 {
		r.block.release(r.run)
	}
	r.block, r.run = nil, 0
}

// messageBlock owns a library batch (yk_message_batch) whose messages
// stand behind ConsumerMessages. Once every message taken with it was
// marked done its pool fills it again; a block whose messages were not
// all marked is freed with its last message, by a finalizer (one per
// block, never one per message).
type messageBlock struct {
	// batch is the library's batch; nil for a block of one message taken
	// alone (Consumer.Next, GetMessage), single, freed once it is marked
	// done.
	batch    *C.yk_message_batch
	single   *C.yk_message
	capacity int
	// lent marks the block of the messages lent to a process callback
	// (lentBlock): their group marks them done when the callback returns,
	// and marking them here does nothing.
	lent bool
	// outstanding counts its messages not yet marked done (atomic).
	outstanding int32
	pool        *blockPool
	// marks is the queue of the handle that handed its messages out; nil
	// for a lent block.
	marks *markQueue
	// count is how many messages the last fill copied into Go;
	// handedUpTo is where its queue's next flush starts looking for
	// queued marks (under the queue's lock); queued is 1 while the block
	// is in its queue (atomic).
	count      int
	handedUpTo int
	queued     uint32
}

func freeBlock(b *messageBlock) {
	C.yk_message_batch_free(b.batch)
	C.yk_message_free(b.single)
}

// release records n of the block's messages marked done; the last one
// gives the block back to its pool, or frees a single message.
func (b *messageBlock) release(n int32) {
	if atomic.AddInt32(&b.outstanding, -n) != 0 {
		return
	}
	if b.batch == nil {
		runtime.SetFinalizer(b, nil)
		freeBlock(b)
		return
	}
	b.pool.put(b)
}

// takeOne takes one message with take (the library's get_message or next
// on a handle) and copies it into Go; the library's message is freed once
// it is marked done, or with the ConsumerMessage.
func takeOne(marks *markQueue, take func(out **C.yk_message) error) (*ConsumerMessage, error) {
	var message *C.yk_message
	if err := take(&message); err != nil {
		return nil, err
	}
	var view C.yk_message_view
	if err := call(func() C.enum_yk_error { return C.yk_message_get_view(message, &view) }); err != nil {
		C.yk_message_free(message)
		return nil, err
	}
	block := &messageBlock{single: message, capacity: 1, marks: marks}
	runtime.SetFinalizer(block, freeBlock)
	return copyViews(block, []C.yk_message_view{view})[0], nil
}

// blockPool keeps a handle's idle blocks, a few per capacity.
type blockPool struct {
	mu     sync.Mutex
	idle   map[int][]*messageBlock
	closed bool
	// marks is the handle's mark queue, its blocks'.
	marks *markQueue
}

const idleBlocksPerCapacity = 2

// get returns an idle block of capacity, or a new one.
func (p *blockPool) get(capacity int) (*messageBlock, error) {
	p.mu.Lock()
	if blocks := p.idle[capacity]; len(blocks) > 0 {
		b := blocks[len(blocks)-1]
		p.idle[capacity] = blocks[:len(blocks)-1]
		p.mu.Unlock()
		return b, nil
	}
	p.mu.Unlock()
	if capacity < 1 || capacity > maxBatch {
		return nil, &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("a batch of %d messages: the limit is 1 to %d", capacity, maxBatch)}
	}
	b := &messageBlock{capacity: capacity, pool: p, marks: p.marks}
	if err := call(func() C.enum_yk_error { return C.yk_message_batch_new(C.size_t(capacity), &b.batch) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(b, freeBlock)
	return b, nil
}

// put takes a block back: kept for the next batch unless enough are idle
// (or the handle was freed), then left to its finalizer.
func (p *blockPool) put(b *messageBlock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[b.capacity]) >= idleBlocksPerCapacity {
		return
	}
	if p.idle == nil {
		p.idle = map[int][]*messageBlock{}
	}
	p.idle[b.capacity] = append(p.idle[b.capacity], b)
}

// close drops the idle blocks (their finalizers free them) and keeps no
// more: the handle was freed.
func (p *blockPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.idle = nil
}

// maxBatch is the largest batch the library takes.
const maxBatch = 65536

// emptyBytes is the value of empty (not null) keys, values and headers.
var emptyBytes = []byte{}

// takeViews fills a block of capacity limit with take (the library's
// next_batch on a handle): one C call for the batch. The views point into
// the block's messages.
func takeViews(pool *blockPool, limit int,
	take func(batch *C.yk_message_batch, views **C.yk_message_view, count *C.size_t) error) (*messageBlock, []C.yk_message_view, error) {
	block, err := pool.get(limit)
	if err != nil {
		return nil, nil, err
	}
	var views *C.yk_message_view
	var count C.size_t
	if err := take(block.batch, &views, &count); err != nil {
		// The fill released what the block held: it is empty, and idle.
		pool.put(block)
		return nil, nil, err
	}
	return block, unsafe.Slice(views, int(count)), nil
}

// copyViews makes the ConsumerMessages of views, messages of block, in
// three allocations per batch whatever its size: the structs, the keys,
// values and header values back to back, and the headers. So the
// allocator, the zeroing and the collector are paid per batch rather than
// per message; the price is that a message kept keeps its batch's memory
// (NextBatch says so).
func copyViews(block *messageBlock, views []C.yk_message_view) []*ConsumerMessage {
	size, headerCount := viewSizes(views)
	messages := make([]ConsumerMessage, len(views))
	var topic string
	fillMessages(messages, block, views, make([]byte, size), headerCount, &topic)
	out := make([]*ConsumerMessage, len(views))
	for i := range messages {
		out[i] = &messages[i]
	}
	if !block.lent {
		block.count, block.handedUpTo = len(views), 0
		atomic.StoreInt32(&block.outstanding, int32(len(views)))
	}
	return out
}

// viewSizes is what the keys, values and header values of views take, in
// bytes, and how many headers they have.
func viewSizes(views []C.yk_message_view) (size, headerCount int) {
	for i := range views {
		v := &views[i]
		size += int(v.key_len) + int(v.value_len)
		if v.header_count > 0 {
			headerCount += int(v.header_count)
			for _, h := range unsafe.Slice(v.headers, int(v.header_count)) {
				size += int(h.value_len)
			}
		}
	}
	return size, headerCount
}

// fillMessages makes messages (as many as views) those of views, messages
// of block: their keys, values and header values copied into bytes (at
// least viewSizes' size), their headerCount headers in one allocation.
// topic is the name of the topic last seen, reused while it matches.
func fillMessages(messages []ConsumerMessage, block *messageBlock, views []C.yk_message_view,
	bytes []byte, headerCount int, topic *string) {
	free := bytes[:cap(bytes)]
	copyBytes := func(data unsafe.Pointer, n int) []byte {
		if n == 0 {
			return emptyBytes
		}
		out := free[:n:n]
		free = free[n:]
		copy(out, unsafe.Slice((*byte)(data), n))
		return out
	}
	var headers []Header
	if headerCount > 0 {
		headers = make([]Header, headerCount)
	}
	var lastTopic *C.char
	for i := range views {
		v := &views[i]
		if v.topic != lastTopic {
			lastTopic = v.topic
			if !cStringIs(v.topic, *topic) {
				*topic = C.GoString(v.topic)
			}
		}
		// Field by field: a struct literal is built aside and copied.
		m := &messages[i]
		m.Topic = *topic
		m.Partition = int32(v.partition)
		m.TimestampType = TimestampType(v.timestamp_type)
		m.Offset = int64(v.offset)
		m.Timestamp = time.UnixMilli(int64(v.timestamp))
		m.message = uintptr(unsafe.Pointer(v.message))
		m.block = block
		m.done = doneNot
		m.index, m.handed = uint16(i), false
		m.Key, m.Value, m.Headers = nil, nil, nil
		if v.key != nil {
			m.Key = copyBytes(unsafe.Pointer(v.key), int(v.key_len))
		}
		if v.value != nil {
			m.Value = copyBytes(unsafe.Pointer(v.value), int(v.value_len))
		}
		if v.header_count > 0 {
			n := int(v.header_count)
			m.Headers, headers = headers[:n:n], headers[n:]
			for j, h := range unsafe.Slice(v.headers, n) {
				m.Headers[j].Key = C.GoStringN(h.name, C.int(h.name_len))
				if h.value != nil {
					m.Headers[j].Value = copyBytes(unsafe.Pointer(h.value), int(h.value_len))
				}
			}
		}
	}
}

// cStringIs says whether the C string s is name.
func cStringIs(s *C.char, name string) bool {
	bytes := unsafe.Slice((*byte)(unsafe.Pointer(s)), len(name)+1)
	return string(bytes[:len(name)]) == name && bytes[len(name)] == 0
}

// lentBlock stands for the library's messages lent to a process callback.
var lentBlock = &messageBlock{lent: true}

// lentMessage copies a message lent to a process callback into Go; it
// keeps no pointer to the library's message, which lives for the call.
func lentMessage(message *C.yk_message) (*ConsumerMessage, error) {
	var view C.yk_message_view
	if err := call(func() C.enum_yk_error { return C.yk_message_get_view(message, &view) }); err != nil {
		return nil, err
	}
	m := copyViews(lentBlock, []C.yk_message_view{view})[0]
	m.message = 0
	return m, nil
}

// writeError writes text, NUL-terminated and cut to fit, to the size
// bytes at buffer (a process callback's error buffer, optional).
func writeError(buffer *C.char, size C.size_t, text string) {
	if buffer == nil || size == 0 {
		return
	}
	out := unsafe.Slice((*byte)(unsafe.Pointer(buffer)), int(size))
	n := copy(out[:len(out)-1], text)
	out[n] = 0
}
