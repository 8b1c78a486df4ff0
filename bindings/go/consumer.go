package yelpkafka

// #include <stdlib.h>
// #include "callbacks.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"
)

// Consumer reads partitions without balancing them with other members:
// Python yelp_kafka's KafkaSimpleConsumer (NewSimpleConsumer: some or all
// partitions of one topic) and the consumer of the topics a regex found
// (NewConsumer: every partition of several topics), with the offsets of
// the configuration's group. Connect, then Next (or NextBatch, Messages,
// GetMessage) and TaskDone for each message; Close (an io.Closer) stops
// fetching and, with auto_commit_enable, commits. Usable from several
// goroutines: messages go to whichever asks. The configuration's
// PreRebalance and PostRebalance are not used: nothing rebalances.
type Consumer struct {
	handle     *C.yk_consumer
	guard      handleGuard
	interrupts interrupter
	blocks     blockPool
	panics     panicBox
	marks      *markQueue
}

// NewSimpleConsumer creates the simple consumer of partitions of topic
// (nil: every partition), Python yelp_kafka's KafkaSimpleConsumer(topic,
// config, partitions). config's options are a consumer group's
// (ConsumerConfig.Options). Nothing connects before Connect.
func NewSimpleConsumer(config ConsumerConfig, topic string, partitions []int32) (*Consumer, error) {
	cconfig, err := newPlainConsumerConfig(config)
	if err != nil {
		return nil, err
	}
	defer C.yk_consumer_config_free(cconfig)
	ctopic := C.CString(topic)
	defer C.free(unsafe.Pointer(ctopic))
	var first *C.int32_t
	if len(partitions) > 0 {
		first = (*C.int32_t)(unsafe.Pointer(&partitions[0]))
	}
	return newConsumer(func(out **C.yk_consumer) C.enum_yk_error {
		return C.yk_consumer_new_simple(cconfig, ctopic, first, C.size_t(len(partitions)), out)
	})
}

// NewConsumer creates the consumer of every partition of topics (at
// least one), reading with config's group offsets and no balancing.
// Nothing connects before Connect.
func NewConsumer(config ConsumerConfig, topics []string) (*Consumer, error) {
	cconfig, err := newPlainConsumerConfig(config)
	if err != nil {
		return nil, err
	}
	defer C.yk_consumer_config_free(cconfig)
	ctopics, free := cStrings(topics)
	defer free()
	return newConsumer(func(out **C.yk_consumer) C.enum_yk_error {
		return C.yk_consumer_new(cconfig, ctopics, C.size_t(len(topics)), out)
	})
}

// WorkerConsumer is, in a worker program that a process-mode
// MultiprocessingGroup started (NewProcessGroup), the simple consumer of
// the worker's partition, with the group's configuration and offsets
// (yk_multiprocessing_worker_consumer). Connect it, read, mark messages
// done and Close it; the group stops the worker with SIGTERM. Outside such
// a worker it fails with ErrConfiguration.
func WorkerConsumer() (*Consumer, error) {
	return newConsumer(func(out **C.yk_consumer) C.enum_yk_error {
		return C.yk_multiprocessing_worker_consumer(out)
	})
}

func newConsumer(create func(out **C.yk_consumer) C.enum_yk_error) (*Consumer, error) {
	var handle *C.yk_consumer
	if err := call(func() C.enum_yk_error { return create(&handle) }); err != nil {
		return nil, err
	}
	c := &Consumer{handle: handle}
	c.guard = handleGuard{what: "consumer", panics: &c.panics, free: func() {
		C.yk_consumer_free(handle)
		c.blocks.close()
	}}
	c.marks = newMarkQueue(&c.guard, func(messages *C.uintptr_t, count C.size_t, marked *C.size_t) C.enum_yk_error {
		return C.yk_go_consumer_task_done_all(handle, messages, count, marked)
	})
	c.blocks.marks = c.marks
	c.interrupts.wake = func() {
		if c.guard.hold() {
			C.yk_consumer_wakeup(handle)
			c.guard.release()
		}
	}
	return c, nil
}

// cStrings copies strings into C memory for one call: a Go slice of C
// pointers (no Go pointer reaches C), NULL when empty.
func cStrings(strings []string) (first **C.char, free func()) {
	cs := make([]*C.char, len(strings))
	for i, s := range strings {
		cs[i] = C.CString(s)
	}
	if len(cs) > 0 {
		first = &cs[0]
	}
	return first, func() {
		for _, s := range cs {
			C.free(unsafe.Pointer(s))
		}
	}
}

// Connect looks the partitions up (an unknown topic is ErrUnknownTopic,
// an unknown partition ErrUnknownPartitions), starts each at the group's
// committed offset (else per auto_offset_reset) and starts fetching. Once
// only (ErrWrongState after that).
func (c *Consumer) Connect() error {
	if err := c.guard.enter(); err != nil {
		return err
	}
	defer c.guard.leave()
	return call(func() C.enum_yk_error { return C.yk_consumer_connect(c.handle) })
}

// ConnectContext is Connect, returning ctx's error as soon as ctx ends.
// A connect cannot be ended once it started (it waits for the brokers
// within connect_timeout_ms and metadata_timeout_ms): when ctx ends first
// the consumer is closed, so that the connect left in the background
// leaves nothing fetching, and the consumer can only be Closed. With ctx
// ended before the call nothing connects.
func (c *Consumer) ConnectContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := detached(ctx, &c.panics, func() (struct{}, error) { return struct{}{}, c.Connect() })
	if err != nil && err == ctx.Err() && c.guard.hold() {
		// In the background too: the library's close may wait for the
		// connect.
		go func() {
			defer c.guard.release()
			C.yk_consumer_close(c.handle)
		}()
	}
	return err
}

// Next takes the next message, waiting up to consumer_timeout_ms
// (negative: no limit) for one: ErrConsumerTimeout when none came (Python
// yelp_kafka's iteration).
func (c *Consumer) Next() (*ConsumerMessage, error) {
	m, err, _ := c.takeOne(context.Background(), func(out **C.yk_message) C.enum_yk_error {
		return C.yk_consumer_next(c.handle, out)
	})
	return m, err
}

// GetMessage takes the next message: one fetched already, or, with block,
// the first to arrive within timeout (negative: no limit, until Close from
// another goroutine). None is ErrConsumerTimeout. An error a fetch met
// (other than leader moves and lost brokers, which are retried) comes
// back once, in its place among the messages.
func (c *Consumer) GetMessage(block bool, timeout time.Duration) (*ConsumerMessage, error) {
	deadline := time.Now().Add(timeout)
	m, err, _ := c.takeOne(context.Background(), func(out **C.yk_message) C.enum_yk_error {
		return C.yk_consumer_get_message(c.handle, C.bool(block), remaining(timeout, deadline), out)
	})
	return m, err
}

func (c *Consumer) takeOne(ctx context.Context, take func(out **C.yk_message) C.enum_yk_error) (m *ConsumerMessage, err error, ended error) {
	if err := c.guard.enter(); err != nil {
		return nil, err, nil
	}
	defer c.guard.leave()
	c.marks.flushKeeping()
	err, ended = c.interrupts.run(ctx, func() error {
		m, err = takeOne(c.marks, func(out **C.yk_message) error { return call(func() C.enum_yk_error { return take(out) }) })
		return err
	})
	if err != nil || ended != nil {
		return nil, err, ended
	}
	return m, nil, nil
}

// NextContext waits for the next message until ctx ends, whatever
// consumer_timeout_ms is: the consumer's wakeup ends the wait as soon as
// ctx ends, and the error is then ctx's.
func (c *Consumer) NextContext(ctx context.Context) (*ConsumerMessage, error) {
	batch, err := c.NextBatch(ctx, 1)
	if err != nil {
		return nil, err
	}
	return batch[0], nil
}

// NextBatch takes up to limit messages (1 to 65536) in one call into the
// library (yk_consumer_next_batch): the first as soon as there is one,
// waiting until ctx ends, then those fetched already, without waiting. It
// returns at least one message, or none and an error: ctx's as soon as ctx
// ends, or the library's. The messages' fields are copied into Go memory
// shared by the batch: its structs in one allocation, its keys, values and
// header values in another. So a message (or a key or value) the program
// keeps keeps its whole batch's memory alive (about 150 bytes per message
// of the batch, plus their bytes): copy from a large batch what the
// program keeps long. TaskDoneBatch marks them all done in one call.
func (c *Consumer) NextBatch(ctx context.Context, limit int) ([]*ConsumerMessage, error) {
	var batch []*ConsumerMessage
	err := c.nextUntil(ctx, limit, func(block *messageBlock, views []C.yk_message_view) {
		batch = copyViews(block, views)
	})
	if err != nil {
		return nil, err
	}
	return batch, nil
}

// NextBatchInto is NextBatch into b, whose memory it reuses: no
// allocation per message, the way to read at the C API's cost per message
// (BENCHMARKS.md). b's previous messages, and their keys, values and
// headers, are overwritten: mark them done (b.Done) and copy what you keep
// before. On failure b holds no message.
func (c *Consumer) NextBatchInto(ctx context.Context, b *Batch, limit int) error {
	b.reset()
	return c.nextUntil(ctx, limit, b.fill)
}

// nextUntil is takeBatch until a batch comes or ctx ends.
func (c *Consumer) nextUntil(ctx context.Context, limit int, fill func(*messageBlock, []C.yk_message_view)) error {
	if limit < 1 || limit > maxBatch {
		return &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("NextBatch: limit %d is not 1 to %d", limit, maxBatch)}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for {
		timeout := time.Duration(-1)
		if left, ok := contextTimeout(ctx); ok {
			timeout = left
		}
		err, ended := c.takeBatch(ctx, limit, timeout, fill)
		if ended != nil {
			return ended
		}
		if errors.Is(err, ErrConsumerTimeout) {
			if ended := contextEnded(ctx); ended != nil {
				return ended
			}
			continue
		}
		return err
	}
}

// takeBatch is yk_consumer_next_batch waiting up to timeout (negative: no
// limit), ended by ctx; fill copies the batch into Go.
func (c *Consumer) takeBatch(ctx context.Context, limit int, timeout time.Duration,
	fill func(*messageBlock, []C.yk_message_view)) (err error, ended error) {
	if err := c.guard.enter(); err != nil {
		return err, nil
	}
	defer c.guard.leave()
	c.marks.flushKeeping()
	deadline := time.Now().Add(timeout)
	return c.interrupts.run(ctx, func() error {
		block, views, err := takeViews(&c.blocks, limit, func(b *C.yk_message_batch, views **C.yk_message_view, count *C.size_t) error {
			return call(func() C.enum_yk_error {
				return C.yk_consumer_next_batch(c.handle, remaining(timeout, deadline), b, views, count)
			})
		})
		if err == nil {
			fill(block, views)
		}
		return err
	})
}

// Messages hands out the consumer's messages on a channel, as
// ConsumerGroup.Messages does: a goroutine takes them in batches until ctx
// ends or a call fails; wait says why.
func (c *Consumer) Messages(ctx context.Context) (messages <-chan *ConsumerMessage, wait func() error) {
	return streamMessages(ctx, c.NextBatch)
}

// TaskDone marks m (from this consumer) processed; messages may be marked
// in any order, and a commit never passes one that was not. It counts
// toward auto_commit_interval_messages once it reaches the library
// (below). A message of a partition the consumer no longer reads is
// ignored; marking one twice does nothing; a message another consumer
// handed out is marked at once, in a call of its own.
//
// The mark is queued in Go and reaches the library, with the others
// queued, in one call: within 10 ms, or as soon as this consumer's next
// Next, NextBatch, NextBatchInto, GetMessage, Commit, CommitPartitions,
// CommitMessage or Close starts, whichever comes first. So a commit (also
// Close's) always includes the marks made before it was called, and an
// automatic commit those made 10 ms before it. A failure to hand marks
// over (their messages can then be marked again) is returned by the call
// that flushed them, or, after a flush by time or by a read, by the next
// TaskDone, Commit or Close.
func (c *Consumer) TaskDone(m *ConsumerMessage) error {
	return c.marks.add(m)
}

// TaskDoneBatch marks every message of batch processed, as TaskDone does,
// in one call into the library. It stops at the first failure.
func (c *Consumer) TaskDoneBatch(batch []*ConsumerMessage) error {
	if err := c.guard.enter(); err != nil {
		return err
	}
	defer c.guard.leave()
	return markDone(batch, func(messages *C.uintptr_t, count C.size_t, marked *C.size_t) C.enum_yk_error {
		return C.yk_go_consumer_task_done_all(c.handle, messages, count, marked)
	})
}

// Commit commits, for every partition, the offset of its first message
// not marked done (or the offset after the last one delivered) and waits
// for the offset storage: ErrOffsetCommit with the broker's Kafka code when
// it refuses.
func (c *Consumer) Commit() error {
	return c.CommitContext(context.Background())
}

// CommitContext is Commit, returning ctx's error as soon as ctx ends: the
// consumer's wakeup ends the wait for the storage's answer within a few
// milliseconds, and nothing of the call goes on in the background. The
// commit may still have landed; the offsets count as uncommitted and the
// next commit stores them again (docs/c-abi.md, "Wakeups"). With ctx
// ended before the call nothing is committed.
func (c *Consumer) CommitContext(ctx context.Context) error {
	if err := c.guard.enter(); err != nil {
		return err
	}
	defer c.guard.leave()
	if err := c.marks.flush(); err != nil {
		return err
	}
	err, ended := c.interrupts.run(ctx, func() error {
		return call(func() C.enum_yk_error { return C.yk_consumer_commit(c.handle) })
	})
	if ended != nil {
		return ended
	}
	return err
}

// CommitPartitions is Commit for partitions only (none: nothing);
// partitions the consumer does not read are ignored.
func (c *Consumer) CommitPartitions(partitions []TopicPartition) error {
	if err := c.guard.enter(); err != nil {
		return err
	}
	defer c.guard.leave()
	if err := c.marks.flush(); err != nil {
		return err
	}
	list, free := cTopicPartitions(partitions)
	defer free()
	return call(func() C.enum_yk_error {
		return C.yk_consumer_commit_partitions(c.handle, list, C.size_t(len(partitions)))
	})
}

// CommitMessage marks every message of m's partition up to m processed
// and commits that partition (Python yelp_kafka's commit_message); m
// counts as marked done. A message of a partition the consumer no longer
// reads is ErrWrongState.
func (c *Consumer) CommitMessage(m *ConsumerMessage) error {
	if err := c.guard.enter(); err != nil {
		return err
	}
	defer c.guard.leave()
	if err := c.marks.flush(); err != nil {
		return err
	}
	if m != nil && atomic.LoadUint32(&m.done) != 0 {
		// Marked already: its library message may be gone; commit its
		// partition up to it.
		return c.CommitPartitions([]TopicPartition{{Topic: m.Topic, Partition: m.Partition}})
	}
	return markOne(m, func(message C.uintptr_t) error {
		return call(func() C.enum_yk_error { return C.yk_go_consumer_commit_message(c.handle, message) })
	})
}

// ReadyFD is a file descriptor for event loops: readable while fetched
// messages (or a fetch error) wait to be taken, and once the consumer is
// closed. Drain it with GetMessage(false, 0) or NextBatch until
// ErrConsumerTimeout; never read or close it. It stays valid until the
// consumer is released (-1 after that).
func (c *Consumer) ReadyFD() int {
	if c.guard.enter() != nil {
		return -1
	}
	defer c.guard.leave()
	return int(C.yk_consumer_ready_fd(c.handle))
}

// Close stops fetching and, with auto_commit_enable, commits (waiting up
// to request_timeout_ms for the storage); a goroutine waiting for a
// message gets ErrClosedHandle, as do later calls. Messages taken before
// stay valid. The consumer is released once no call uses it.
func (c *Consumer) Close() error {
	if err := c.guard.enter(); err != nil {
		return err
	}
	defer c.guard.leave()
	flushed := c.marks.close()
	err := call(func() C.enum_yk_error { return C.yk_consumer_close(c.handle) })
	c.guard.close()
	if err == nil {
		err = flushed
	}
	return err
}

// cTopicPartitions copies partitions into C memory for one call.
func cTopicPartitions(partitions []TopicPartition) (*C.yk_topic_partition, func()) {
	if len(partitions) == 0 {
		return nil, func() {}
	}
	list := (*C.yk_topic_partition)(C.calloc(C.size_t(len(partitions)), C.size_t(unsafe.Sizeof(C.yk_topic_partition{}))))
	entries := unsafe.Slice(list, len(partitions))
	for i, p := range partitions {
		entries[i] = C.yk_topic_partition{topic: C.CString(p.Topic), partition: C.int32_t(p.Partition)}
	}
	return list, func() {
		for _, e := range entries {
			C.free(unsafe.Pointer(e.topic))
		}
		C.free(unsafe.Pointer(list))
	}
}

// streamMessages is Messages over next: a goroutine takes batches until
// ctx ends or a call fails, then closes the channel.
func streamMessages(ctx context.Context,
	next func(context.Context, int) ([]*ConsumerMessage, error)) (<-chan *ConsumerMessage, func() error) {
	out := make(chan *ConsumerMessage)
	done := make(chan struct{})
	var result error
	go func() {
		defer close(done)
		defer close(out)
		for {
			batch, err := next(ctx, streamBatch)
			if err != nil {
				result = err
				return
			}
			for _, m := range batch {
				select {
				case out <- m:
				case <-ctx.Done():
					result = ctx.Err()
					return
				}
			}
		}
	}()
	return out, func() error {
		<-done
		return result
	}
}

// streamBatch is the batch Messages takes at a time.
const streamBatch = 256
