package yelpkafka

// #include <stdlib.h>
// #include "callbacks.h"
import "C"

import (
	"context"
	"fmt"
	"runtime/cgo"
	"time"
)

// CallbackGroup is a consumer group member that calls a function for
// every message (Python yelp_kafka's callback-style ConsumerGroup,
// docs/consumer-groups.md): the same balancing, ZooKeeper layout, commits
// and rebalance callbacks as ConsumerGroup, with Run in place of the Next
// loop. Close it (an io.Closer) to release it.
type CallbackGroup struct {
	handle *C.yk_callback_group
	guard  handleGuard
	*callbackGroupState
}

// callbackGroupState is what the process and rebalance callbacks reach
// through cgo handles.
type callbackGroupState struct {
	groupState
	process func(*ConsumerMessage) error
}

// NewCallbackGroup creates a member of config's group for topics whose
// Run calls process for every message of the partitions it holds.
// process gets a copy of the message, and the message counts as done
// when it returns nil (its TaskDone does nothing); an error stops the
// group: Run returns ErrProcessMessage with the error's text. metrics
// (nil: none) receives yelp_kafka.KafkaConsumerGroup.* as for
// NewConsumerGroup. Nothing connects before Run.
func NewCallbackGroup(topics []string, config ConsumerConfig, process func(*ConsumerMessage) error,
	metrics MetricsResponder) (*CallbackGroup, error) {
	if process == nil {
		return nil, &Error{Code: ErrInvalidArgument, Message: "NewCallbackGroup: process is nil"}
	}
	state := &callbackGroupState{groupState: groupState{pre: config.PreRebalance, post: config.PostRebalance},
		process: process}
	defer state.panics.rethrow() // a panic of the responder while asked for emitters
	rebalanceHandle := cgo.NewHandle(&state.groupState)
	processHandle := cgo.NewHandle(state)
	cconfig, err := newConsumerConfig(config, rebalanceHandle)
	if err != nil {
		rebalanceHandle.Delete()
		processHandle.Delete()
		return nil, err
	}
	defer C.yk_consumer_config_free(cconfig)
	ctopics, freeTopics := cStrings(topics)
	defer freeTopics()
	responder, _, releaseResponder := newMetricsResponder(metrics, &state.panics)
	var handle *C.yk_callback_group
	if err := call(func() C.enum_yk_error {
		return C.yk_go_callback_group_new(ctopics, C.size_t(len(topics)), cconfig, responder,
			C.uintptr_t(processHandle), &handle)
	}); err != nil {
		rebalanceHandle.Delete()
		processHandle.Delete()
		releaseResponder()
		return nil, err
	}
	g := &CallbackGroup{handle: handle, callbackGroupState: state}
	g.guard = handleGuard{what: "callback group", panics: &state.panics, free: func() {
		C.yk_callback_group_free(handle)
		rebalanceHandle.Delete()
		processHandle.Delete()
		releaseResponder()
	}}
	return g, nil
}

// Run joins the group and calls the process function for every message
// of the partitions it holds, on this goroutine, until Stop; then commits
// and leaves. It returns nil after a stop, ErrProcessMessage (with the
// function's error text) when the function failed, ErrPartitioner when
// the ZooKeeper session was lost. It runs once per group: after a stop
// (made before Run too) it returns nil at once without joining. A panic
// of the process function stops the group and is raised again here.
func (g *CallbackGroup) Run() error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	return call(func() C.enum_yk_error { return C.yk_callback_group_run(g.handle) })
}

// RunContext is Run until ctx ends: then the group is stopped (after the
// message being processed, if any), commits and leaves, and RunContext
// returns ctx's error once Run has. With ctx ended before the call it
// returns ctx's error without joining.
func (g *CallbackGroup) RunContext(ctx context.Context) error {
	return runUntilDone(ctx, &g.guard, g.Run, func() { C.yk_callback_group_stop(g.handle, 0) })
}

// Stop asks Run to stop after the message it is processing and waits up
// to timeout for it to have committed and left; ErrTimedOut when it has
// not yet (it still stops). Callable from any goroutine, from the process
// function too, and before Run (which then never joins).
func (g *CallbackGroup) Stop(timeout time.Duration) error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	if timeout < 0 {
		timeout = 0
	}
	return call(func() C.enum_yk_error { return C.yk_callback_group_stop(g.handle, milliseconds(timeout)) })
}

// Close stops the group (waiting up to DefaultStopTimeout for Run to
// leave) and releases it once Run has returned; later calls get
// ErrClosedHandle.
func (g *CallbackGroup) Close() error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	err := call(func() C.enum_yk_error { return C.yk_callback_group_stop(g.handle, milliseconds(DefaultStopTimeout)) })
	g.guard.close()
	return err
}

//export ykGoProcess
func ykGoProcess(state C.uintptr_t, message *C.yk_message, buffer *C.char, size C.size_t) (result C.int32_t) {
	s := cgo.Handle(state).Value().(*callbackGroupState)
	defer func() {
		if r := recover(); r != nil {
			s.panics.store(r)
			writeError(buffer, size, fmt.Sprintf("panic: %v", r))
			result = 1
		}
	}()
	return processLent(message, buffer, size, s.process)
}

// processLent runs process on a copy of a message lent to a callback,
// writing its error's text to the callback's buffer: 0 when it succeeded.
func processLent(message *C.yk_message, buffer *C.char, size C.size_t, process func(*ConsumerMessage) error) C.int32_t {
	m, err := lentMessage(message)
	if err == nil {
		err = process(m)
	}
	if err != nil {
		writeError(buffer, size, err.Error())
		return 1
	}
	return 0
}
