package yelpkafka

// #include <stdlib.h>
// #include "callbacks.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime/cgo"
	"time"
	"unsafe"
)

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ConsumerConfig is Python yelp_kafka's KafkaConsumerConfig(group_id, cluster,
// **options) (docs/configuration.md).
type ConsumerConfig struct {
	GroupID string
	Cluster ClusterConfig
	// Options take the Python library's option names: auto_offset_reset
	// (smallest | largest, or librdkafka's earliest | latest),
	// auto_commit_enable, auto_commit_interval_ms,
	// auto_commit_interval_messages, consumer_timeout_ms (negative: wait
	// forever), fetch_min_bytes, fetch_wait_max_ms, fetch_message_max_bytes,
	// fetch_max_bytes, queued_max_messages_kbytes, client_id,
	// partitioner_cooldown (seconds), use_group_sha,
	// max_termination_timeout_secs, offset_storage (kafka | zookeeper |
	// dual), metrics_dimensions, and the client options. An unknown key or a
	// bad value is ErrConfiguration naming the key. ConsumerOptions builds
	// them from Go types.
	Options Options
	// PreRebalance runs before partitions are given up (their offsets are
	// committed next), PostRebalance after new ones are acquired; no message
	// is delivered between the two. Either may be nil. They run on the
	// goroutine whose call meets the rebalance (Start, Next, Stop) and must
	// not call back into the group (ErrReentrant).
	PreRebalance  func(partitions []TopicPartition)
	PostRebalance func(partitions []TopicPartition)
}

// ConsumerGroup is Python yelp_kafka's KafkaConsumerGroup (docs/consumer-groups.md): members of
// one group, in any processes or hosts (Python members included), share
// the partitions of the topics through ZooKeeper. Start, then Next (or
// Messages, or NextBatch) and TaskDone for each message; Stop (or Close, an
// io.Closer) to leave the group, which commits with auto-commit and
// releases the group. Usable from several goroutines.
// After ErrPartitioner (the ZooKeeper session was lost) nothing more is
// delivered: Stop the group and create a new one (Python yelp_kafka's outer loop).
type ConsumerGroup struct {
	handle     *C.yk_consumer_group
	guard      handleGuard
	interrupts interrupter
	blocks     blockPool
	marks      *markQueue
	*groupState
}

// groupState is what the rebalance callbacks reach through a cgo handle.
type groupState struct {
	panics    panicBox
	pre, post func([]TopicPartition)
}

// NewConsumerGroup creates a member of config's group for topics. metrics
// (nil: none) receives yelp_kafka.KafkaConsumerGroup.* with dimensions
// group_id, cluster_name, cluster_type and the configured ones. Nothing
// connects before Start.
func NewConsumerGroup(topics []string, config ConsumerConfig, metrics MetricsResponder) (*ConsumerGroup, error) {
	state := &groupState{pre: config.PreRebalance, post: config.PostRebalance}
	defer state.panics.rethrow() // a panic of the responder while asked for emitters
	stateHandle := cgo.NewHandle(state)
	cconfig, err := newConsumerConfig(config, stateHandle)
	if err != nil {
		stateHandle.Delete()
		return nil, err
	}
	defer C.yk_consumer_config_free(cconfig)

	ctopics := make([]*C.char, len(topics))
	for i, t := range topics {
		ctopics[i] = C.CString(t)
		defer C.free(unsafe.Pointer(ctopics[i]))
	}
	var first **C.char
	if len(ctopics) > 0 {
		// A Go slice of C pointers: no Go pointer reaches C.
		first = &ctopics[0]
	}
	responder, _, releaseResponder := newMetricsResponder(metrics, &state.panics)
	var handle *C.yk_consumer_group
	if err := call(func() C.enum_yk_error {
		return C.yk_consumer_group_new(first, C.size_t(len(ctopics)), cconfig, responder, &handle)
	}); err != nil {
		stateHandle.Delete()
		releaseResponder()
		return nil, err
	}
	g := &ConsumerGroup{handle: handle, groupState: state}
	g.guard = handleGuard{what: "consumer group", panics: &state.panics, free: func() {
		C.yk_consumer_group_free(handle)
		stateHandle.Delete()
		releaseResponder()
		g.blocks.close()
	}}
	g.marks = newMarkQueue(&g.guard, func(messages *C.uintptr_t, count C.size_t, marked *C.size_t) C.enum_yk_error {
		return C.yk_go_group_task_done_all(handle, messages, count, marked)
	})
	g.blocks.marks = g.marks
	g.interrupts.wake = func() {
		if g.guard.hold() {
			C.yk_consumer_group_wakeup(handle)
			g.guard.release()
		}
	}
	return g, nil
}

// newConsumerConfig builds the C configuration, rebalance callbacks included.
func newConsumerConfig(config ConsumerConfig, state cgo.Handle) (*C.yk_consumer_config, error) {
	cconfig, err := newPlainConsumerConfig(config)
	if err != nil {
		return nil, err
	}
	if err := call(func() C.enum_yk_error { return C.yk_go_set_rebalance_callbacks(cconfig, C.uintptr_t(state)) }); err != nil {
		C.yk_consumer_config_free(cconfig)
		return nil, err
	}
	return cconfig, nil
}

// newPlainConsumerConfig builds the C configuration of config's group id,
// cluster and options; free it with yk_consumer_config_free.
func newPlainConsumerConfig(config ConsumerConfig) (*C.yk_consumer_config, error) {
	cluster, err := config.Cluster.newHandle()
	if err != nil {
		return nil, err
	}
	defer C.yk_cluster_config_free(cluster)
	cgroup := C.CString(config.GroupID)
	defer C.free(unsafe.Pointer(cgroup))
	var cconfig *C.yk_consumer_config
	if err := call(func() C.enum_yk_error { return C.yk_consumer_config_new(cgroup, cluster, &cconfig) }); err != nil {
		return nil, err
	}
	for key, value := range config.Options {
		ckey, cvalue := C.CString(key), C.CString(value)
		err = call(func() C.enum_yk_error { return C.yk_consumer_config_set(cconfig, ckey, cvalue) })
		C.free(unsafe.Pointer(ckey))
		C.free(unsafe.Pointer(cvalue))
		if err != nil {
			C.yk_consumer_config_free(cconfig)
			return nil, err
		}
	}
	return cconfig, nil
}

// Start connects, joins the group and waits up to timeout (negative: no
// limit) for the first allocation, which comes no sooner than
// partitioner_cooldown and runs PostRebalance here. ErrTimedOut means
// still allocating: the group is started, Next goes on, and Start again
// (or WaitAssignment) waits again. Other errors (ErrPartitioner when
// ZooKeeper cannot be reached or the topics have no partitions,
// ErrKafkaUnavailable, ...) leave the group stopped: Stop it and create a
// new one.
func (g *ConsumerGroup) Start(timeout time.Duration) error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	return call(func() C.enum_yk_error { return C.yk_consumer_group_start(g.handle, milliseconds(timeout)) })
}

// StartContext joins the group, then waits for the first allocation as
// WaitAssignment(ctx) does: until ctx ends, whatever its deadline, with a
// cancellation noticed within 50 ms. When ctx ends first the error matches
// both ErrTimedOut and ctx's error (errors.Is), and as with Start the
// group is started: Next goes on, and WaitAssignment waits again. Joining
// (connecting to ZooKeeper and Kafka) is bounded by the connect timeouts,
// not by ctx. A context ended before the call returns its error without
// starting.
func (g *ConsumerGroup) StartContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := g.Start(0); !errors.Is(err, ErrTimedOut) {
		return err
	}
	return g.WaitAssignment(ctx)
}

// WaitAssignment waits until the started group holds its allocation and
// may deliver messages, or until ctx ends (yk_consumer_group_wait_assignment
// in slices of at most 50 ms): at once when it holds its partitions
// already. Rebalances and their callbacks run here, as in Next. When ctx
// ends first the error matches both ErrTimedOut and ctx's error; the group
// goes on allocating. ErrWrongState before Start, ErrClosedHandle after
// Stop, ErrPartitioner when the ZooKeeper session was lost.
func (g *ConsumerGroup) WaitAssignment(ctx context.Context) error {
	for {
		if ended := contextEnded(ctx); ended != nil {
			return endedByContext(&Error{Code: ErrTimedOut,
				Message: "WaitAssignment: no allocation before the context ended; the group goes on allocating in Next"}, ended)
		}
		slice := contextSlice
		if remaining, ok := contextTimeout(ctx); ok && remaining < slice {
			slice = remaining
		}
		if err := g.waitAssignment(slice); !errors.Is(err, ErrTimedOut) {
			return err
		}
	}
}

func (g *ConsumerGroup) waitAssignment(timeout time.Duration) error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	return call(func() C.enum_yk_error {
		return C.yk_consumer_group_wait_assignment(g.handle, milliseconds(timeout))
	})
}

// Next takes the next message of the partitions this member holds, or
// fails with ErrConsumerTimeout after consumer_timeout_ms (Python yelp_kafka's
// next()). Rebalances run inside it.
func (g *ConsumerGroup) Next() (*ConsumerMessage, error) {
	var batch []*ConsumerMessage
	err, _ := g.nextBatch(context.Background(), 1, func(block *messageBlock, views []C.yk_message_view) {
		batch = copyViews(block, views)
	})
	if err != nil {
		return nil, err
	}
	return batch[0], nil
}

// nextBatch is yk_consumer_group_next_batch into a block of up to limit
// messages, which fill copies into Go, ended by ctx (ended is then ctx's
// error).
func (g *ConsumerGroup) nextBatch(ctx context.Context, limit int,
	fill func(*messageBlock, []C.yk_message_view)) (err error, ended error) {
	if err := g.guard.enter(); err != nil {
		return err, nil
	}
	defer g.guard.leave()
	g.marks.flushKeeping()
	return g.interrupts.run(ctx, func() error {
		block, views, err := takeViews(&g.blocks, limit, func(b *C.yk_message_batch, views **C.yk_message_view, count *C.size_t) error {
			return call(func() C.enum_yk_error {
				return C.yk_consumer_group_next_batch(g.handle, b, views, count)
			})
		})
		if err == nil {
			fill(block, views)
		}
		return err
	})
}

// NextContext waits for the next message until ctx ends, going on through
// consumer timeouts. It fails with ctx's error as soon as ctx ends,
// whatever consumer_timeout_ms is (-1 included): the group's wakeup ends
// the wait at once (within 100 ms while the group is still allocating).
// Other failures are the library's.
func (g *ConsumerGroup) NextContext(ctx context.Context) (*ConsumerMessage, error) {
	batch, err := g.NextBatch(ctx, 1)
	if err != nil {
		return nil, err
	}
	return batch[0], nil
}

// NextBatch takes up to limit messages (1 to 65536) in one call into the
// library (yk_consumer_group_next_batch): it waits for the first as
// NextContext does, until ctx ends, then adds those fetched already,
// without waiting. It returns at least one message, or none and an error:
// ctx's as soon as ctx ends, or the library's. The messages' fields are
// copied into Go memory shared by the batch: its structs in one
// allocation, its keys, values and header values in another. So a message
// (or a key or value) the program keeps keeps its whole batch's memory
// alive (about 150 bytes per message of the batch, plus their bytes): copy
// from a large batch what the program keeps long. TaskDoneBatch marks them
// all done in one call.
func (g *ConsumerGroup) NextBatch(ctx context.Context, limit int) ([]*ConsumerMessage, error) {
	var batch []*ConsumerMessage
	err := g.nextUntil(ctx, limit, func(block *messageBlock, views []C.yk_message_view) {
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
func (g *ConsumerGroup) NextBatchInto(ctx context.Context, b *Batch, limit int) error {
	b.reset()
	return g.nextUntil(ctx, limit, b.fill)
}

// nextUntil is nextBatch until a batch comes or ctx ends, going on
// through consumer timeouts.
func (g *ConsumerGroup) nextUntil(ctx context.Context, limit int, fill func(*messageBlock, []C.yk_message_view)) error {
	if limit < 1 || limit > maxBatch {
		return &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("NextBatch: limit %d is not 1 to %d", limit, maxBatch)}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err, ended := g.nextBatch(ctx, limit, fill)
		if ended != nil {
			return ended
		}
		if !errors.Is(err, ErrConsumerTimeout) {
			return err
		}
	}
}

// Messages hands out the group's messages on a channel: a goroutine takes
// them in batches (NextBatch(ctx, ...)) until ctx is done or a call fails,
// then closes the channel. wait blocks until that goroutine has ended and
// says why: ctx's error, or the library's (ErrClosedHandle after Stop,
// ErrPartitioner, ...). The goroutine notices ctx at once, even while it
// waits for a message. Cancel ctx and call wait before Stop, so that no
// call is running when the group stops. Messages taken and not sent when
// ctx ends were never marked done, so no commit passes them and they are
// delivered again after the next rebalance or restart.
func (g *ConsumerGroup) Messages(ctx context.Context) (messages <-chan *ConsumerMessage, wait func() error) {
	return streamMessages(ctx, g.NextBatch)
}

// TaskDone marks m processed, in any order: a commit never passes a
// message not marked. It counts toward auto_commit_interval_messages
// once it reaches the library (below); a message of a partition given up
// since is ignored. Marking a message twice does nothing the second time;
// a message another handle handed out is marked at once, in a call of its
// own.
//
// The mark is queued in Go and reaches the library, with the others
// queued, in one call: within 10 ms, or as soon as this group's next
// Next, NextContext, NextBatch, NextBatchInto, Commit or Stop (Close)
// starts, whichever comes first. So a commit (also Stop's, and the one
// before a rebalance that Next runs) always includes the marks made
// before that call, and an automatic commit those made 10 ms before it. A
// failure to hand marks over (their messages can then be marked again) is
// returned by the call that flushed them, or, after a flush by time or by
// a read, by the next TaskDone, Commit or Stop. Called from a rebalance
// callback it queues the mark too (the library refuses a mark from
// there: ErrReentrant), so the commit of that rebalance may not include
// it; a Commit or Stop from a callback keeps the queue for later.
func (g *ConsumerGroup) TaskDone(m *ConsumerMessage) error {
	return g.marks.add(m)
}

// TaskDoneBatch marks every message of batch processed, as TaskDone does,
// in one call into the library. It stops at the first failure.
func (g *ConsumerGroup) TaskDoneBatch(batch []*ConsumerMessage) error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	return markDone(batch, func(messages *C.uintptr_t, count C.size_t, marked *C.size_t) C.enum_yk_error {
		return C.yk_go_group_task_done_all(g.handle, messages, count, marked)
	})
}

// Commit commits the processed offsets of the partitions held now and waits
// for the offset storage: ErrOffsetCommit when it refuses.
func (g *ConsumerGroup) Commit() error {
	return g.CommitContext(context.Background())
}

// CommitContext is Commit, returning ctx's error as soon as ctx ends: the
// group's wakeup ends the wait for the storage's answer within a few
// milliseconds, and nothing of the call goes on in the background. The
// commit may still have landed; the offsets count as uncommitted and the
// next commit stores them again (docs/c-abi.md, "Wakeups"). With ctx
// ended before the call nothing is committed.
func (g *ConsumerGroup) CommitContext(ctx context.Context) error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	if err := g.marks.flush(); err != nil {
		return err
	}
	err, ended := g.interrupts.run(ctx, func() error {
		return call(func() C.enum_yk_error { return C.yk_consumer_group_commit(g.handle) })
	})
	if ended != nil {
		return ended
	}
	return err
}

// ReadyFD is a file descriptor for event loops, readable while fetched
// messages wait to be taken (yk_consumer_group_ready_fd; drain it with
// NextBatch until a consumer timeout). A group rebalances only inside its
// calls: an event loop also calls NextBatch every few hundred
// milliseconds while it stays quiet. Never read or close it; -1 once the
// group was released.
func (g *ConsumerGroup) ReadyFD() int {
	if g.guard.enter() != nil {
		return -1
	}
	defer g.guard.leave()
	return int(C.yk_consumer_group_ready_fd(g.handle))
}

// Dump is the effective configuration of config: the group id, the
// cluster, one "key = value" line per option (defaults marked
// "(default)") and whether rebalance callbacks are set.
func (config ConsumerConfig) Dump() (string, error) {
	cconfig, err := newPlainConsumerConfig(config)
	if err != nil {
		return "", err
	}
	defer C.yk_consumer_config_free(cconfig)
	if config.PreRebalance != nil || config.PostRebalance != nil {
		// Never called: the configuration is freed before any group uses it.
		if err := call(func() C.enum_yk_error { return C.yk_go_set_rebalance_callbacks(cconfig, 0) }); err != nil {
			return "", err
		}
	}
	return C.GoString(C.yk_consumer_config_dump(cconfig)), nil
}

// Identifier is this member's identifier in the party, <fqdn>-<pid>-<n>.
func (g *ConsumerGroup) Identifier() string {
	if g.guard.enter() != nil {
		return ""
	}
	defer g.guard.leave()
	return C.GoString(C.yk_consumer_group_identifier(g.handle))
}

// Stop leaves the group within timeout: PreRebalance, a commit with
// auto-commit, the partitions, locks and membership given up, the session
// closed; then releases the group (later calls get ErrClosedHandle). Also
// the way out after ErrPartitioner. Every step runs; the first error met is
// returned. Called from a rebalance or metrics callback of this group it
// fails with ErrReentrant and changes nothing.
func (g *ConsumerGroup) Stop(timeout time.Duration) error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	flushed := g.marks.flush()
	err := call(func() C.enum_yk_error { return C.yk_consumer_group_stop(g.handle, milliseconds(timeout)) })
	if errors.Is(err, ErrReentrant) {
		return err
	}
	// Marks made during the stop reach a stopped group, which refuses
	// them; later ones are refused here.
	g.marks.close()
	g.guard.close()
	if err == nil {
		err = flushed
	}
	return err
}

// DefaultStopTimeout is how long Close gives the group to leave, as the
// Ruby binding's stop.
const DefaultStopTimeout = 10 * time.Second

// Close is Stop(DefaultStopTimeout), for io.Closer.
func (g *ConsumerGroup) Close() error {
	return g.Stop(DefaultStopTimeout)
}

// StopContext is Stop with ctx's deadline as the timeout,
// DefaultStopTimeout without one, and 0 once ctx has ended (every step
// still runs, without waiting): the group is released in every case. A
// cancellation returns ctx's error at once; the stop, which cannot be
// ended, then finishes in the background within its timeout (its
// PreRebalance runs there), and the group is released when it returns.
func (g *ConsumerGroup) StopContext(ctx context.Context) error {
	timeout, ok := contextTimeout(ctx)
	if !ok {
		timeout = DefaultStopTimeout
	}
	if ctx.Err() != nil {
		return withContextError(ctx, g.Stop(0))
	}
	_, err := detached(ctx, &g.panics, func() (struct{}, error) { return struct{}{}, g.Stop(timeout) })
	return withContextError(ctx, err)
}

//export ykGoRebalance
func ykGoRebalance(state C.uintptr_t, post C.int, partitions *C.yk_topic_partition, count C.size_t) {
	s := cgo.Handle(state).Value().(*groupState)
	defer s.panics.catch()
	callback := s.pre
	if post != 0 {
		callback = s.post
	}
	if callback == nil {
		return
	}
	list := make([]TopicPartition, count)
	if count > 0 {
		for i, p := range unsafe.Slice(partitions, count) {
			list[i] = TopicPartition{Topic: C.GoString(p.topic), Partition: int32(p.partition)}
		}
	}
	callback(list)
}
