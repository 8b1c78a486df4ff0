package yelpkafka

// #include "callbacks.h"
import "C"

import (
	"sync/atomic"
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
	size, headerCount := viewSizes(views)
	if cap(b.arena) < size {
		b.arena = make([]byte, size+size/4)
	}
	if cap(b.Messages) < len(views) {
		b.Messages = make([]ConsumerMessage, len(views))
	}
	b.Messages = b.Messages[:len(views)]
	fillMessages(b.Messages, block, views, b.arena, headerCount, &b.topic)
	block.count, block.handedUpTo = len(views), 0
	atomic.StoreInt32(&block.outstanding, int32(len(views)))
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
		if m.block != nil && atomic.CompareAndSwapUint32(&m.done, doneNot, doneMarked) {
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
