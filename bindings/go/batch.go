package yelpkafka

// #include "callbacks.h"
import "C"

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// Batch is a reusable batch of messages for NextBatchInto (of a Consumer
// or a ConsumerGroup): each fill reuses its memory, so reading allocates
// nothing per message, and Done marks them all done in one call into the
// library. Its Messages, and their keys, values and headers, are valid
// until it is filled again: copy what outlives that (or use NextBatch,
// whose messages are the program's to keep). The zero Batch is ready to
// use; a Batch is for one goroutine at a time.
type Batch struct {
	// Messages are the batch's messages, in order.
	Messages []ConsumerMessage
	// arena holds their keys, values and header values.
	arena []byte
	// topic is the name of the topic last seen, reused while it matches.
	topic string
	// claimed and handles are Done's, kept between calls.
	claimed []uint64
	handles []uintptr
}

// reset empties b before a fill.
func (b *Batch) reset() {
	b.Messages = b.Messages[:0]
}

// fill makes b's messages those of views, messages of block, in b's
// memory.
func (b *Batch) fill(block *messageBlock, views []C.yk_message_view) {
	size := 0
	for i := range views {
		v := &views[i]
		size += int(v.key_len) + int(v.value_len)
		if v.header_count > 0 {
			for _, h := range unsafe.Slice(v.headers, int(v.header_count)) {
				size += int(h.value_len)
			}
		}
	}
	if cap(b.arena) < size {
		b.arena = make([]byte, size+size/4)
	}
	free := b.arena[:cap(b.arena)]
	bytes := func(data unsafe.Pointer, n int) []byte {
		if n == 0 {
			return emptyBytes
		}
		out := free[:n:n]
		free = free[n:]
		copy(out, unsafe.Slice((*byte)(data), n))
		return out
	}
	if cap(b.Messages) < len(views) {
		b.Messages = make([]ConsumerMessage, len(views))
	}
	b.Messages = b.Messages[:len(views)]
	var lastTopic *C.char
	for i := range views {
		v := &views[i]
		if v.topic != lastTopic {
			lastTopic = v.topic
			if !cStringIs(v.topic, b.topic) {
				b.topic = C.GoString(v.topic)
			}
		}
		// Field by field: a struct literal is built aside and copied.
		m := &b.Messages[i]
		m.Topic = b.topic
		m.Partition = int32(v.partition)
		m.TimestampType = TimestampType(v.timestamp_type)
		m.Offset = int64(v.offset)
		m.Timestamp = time.UnixMilli(int64(v.timestamp))
		m.message = uintptr(unsafe.Pointer(v.message))
		m.block = block
		m.done = 0
		m.Key, m.Value, m.Headers = nil, nil, nil
		if v.key != nil {
			m.Key = bytes(unsafe.Pointer(v.key), int(v.key_len))
		}
		if v.value != nil {
			m.Value = bytes(unsafe.Pointer(v.value), int(v.value_len))
		}
		if v.header_count > 0 {
			headers := unsafe.Slice(v.headers, int(v.header_count))
			m.Headers = make([]Header, len(headers))
			for j := range headers {
				h := &headers[j]
				m.Headers[j].Key = C.GoStringN(h.name, C.int(h.name_len))
				if h.value != nil {
					m.Headers[j].Value = bytes(unsafe.Pointer(h.value), int(h.value_len))
				}
			}
		}
	}
	atomic.StoreInt32(&block.outstanding, int32(len(views)))
}

// cStringIs says whether the C string s is name.
func cStringIs(s *C.char, name string) bool {
	bytes := unsafe.Slice((*byte)(unsafe.Pointer(s)), len(name)+1)
	return string(bytes[:len(name)]) == name && bytes[len(name)] == 0
}

// Done marks every message of the batch processed on the consumer or
// group that handed it out, in one call into the library, as
// ConsumerMessage.TaskDone does for each; messages marked already are
// skipped. It stops at the first failure.
func (b *Batch) Done() error {
	messages := b.Messages
	// The messages this call marks: claimed (done 0 -> 1) here, so that
	// one marked before, or at the same time, counts once.
	words := (len(messages) + 63) / 64
	if cap(b.claimed) < words {
		b.claimed = make([]uint64, words)
	}
	claimed := b.claimed[:words]
	for i := range claimed {
		claimed[i] = 0
	}
	handles := b.handles[:0]
	for i := range messages {
		m := &messages[i]
		if m.block != nil && atomic.CompareAndSwapUint32(&m.done, 0, 1) {
			claimed[i>>6] |= 1 << (i & 63)
			handles = append(handles, m.message)
		}
	}
	b.handles = handles
	if len(handles) == 0 {
		return nil
	}
	var marked C.size_t
	err := call(func() C.enum_yk_error {
		return C.yk_go_task_done_all((*C.uintptr_t)(unsafe.Pointer(&handles[0])), C.size_t(len(handles)), &marked)
	})
	releaseMarked(len(messages), claimed, int(marked), func(i int) *ConsumerMessage { return &messages[i] })
	return err
}
