package yelpkafka

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var _ = []io.Closer{(*CallbackGroup)(nil), (*MultiprocessingGroup)(nil)}

// waitFor polls cond every 20 ms for up to timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
	}
}

// The callback group calls its function for every message, with the
// rebalance callbacks and the metrics; a Stop from the function ends Run,
// which commits: a new member of the group starts after the messages.
func TestCallbackGroupProcessesEveryMessageUntilStopped(t *testing.T) {
	topic := freshTopic(t, 2)
	fillTopic(t, topic, 2, 10)
	config := groupConfig(t, nil)
	var mu sync.Mutex
	var got, events []string
	var g *CallbackGroup
	config.PostRebalance = func(p []TopicPartition) { events = append(events, "acquired "+partitionList(p)) }
	config.PreRebalance = func(p []TopicPartition) { events = append(events, "releasing "+partitionList(p)) }
	responder := &recordingResponder{}
	process := func(m *ConsumerMessage) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Value))
		if m.Topic != topic || string(m.Key) != "k"+string(m.Value) {
			t.Errorf("message %+v", *m)
		}
		if err := m.TaskDone(); err != nil {
			t.Errorf("TaskDone on a lent message: %v", err)
		}
		if len(got) == 10 {
			if err := g.Stop(0); err != nil && !errors.Is(err, ErrTimedOut) {
				t.Errorf("Stop from the process function: %v", err)
			}
		}
		return nil
	}
	var err error
	g, err = NewCallbackGroup([]string{topic}, config, process, responder)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end after the stop")
	}
	sort.Slice(got, func(i, j int) bool { return atoi(t, got[i]) < atoi(t, got[j]) })
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Errorf("processed %v", got)
	}
	if strings.Join(events, "; ") != fmt.Sprintf("acquired %[1]s-0,%[1]s-1; releasing %[1]s-0,%[1]s-1", topic) {
		t.Errorf("rebalance callbacks %q", events)
	}
	if len(responder.emitters) == 0 {
		t.Error("no metrics emitters asked for")
	}
	if err := g.Run(); err != nil {
		t.Errorf("Run after a stop: %v, want nil at once", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := g.Run(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("Run after Close: %v, want ErrClosedHandle", err)
	}

	// The group committed: its offsets are at the end.
	o, err := NewOffsets(config.Cluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rows, err := o.Current(context.Background(), config.GroupID, Topics{topic: nil}, true)
	if err != nil || rowsOf(rows, func(r PartitionOffsets) int64 { return r.Committed }) != "0:5 1:5" {
		t.Errorf("committed %+v, %v; want 5 and 5", rows, err)
	}
}

// An error of the process function stops the group with
// ErrProcessMessage carrying its text; a panic is raised again from Run.
func TestCallbackGroupProcessFailures(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 1)
	g, err := NewCallbackGroup([]string{topic}, groupConfig(t, nil), func(*ConsumerMessage) error {
		return errors.New("cannot process this")
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Run(); !errors.Is(err, ErrProcessMessage) || !strings.Contains(err.Error(), "cannot process this") {
		t.Errorf("Run: %v, want ErrProcessMessage with the function's text", err)
	}

	p, err := NewCallbackGroup([]string{topic}, groupConfig(t, nil), func(*ConsumerMessage) error { panic("process boom") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	func() {
		defer func() {
			if r := recover(); r != "process boom" {
				t.Errorf("Run raised %v, want the function's panic", r)
			}
		}()
		p.Run()
	}()
	if _, err := NewCallbackGroup([]string{topic}, groupConfig(t, nil), nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no process function: %v, want ErrInvalidArgument", err)
	}
}

// RunContext ends on a cancellation while no message comes.
func TestCallbackGroupRunContextEndsOnCancellation(t *testing.T) {
	topic := freshTopic(t, 1)
	g, err := NewCallbackGroup([]string{topic}, groupConfig(t, nil), func(*ConsumerMessage) error { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := cancelAfter(t, 1500*time.Millisecond) // joined and holding the partition by then
	start := time.Now()
	if err := g.RunContext(ctx); err != context.Canceled {
		t.Errorf("RunContext: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "RunContext", start, 1500*time.Millisecond)
}

// recordingWorker is a thread worker that records what it processes.
type recordingWorker struct {
	topic     string
	partition int32
	group     *workerRecord
}

type workerRecord struct {
	mu        sync.Mutex
	started   []string
	processed []string
	closed    int
	panicOn   string
	panicked  bool
}

func (w *recordingWorker) Process(m *ConsumerMessage) error {
	r := w.group
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Partition != w.partition || m.Topic != w.topic {
		return fmt.Errorf("worker of %s-%d got a message of %s-%d", w.topic, w.partition, m.Topic, m.Partition)
	}
	if string(m.Value) == r.panicOn && !r.panicked {
		r.panicked = true
		panic("worker boom")
	}
	r.processed = append(r.processed, string(m.Value))
	return nil
}

func (w *recordingWorker) Close() {
	w.group.mu.Lock()
	w.group.closed++
	w.group.mu.Unlock()
}

func (r *workerRecord) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.processed)
}

// A thread-worker group runs a worker per partition (on library threads);
// a worker that panics is started again from the last commit, and the
// panic comes out of Run; every worker is closed when the group stops.
func TestThreadGroupRunsAWorkerPerPartition(t *testing.T) {
	topic := freshTopic(t, 2)
	fillTopic(t, topic, 2, 10)
	record := &workerRecord{panicOn: "4"}
	g, err := NewThreadGroup([]string{topic}, groupConfig(t, nil), func(topic string, partition int32) (Worker, error) {
		record.mu.Lock()
		defer record.mu.Unlock()
		record.started = append(record.started, fmt.Sprintf("%s-%d", topic, partition))
		return &recordingWorker{topic: topic, partition: partition, group: record}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan interface{}, 1)
	go func() {
		defer func() { done <- recover() }()
		g.RunContext(ctx)
	}()
	waitFor(t, "the ten messages processed", 30*time.Second, func() bool { return record.count() >= 10 })
	workers, err := g.Consumers()
	if err != nil || len(workers) != 2 || workers[0].PID != 0 || workers[0].Topic != topic {
		t.Errorf("Consumers: %+v, %v; want two thread workers", workers, err)
	}
	cancel()
	select {
	case r := <-done:
		if r != "worker boom" {
			t.Errorf("RunContext raised %v, want the worker's panic", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunContext did not end")
	}
	record.mu.Lock()
	defer record.mu.Unlock()
	distinct := map[string]bool{}
	for _, v := range record.processed {
		distinct[v] = true
	}
	if len(distinct) != 10 || record.closed != len(record.started) || len(record.started) < 3 {
		t.Errorf("processed %v, started %v, closed %d; want all ten, a restart, every worker closed",
			record.processed, record.started, record.closed)
	}
	if _, err := NewThreadGroup([]string{topic}, groupConfig(t, nil), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no worker function: %v, want ErrInvalidArgument", err)
	}
}

// workerOutput is where TestProcessWorkerHelper writes what it reads.
const workerOutput = "YK_GO_TEST_WORKER_OUT"

// TestProcessWorkerHelper is the worker program that
// TestProcessGroupRunsAWorkerPerPartition starts (this test binary): it
// reads its partition with WorkerConsumer until SIGTERM, writing
// "<partition> <value>" lines to $YK_GO_TEST_WORKER_OUT.
func TestProcessWorkerHelper(t *testing.T) {
	out := os.Getenv(workerOutput)
	if out == "" {
		t.Skip("the worker program of TestProcessGroupRunsAWorkerPerPartition")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c, err := WorkerConsumer()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.ConnectContext(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for {
		m, err := c.NextContext(ctx)
		if err != nil {
			return
		}
		fmt.Fprintf(f, "%d %s\n", m.Partition, m.Value)
		if err := c.CommitMessage(m); err != nil {
			t.Fatal(err)
		}
	}
}

// A process-worker group starts a worker program per partition; the
// workers read with WorkerConsumer.
func TestProcessGroupRunsAWorkerPerPartition(t *testing.T) {
	topic := freshTopic(t, 2)
	fillTopic(t, topic, 2, 6)
	out := filepath.Join(t.TempDir(), "worker.out")
	t.Setenv(workerOutput, out)
	g, err := NewProcessGroup([]string{topic}, groupConfig(t, Options{"max_termination_timeout_secs": "5"}),
		[]string{os.Args[0], "-test.run=^TestProcessWorkerHelper$"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.RunContext(ctx) }()
	lines := func() []string {
		f, err := os.Open(out)
		if err != nil {
			return nil
		}
		defer f.Close()
		var all []string
		for s := bufio.NewScanner(f); s.Scan(); {
			all = append(all, s.Text())
		}
		return all
	}
	waitFor(t, "the six messages read by the workers", 60*time.Second, func() bool { return len(lines()) >= 6 })
	workers, err := g.Consumers()
	if err != nil || len(workers) != 2 || workers[0].PID <= 0 || workers[1].PID <= 0 {
		t.Errorf("Consumers: %+v, %v; want two worker processes", workers, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("RunContext: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunContext did not end")
	}
	got := lines()
	sort.Strings(got)
	if strings.Join(got, ",") != "0 0,0 2,0 4,1 1,1 3,1 5" {
		t.Errorf("the workers read %v", got)
	}
	if _, err := NewProcessGroup([]string{topic}, groupConfig(t, nil), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no program: %v, want ErrInvalidArgument", err)
	}
}

// RunContext of a thread-worker group ends on a cancellation while no
// message comes, once the idle workers committed and stopped and the
// group left (a graceful stop: about 0.2 s here, not the 100 ms of a
// wait that a wakeup ends), and every worker is closed.
func TestThreadGroupRunContextEndsOnCancellation(t *testing.T) {
	topic := freshTopic(t, 2)
	record := &workerRecord{}
	g, err := NewThreadGroup([]string{topic}, groupConfig(t, nil), func(topic string, partition int32) (Worker, error) {
		return &recordingWorker{topic: topic, partition: partition, group: record}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := cancelAfter(t, 1500*time.Millisecond) // the workers run by then
	start := time.Now()
	if err := g.RunContext(ctx); err != context.Canceled {
		t.Errorf("RunContext: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took < 1500*time.Millisecond || took > 2500*time.Millisecond {
		t.Errorf("RunContext returned after %v, want 1.5s (+1s)", took)
	}
	record.mu.Lock()
	defer record.mu.Unlock()
	if record.closed != 2 {
		t.Errorf("%d workers closed, want 2", record.closed)
	}
}
