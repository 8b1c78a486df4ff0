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

// Worker processes the messages of one partition of a thread-worker
// MultiprocessingGroup (NewThreadGroup). Its methods run on the worker
// thread of its partition: a thread of the library, not a goroutine of
// the program (docs/c-abi.md, "Threading and callbacks"), and the workers
// of several partitions run at once.
type Worker interface {
	// Process processes one message, a copy; it counts as done when
	// Process returns nil. An error ends the worker, which the group
	// starts again from the last commit.
	Process(m *ConsumerMessage) error
	// Close is called once when the worker ends: stopped, failed, or its
	// partition moved.
	Close()
}

// MultiprocessingGroup is Python yelp_kafka's MultiprocessingConsumerGroup
// (docs/consumer-groups.md): a member of a consumer group that runs a
// worker per partition it acquires, as a thread running Go code
// (NewThreadGroup) or as a process running a worker program
// (NewProcessGroup). Run it, Stop it, Close it (an io.Closer) to release
// it.
type MultiprocessingGroup struct {
	handle *C.yk_multiprocessing_group
	guard  handleGuard
	panics panicBox
	// state is a thread group's; nil for processes.
	state *workerGroupState
}

// workerGroupState is what the thread workers' callbacks reach through a
// cgo handle.
type workerGroupState struct {
	// panics keeps a panic of a worker's method for Run to raise.
	panics    panicBox
	newWorker func(topic string, partition int32) (Worker, error)
}

// NewThreadGroup creates a member of config's group for topics that runs
// a worker thread per acquired partition, with the Worker newWorker
// makes for it (an error gives up; the group tries again later). Each
// worker has its own consumer of its partition with the group's offsets
// and config's commit settings. On release a worker is asked to stop,
// waited for up to max_termination_timeout_secs, then fenced: it is
// called no more and ends once the call it is in returns. newWorker and
// the Worker's methods run on library threads, several at once: they must
// be safe for concurrent use. A panic in them ends the worker (as an
// error would) and is raised again when Run returns.
func NewThreadGroup(topics []string, config ConsumerConfig,
	newWorker func(topic string, partition int32) (Worker, error)) (*MultiprocessingGroup, error) {
	if newWorker == nil {
		return nil, &Error{Code: ErrInvalidArgument, Message: "NewThreadGroup: newWorker is nil"}
	}
	state := &workerGroupState{newWorker: newWorker}
	stateHandle := cgo.NewHandle(state)
	g, err := newMultiprocessingGroup(config, topics, stateHandle.Delete,
		func(ctopics **C.char, count C.size_t, cconfig *C.yk_consumer_config, out **C.yk_multiprocessing_group) C.enum_yk_error {
			return C.yk_go_multiprocessing_group_new_threads(ctopics, count, cconfig, C.uintptr_t(stateHandle), out)
		})
	if err != nil {
		stateHandle.Delete()
		return nil, err
	}
	g.state = state
	return g, nil
}

// NewProcessGroup creates a member of config's group for topics that
// starts the program argv[0] with arguments argv[1:] once per acquired
// partition. The worker finds its partition, group and cluster in its
// environment (YK_WORKER_*); in a Go worker, WorkerConsumer turns that
// into its consumer. A worker that exits is started again; on release
// workers get SIGTERM, and SIGKILL after max_termination_timeout_secs.
func NewProcessGroup(topics []string, config ConsumerConfig, argv []string) (*MultiprocessingGroup, error) {
	if len(argv) == 0 {
		return nil, &Error{Code: ErrInvalidArgument, Message: "NewProcessGroup: argv is empty"}
	}
	cargv, freeArgv := cStrings(argv)
	defer freeArgv()
	return newMultiprocessingGroup(config, topics, func() {},
		func(ctopics **C.char, count C.size_t, cconfig *C.yk_consumer_config, out **C.yk_multiprocessing_group) C.enum_yk_error {
			return C.yk_multiprocessing_group_new_processes(ctopics, count, cconfig, cargv, C.size_t(len(argv)), out)
		})
}

func newMultiprocessingGroup(config ConsumerConfig, topics []string, release func(),
	create func(**C.char, C.size_t, *C.yk_consumer_config, **C.yk_multiprocessing_group) C.enum_yk_error) (*MultiprocessingGroup, error) {
	cconfig, err := newPlainConsumerConfig(config)
	if err != nil {
		return nil, err
	}
	defer C.yk_consumer_config_free(cconfig)
	ctopics, freeTopics := cStrings(topics)
	defer freeTopics()
	var handle *C.yk_multiprocessing_group
	if err := call(func() C.enum_yk_error { return create(ctopics, C.size_t(len(topics)), cconfig, &handle) }); err != nil {
		return nil, err
	}
	g := &MultiprocessingGroup{handle: handle}
	g.guard = handleGuard{what: "multiprocessing group", panics: &g.panics, free: func() {
		C.yk_multiprocessing_group_free(handle)
		release()
	}}
	return g, nil
}

// Run joins the group and runs workers for the partitions it holds,
// watching them every 250 ms and starting again any that ended, until
// Stop (nil) or the loss of the ZooKeeper session (ErrPartitioner).
// Whatever ends it, the workers are stopped and the party left before it
// returns; ErrWorkersRunning says that thread workers fenced after
// max_termination_timeout_secs are still inside a Worker method. It runs
// once per group: after a stop (made before Run too) it returns nil at
// once.
func (g *MultiprocessingGroup) Run() error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	err := call(func() C.enum_yk_error { return C.yk_multiprocessing_group_start(g.handle) })
	if g.state != nil {
		g.state.panics.rethrow()
	}
	return err
}

// RunContext is Run until ctx ends: then the group is stopped, and
// RunContext returns ctx's error once its workers committed and stopped
// and it left the party, as Run does after Stop: a graceful stop, which
// takes a few hundred milliseconds (bounded by
// max_termination_timeout_secs), so that no Worker method runs once it
// returned; or ErrWorkersRunning as Run would. With ctx ended before the
// call it returns ctx's error without joining.
func (g *MultiprocessingGroup) RunContext(ctx context.Context) error {
	return runUntilDone(ctx, &g.guard, g.Run, func() { C.yk_multiprocessing_group_stop(g.handle, 0) })
}

// Stop asks Run to stop its workers and leave, and waits up to timeout for
// it to return: ErrTimedOut when it has not yet (it still stops),
// ErrWorkersRunning when fenced thread workers are still inside a Worker
// method. Callable from any goroutine, and before Run (which then never
// joins).
func (g *MultiprocessingGroup) Stop(timeout time.Duration) error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	if timeout < 0 {
		timeout = 0
	}
	return call(func() C.enum_yk_error { return C.yk_multiprocessing_group_stop(g.handle, milliseconds(timeout)) })
}

// WorkerInfo is one live worker of a MultiprocessingGroup.
type WorkerInfo struct {
	Topic     string
	Partition int32
	// Restarts is how many times the worker was started again.
	Restarts int64
	// PID is the worker process's id; 0 for a thread worker.
	PID int
}

// Consumers lists the live workers (Python yelp_kafka's get_consumers).
func (g *MultiprocessingGroup) Consumers() ([]WorkerInfo, error) {
	if err := g.guard.enter(); err != nil {
		return nil, err
	}
	defer g.guard.leave()
	var list *C.yk_worker_list
	if err := call(func() C.enum_yk_error { return C.yk_multiprocessing_group_consumers(g.handle, &list) }); err != nil {
		return nil, err
	}
	defer C.yk_worker_list_free(list)
	workers := make([]WorkerInfo, int(C.yk_worker_list_count(list)))
	for i := range workers {
		ci := C.size_t(i)
		workers[i] = WorkerInfo{
			Topic:     C.GoString(C.yk_worker_list_topic(list, ci)),
			Partition: int32(C.yk_worker_list_partition(list, ci)),
			Restarts:  int64(C.yk_worker_list_restarts(list, ci)),
			PID:       int(C.yk_worker_list_pid(list, ci)),
		}
	}
	return workers, nil
}

// Close stops the group (waiting up to DefaultStopTimeout for Run to
// return) and releases it once Run has returned and no fenced worker
// runs; later calls get ErrClosedHandle.
func (g *MultiprocessingGroup) Close() error {
	if err := g.guard.enter(); err != nil {
		return err
	}
	defer g.guard.leave()
	err := call(func() C.enum_yk_error {
		return C.yk_multiprocessing_group_stop(g.handle, milliseconds(DefaultStopTimeout))
	})
	g.guard.close()
	return err
}

// workerOf finds a thread worker from its state for the library, a cgo
// handle of its Worker (never 0, which would be NULL: give up).
func workerOf(state, worker C.uintptr_t) (*workerGroupState, Worker) {
	s := cgo.Handle(state).Value().(*workerGroupState)
	return s, cgo.Handle(worker).Value().(Worker)
}

//export ykGoWorkerInitialize
func ykGoWorkerInitialize(state C.uintptr_t, topic *C.char, partition C.int32_t) (worker C.uintptr_t) {
	s := cgo.Handle(state).Value().(*workerGroupState)
	defer func() {
		if r := recover(); r != nil {
			s.panics.store(r)
			worker = 0
		}
	}()
	w, err := s.newWorker(C.GoString(topic), int32(partition))
	if err != nil || w == nil {
		return 0
	}
	return C.uintptr_t(cgo.NewHandle(w))
}

//export ykGoWorkerProcess
func ykGoWorkerProcess(state, worker C.uintptr_t, message *C.yk_message, buffer *C.char, size C.size_t) (result C.int32_t) {
	s, w := workerOf(state, worker)
	defer func() {
		if r := recover(); r != nil {
			s.panics.store(r)
			writeError(buffer, size, fmt.Sprintf("panic: %v", r))
			result = 1
		}
	}()
	return processLent(message, buffer, size, w.Process)
}

//export ykGoWorkerDispose
func ykGoWorkerDispose(state, worker C.uintptr_t) {
	s, w := workerOf(state, worker)
	defer cgo.Handle(worker).Delete()
	defer s.panics.catch()
	w.Close()
}
