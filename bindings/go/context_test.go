package yelpkafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

// Both handles are io.Closers.
var _ = []io.Closer{(*Producer)(nil), (*ConsumerGroup)(nil)}

// stuckProducer has one message queued that cannot be delivered before
// delivery_timeout_ms (a minute): its topic's only partition has no leader.
func stuckProducer(t *testing.T) *Producer {
	t.Helper()
	topic := fmt.Sprintf("go-stuck-%d", time.Now().UnixNano())
	kafkatest.Launcher(t, 1, "topic", topic, "1")
	kafkatest.Launcher(t, 1, "leader", topic, "0", "-1")
	p, err := NewProducer(localCluster(t), ProducerOptions{DeliveryTimeout: time.Minute}.Options(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.CloseTimeout(0) })
	if err := p.Produce(Message{Topic: topic, Partition: AnyPartition, Value: []byte("stuck")}, 0); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertReturnedAround fails unless the call that started at start
// returned within 100 ms after want.
func assertReturnedAround(t *testing.T, what string, start time.Time, want time.Duration) {
	t.Helper()
	if took := time.Since(start); took < want || took > want+100*time.Millisecond {
		t.Errorf("%s returned after %v, want %v (+100ms)", what, took, want)
	}
}

func TestFlushContextKeepsTheDeadline(t *testing.T) {
	p := stuckProducer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.FlushContext(ctx)
	assertReturnedAround(t, "FlushContext", start, 300*time.Millisecond)
	if !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FlushContext: %v, want ErrTimedOut and context.DeadlineExceeded", err)
	}
	if p.QueueLength() != 1 {
		t.Errorf("queue length %d after the flush gave up, want the message still queued", p.QueueLength())
	}
}

// Without a deadline, a cancellation ends FlushContext within 100 ms.
func TestFlushContextNoticesCancellation(t *testing.T) {
	p := stuckProducer(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(250*time.Millisecond, cancel)
	start := time.Now()
	err := p.FlushContext(ctx)
	assertReturnedAround(t, "FlushContext", start, 250*time.Millisecond)
	if !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.Canceled) {
		t.Fatalf("FlushContext: %v, want ErrTimedOut and context.Canceled", err)
	}
}

func TestFlushContextSucceedsOnceEverythingIsDelivered(t *testing.T) {
	p := newProducer(t, ProducerOptions{Linger: Ptr(time.Minute)}.Options(), nil)
	var delivered []error
	p.OnDelivery(func(r DeliveryReport) { delivered = append(delivered, r.Err) })
	for i := 0; i < 5; i++ {
		if err := p.Produce(Message{Topic: "mytopic", Partition: AnyPartition, Value: []byte("flushed")}, 0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.FlushContext(ctx); err != nil {
		t.Fatal(err)
	}
	if len(delivered) != 5 || delivered[0] != nil || p.QueueLength() != 0 {
		t.Errorf("after FlushContext: reports %v, queue length %d", delivered, p.QueueLength())
	}
}

// An ended context closes at once, failing what is queued; the producer is
// released either way.
func TestCloseContextWithAnEndedContextClosesAtOnce(t *testing.T) {
	p := stuckProducer(t)
	var reports []DeliveryReport
	p.OnDelivery(func(r DeliveryReport) { reports = append(reports, r) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	undelivered, err := p.CloseContext(ctx)
	assertReturnedAround(t, "CloseContext", start, 0)
	if undelivered != 1 || !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.Canceled) {
		t.Fatalf("CloseContext: %d undelivered, %v; want 1 and ErrTimedOut with context.Canceled", undelivered, err)
	}
	if len(reports) != 1 || !errors.Is(reports[0].Err, ErrClosedHandle) {
		t.Errorf("reports %+v, want one failed with ErrClosedHandle", reports)
	}
	if err := p.Close(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("Close after CloseContext: %v, want ErrClosedHandle", err)
	}
}

// Close (io.Closer) delivers what is queued, then the producer is released.
func TestCloseDeliversWhatIsQueued(t *testing.T) {
	p := newProducer(t, Options{"linger_ms": "60000"}, nil)
	delivered := 0
	p.OnDelivery(func(r DeliveryReport) {
		if r.Err == nil {
			delivered++
		}
	})
	for i := 0; i < 10; i++ {
		if err := p.Produce(Message{Topic: "mytopic", Partition: AnyPartition, Value: []byte("closing")}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if delivered != 10 {
		t.Errorf("%d of 10 messages delivered by Close", delivered)
	}
	if _, err := p.SendMessages("mytopic", []byte("late")); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("SendMessages after Close: %v, want ErrClosedHandle", err)
	}
}

func TestSendMessagesContextSendsNothingOnceTheContextEnded(t *testing.T) {
	p := newProducer(t, nil, nil)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if offsets, err := p.SendMessagesContext(ended, "mytopic", []byte("never")); err != context.Canceled || offsets != nil {
		t.Errorf("SendMessagesContext with an ended context: %v, %v; want context.Canceled", offsets, err)
	}
	if _, err := p.SendKeyedMessagesContext(ended, "mytopic", []byte("k"), []byte("never")); err != context.Canceled {
		t.Errorf("SendKeyedMessagesContext with an ended context: %v, want context.Canceled", err)
	}
	offsets, err := p.SendMessagesContext(context.Background(), "mytopic", []byte("sent"), []byte("sent"))
	if err != nil || len(offsets) != 2 {
		t.Fatalf("SendMessagesContext: %v, %v", offsets, err)
	}
	keyed, err := p.SendKeyedMessagesContext(context.Background(), "mytopic", []byte("k"), []byte("sent"))
	if err != nil || len(keyed) != 1 || keyed[0] < 0 {
		t.Fatalf("SendKeyedMessagesContext: %v, %v", keyed, err)
	}
}

// StartContext with the default 30 s cooldown: the deadline ends the wait,
// and the error says so both ways.
func TestStartContextKeepsTheDeadline(t *testing.T) {
	g, err := NewConsumerGroup([]string{"other"}, groupConfig(t, Options{"partitioner_cooldown": "30"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = g.StartContext(ctx)
	assertReturnedAround(t, "StartContext", start, 500*time.Millisecond)
	if !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("StartContext: %v, want ErrTimedOut and context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "deadline") {
		t.Errorf("the error %q does not name the deadline", err)
	}
	// Started, still allocating: Next goes on and finds nothing yet.
	if _, err := g.Next(); !errors.Is(err, ErrConsumerTimeout) {
		t.Errorf("Next after StartContext timed out: %v, want ErrConsumerTimeout", err)
	}
}

// The group's context calls: an ended context starts and commits nothing;
// StopContext with an ended one still stops (at once) and releases the
// group; Close after it says the group is closed.
func TestGroupContextCallsWithAnEndedContext(t *testing.T) {
	g, err := NewConsumerGroup([]string{"other"}, groupConfig(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.StartContext(ended); err != context.Canceled {
		t.Fatalf("StartContext with an ended context: %v, want context.Canceled", err)
	}
	live, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := g.StartContext(live); err != nil {
		t.Fatal(err)
	}
	if err := g.CommitContext(ended); err != context.Canceled {
		t.Errorf("CommitContext with an ended context: %v, want context.Canceled", err)
	}
	if err := g.CommitContext(live); err != nil {
		t.Errorf("CommitContext: %v", err)
	}
	start := time.Now()
	// With no time left the commit before leaving may time out.
	if err := g.StopContext(ended); err != nil && !(errors.Is(err, ErrTimedOut) && errors.Is(err, context.Canceled)) {
		t.Errorf("StopContext with an ended context: %v, want nil or ErrTimedOut with context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("StopContext with an ended context took %v", took)
	}
	if _, err := g.Next(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("Next after StopContext: %v, want ErrClosedHandle", err)
	}
	if err := g.Close(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("Close after StopContext: %v, want ErrClosedHandle", err)
	}
}

// Close (io.Closer) leaves the group and releases it.
func TestGroupCloseStopsTheGroup(t *testing.T) {
	g := startedGroup(t, nil)
	var closer io.Closer = g
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Next(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("Next after Close: %v, want ErrClosedHandle", err)
	}
}

// PollContext waits for a report until the deadline, then gives up with
// the context's error; with a report it serves it.
func TestPollContextKeepsTheDeadline(t *testing.T) {
	p := stuckProducer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	served, err := p.PollContext(ctx)
	assertReturnedAround(t, "PollContext", start, 300*time.Millisecond)
	if served != 0 || err != context.DeadlineExceeded {
		t.Fatalf("PollContext: %d served, %v; want 0 and context.DeadlineExceeded", served, err)
	}

	delivering := newProducer(t, nil, nil)
	if err := delivering.Produce(Message{Topic: "mytopic", Partition: AnyPartition, Value: []byte("polled")}, 0); err != nil {
		t.Fatal(err)
	}
	long, cancelLong := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelLong()
	if served, err := delivering.PollContext(long); served != 1 || err != nil {
		t.Errorf("PollContext with a report coming: %d served, %v; want 1", served, err)
	}
}

// silentBroker is a TCP listener that takes connections and never
// answers: a request to it waits for the library's own timeouts.
func silentBroker(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			go io.Copy(io.Discard, conn)
		}
	}()
	t.Cleanup(func() {
		listener.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return listener.Addr().String()
}

// silentCluster is a cluster whose one broker never answers.
func silentCluster(t *testing.T) ClusterConfig {
	t.Helper()
	cluster, err := NewClusterConfig("standard", "silent", []string{silentBroker(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	return cluster
}

// slowOptions keep a request to a silent broker waiting far longer than a test.
var slowOptions = Options{"connect_timeout_ms": "60000", "metadata_timeout_ms": "60000", "request_timeout_ms": "60000"}

// cancelAfter is a context without a deadline, cancelled after d.
func cancelAfter(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(d, cancel)
	t.Cleanup(func() {
		timer.Stop()
		cancel()
	})
	return ctx
}

// waitingGroup is a started member of a new group on "other" that waits
// for messages without a consumer timeout, from the end (nothing comes).
func waitingGroup(t *testing.T) *ConsumerGroup {
	t.Helper()
	return startedGroup(t, Options{"consumer_timeout_ms": "-1", "auto_offset_reset": "largest"})
}

// With consumer_timeout_ms=-1 NextContext ends at the context's deadline.
func TestNextContextWithoutConsumerTimeoutKeepsTheDeadline(t *testing.T) {
	topic := freshTopic(t, 1)
	g, err := NewConsumerGroup([]string{topic}, groupConfig(t, Options{"consumer_timeout_ms": "-1"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if err := g.Start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	m, err := g.NextContext(ctx)
	assertReturnedAround(t, "NextContext", start, 300*time.Millisecond)
	if m != nil || err != context.DeadlineExceeded {
		t.Fatalf("NextContext: %v, %v; want context.DeadlineExceeded", m, err)
	}
	// The group goes on: a message sent now comes.
	fillTopic(t, topic, 1, 1)
	long, cancelLong := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelLong()
	if m, err := g.NextContext(long); err != nil || string(m.Value) != "0" {
		t.Fatalf("NextContext after an interrupted one: %v, %v", m, err)
	}
}

// With consumer_timeout_ms=-1 a cancellation without a deadline ends
// NextContext, NextBatch and Messages.
func TestGroupReadsEndOnCancellationWithoutConsumerTimeout(t *testing.T) {
	g := waitingGroup(t)
	start := time.Now()
	m, err := g.NextContext(cancelAfter(t, 250*time.Millisecond))
	assertReturnedAround(t, "NextContext", start, 250*time.Millisecond)
	if m != nil || err != context.Canceled {
		t.Fatalf("NextContext: %v, %v; want context.Canceled", m, err)
	}

	start = time.Now()
	batch, err := g.NextBatch(cancelAfter(t, 250*time.Millisecond), 10)
	assertReturnedAround(t, "NextBatch", start, 250*time.Millisecond)
	if batch != nil || err != context.Canceled {
		t.Fatalf("NextBatch: %d messages, %v; want context.Canceled", len(batch), err)
	}

	start = time.Now()
	messages, wait := g.Messages(cancelAfter(t, 250*time.Millisecond))
	for range messages {
		t.Error("a message came")
	}
	err = wait()
	assertReturnedAround(t, "Messages", start, 250*time.Millisecond)
	if err != context.Canceled {
		t.Fatalf("Messages: %v, want context.Canceled", err)
	}
}

// Two goroutines wait in the same group; cancelling one ends it within
// 100 ms (a wakeup it did not take is sent again), and the other goes on
// to its own deadline.
func TestCancellingOneOfTwoWaitingCallsEndsThatOne(t *testing.T) {
	g := waitingGroup(t)
	type result struct {
		err  error
		took time.Duration
	}
	results := make(chan result, 2)
	start := time.Now()
	for _, ctx := range []context.Context{cancelAfter(t, 200*time.Millisecond), func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}()} {
		go func(ctx context.Context) {
			_, err := g.NextContext(ctx)
			results <- result{err, time.Since(start)}
		}(ctx)
	}
	first, second := <-results, <-results
	if first.err != context.Canceled || first.took < 200*time.Millisecond || first.took > 300*time.Millisecond {
		t.Errorf("the cancelled call: %v after %v, want context.Canceled after 200ms (+100ms)", first.err, first.took)
	}
	if second.err != context.DeadlineExceeded || second.took < 700*time.Millisecond || second.took > 800*time.Millisecond {
		t.Errorf("the other call: %v after %v, want context.DeadlineExceeded after 700ms (+100ms)", second.err, second.took)
	}
}

// StartContext and WaitAssignment end on a cancellation without a
// deadline while the 30 s cooldown keeps the group allocating.
func TestStartContextAndWaitAssignmentEndOnCancellation(t *testing.T) {
	g, err := NewConsumerGroup([]string{"other"}, groupConfig(t, Options{"partitioner_cooldown": "30"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.WaitAssignment(context.Background()); !errors.Is(err, ErrWrongState) {
		t.Errorf("WaitAssignment before Start: %v, want ErrWrongState", err)
	}
	start := time.Now()
	err = g.StartContext(cancelAfter(t, 250*time.Millisecond))
	assertReturnedAround(t, "StartContext", start, 250*time.Millisecond)
	if !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.Canceled) {
		t.Fatalf("StartContext: %v, want ErrTimedOut and context.Canceled", err)
	}
	start = time.Now()
	err = g.WaitAssignment(cancelAfter(t, 250*time.Millisecond))
	assertReturnedAround(t, "WaitAssignment", start, 250*time.Millisecond)
	if !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitAssignment: %v, want ErrTimedOut and context.Canceled", err)
	}
	// A second Start waits again instead of failing with ErrWrongState.
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := g.StartContext(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second StartContext: %v, want the deadline", err)
	}
}

// WaitAssignment returns once the group holds its partitions.
func TestWaitAssignmentReturnsOnceTheGroupHoldsItsPartitions(t *testing.T) {
	g, err := NewConsumerGroup([]string{"other"}, groupConfig(t, Options{"partitioner_cooldown": "0.5"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Start(0); !errors.Is(err, ErrTimedOut) {
		t.Fatalf("Start(0): %v, want ErrTimedOut (still allocating)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.WaitAssignment(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitAssignment(ctx); err != nil {
		t.Errorf("WaitAssignment once assigned: %v", err)
	}
}

// PollContext ends on a cancellation without a deadline.
func TestPollContextEndsOnCancellation(t *testing.T) {
	p := stuckProducer(t)
	start := time.Now()
	served, err := p.PollContext(cancelAfter(t, 250*time.Millisecond))
	assertReturnedAround(t, "PollContext", start, 250*time.Millisecond)
	if served != 0 || err != context.Canceled {
		t.Fatalf("PollContext: %d served, %v; want 0 and context.Canceled", served, err)
	}
	// A plain Poll afterwards waits its own timeout: no wakeup is left over.
	start = time.Now()
	if served, err := p.Poll(200 * time.Millisecond); served != 0 || err != nil {
		t.Fatalf("Poll: %d, %v", served, err)
	}
	assertReturnedAround(t, "Poll", start, 200*time.Millisecond)
}

// CloseContext ends its flush on a cancellation without a deadline, then
// closes at once.
func TestCloseContextEndsOnCancellation(t *testing.T) {
	p := stuckProducer(t)
	start := time.Now()
	undelivered, err := p.CloseContext(cancelAfter(t, 250*time.Millisecond))
	assertReturnedAround(t, "CloseContext", start, 250*time.Millisecond)
	if undelivered != 1 || !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.Canceled) {
		t.Fatalf("CloseContext: %d undelivered, %v; want 1 and ErrTimedOut with context.Canceled", undelivered, err)
	}
}

// ProduceContext waits for room in a full queue until its context ends.
func TestProduceContextEndsOnCancellation(t *testing.T) {
	topic := fmt.Sprintf("go-full-%d", time.Now().UnixNano())
	kafkatest.Launcher(t, 1, "topic", topic, "1")
	kafkatest.Launcher(t, 1, "leader", topic, "0", "-1")
	p := newProducer(t, Options{"queue_max_messages": "1", "delivery_timeout_ms": "60000"}, nil)
	m := Message{Topic: topic, Partition: AnyPartition, Value: []byte("full")}
	if err := p.Produce(m, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(m, 0); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a second Produce: %v, want ErrQueueFull", err)
	}
	start := time.Now()
	err := p.ProduceContext(cancelAfter(t, 250*time.Millisecond), m)
	assertReturnedAround(t, "ProduceContext", start, 250*time.Millisecond)
	if err != context.Canceled || p.QueueLength() != 1 {
		t.Fatalf("ProduceContext: %v with %d queued; want context.Canceled and 1", err, p.QueueLength())
	}
}

// A synchronous send to a broker that never answers: SendMessagesContext
// and SendKeyedMessagesContext return at the cancellation and the
// deadline.
func TestSendMessagesContextEndsWhileTheBrokerDoesNotAnswer(t *testing.T) {
	p, err := NewProducer(silentCluster(t), slowOptions, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The producer's wakeup ended the sends: nothing of them goes on.
	t.Cleanup(func() { p.CloseTimeout(0) })
	start := time.Now()
	offsets, err := p.SendMessagesContext(cancelAfter(t, 250*time.Millisecond), "mytopic", []byte("never"))
	assertReturnedAround(t, "SendMessagesContext", start, 250*time.Millisecond)
	if offsets != nil || err != context.Canceled {
		t.Fatalf("SendMessagesContext: %v, %v; want context.Canceled", offsets, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = p.SendKeyedMessagesContext(ctx, "mytopic", []byte("k"), []byte("never"))
	assertReturnedAround(t, "SendKeyedMessagesContext", start, 250*time.Millisecond)
	if err != context.DeadlineExceeded {
		t.Fatalf("SendKeyedMessagesContext: %v, want context.DeadlineExceeded", err)
	}
}

// brokerDown takes broker id of local cluster 1 down until the test ends.
func brokerDown(t *testing.T, id string) {
	t.Helper()
	kafkatest.Launcher(t, 1, "down", id)
	t.Cleanup(func() { kafkatest.Launcher(t, 1, "up", id) })
}

// assertNoGoroutineLeft fails unless the goroutines go back to at most
// before within a moment: a call that returned left nothing running.
func assertNoGoroutineLeft(t *testing.T, what string, before int) {
	t.Helper()
	deadline := time.Now().Add(100 * time.Millisecond)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Errorf("%s left %d goroutines running", what, runtime.NumGoroutine()-before)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// With the partition's leader and the group's coordinator down, the sync
// sends and the commit return at their context's deadline, nothing of
// them goes on, and the same handles send and commit once the broker is
// back; a woken send's messages are delivered then.
func TestSendsAndCommitEndAtTheDeadlineWhileTheBrokerIsDown(t *testing.T) {
	const down = "3"
	topic := freshTopic(t, 1)
	kafkatest.Launcher(t, 1, "leader", topic, "0", down)
	config := groupConfig(t, Options{"offset_storage": "kafka", "auto_commit_enable": "false"})
	kafkatest.Launcher(t, 1, "coordinator", "group", config.GroupID, down)
	p := newProducer(t, Options{"retries": "1000000"}, nil)
	first, err := p.SendMessages(topic, []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewSimpleConsumer(config, topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	m, err := c.NextContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TaskDone(m); err != nil {
		t.Fatal(err)
	}

	brokerDown(t, down)
	const deadline = 300 * time.Millisecond
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"SendMessagesContext", func(ctx context.Context) error {
			_, err := p.SendMessagesContext(ctx, topic, []byte("down-0"), []byte("down-1"))
			return err
		}},
		{"SendKeyedMessagesContext", func(ctx context.Context) error {
			_, err := p.SendKeyedMessagesContext(ctx, topic, []byte("k"), []byte("down-2"))
			return err
		}},
		{"SendWithHeadersContext", func(ctx context.Context) error {
			_, err := p.SendWithHeadersContext(ctx, topic, 0, nil, []byte("down-3"), []Header{{Key: "h", Value: []byte("v")}})
			return err
		}},
		{"CommitContext", c.CommitContext},
	}
	for _, tc := range calls {
		before := runtime.NumGoroutine()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		err := tc.call(ctx)
		assertReturnedAround(t, tc.name, start, deadline)
		cancel()
		if err != context.DeadlineExceeded {
			t.Errorf("%s: %v, want context.DeadlineExceeded", tc.name, err)
		}
		assertNoGoroutineLeft(t, tc.name, before)
	}

	kafkatest.Launcher(t, 1, "up", down)
	after, err := p.SendMessages(topic, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if want := first[0] + 5; after[0] != want {
		t.Errorf("offset after the outage %d, want %d (the woken sends' four messages delivered before it)", after[0], want)
	}
	if err := c.Commit(); err != nil {
		t.Errorf("Commit once the coordinator is back: %v", err)
	}
}

// delayOffsetCommits pins the coordinator of group to broker 1 of cluster
// 1 (call it before the group's first request: a coordinator found is
// kept) and makes the next count OffsetCommit requests to it answer after
// delay.
func delayOffsetCommits(t *testing.T, group string, count int, delay time.Duration) {
	t.Helper()
	kafkatest.Launcher(t, 1, "coordinator", "group", group, "1")
	if count == 0 {
		return
	}
	const offsetCommit = "8"
	args := []string{"broker_errors", "1", offsetCommit}
	for i := 0; i < count; i++ {
		args = append(args, fmt.Sprintf("0:%d", delay.Milliseconds()))
	}
	kafkatest.Launcher(t, 1, args...)
}

// CommitContext and StopContext return at a cancellation while the offset
// storage takes its time (Kafka's, its answers delayed); the stop finishes
// in the background and releases the group.
func TestCommitAndStopContextEndWhileTheStorageIsSlow(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 2)
	config := groupConfig(t, Options{"offset_storage": "kafka", "auto_commit_enable": "true"})
	delayOffsetCommits(t, config.GroupID, 0, 0)
	g, err := NewConsumerGroup([]string{topic}, config, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if err := g.Start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := func() {
		t.Helper()
		m, err := g.NextContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.TaskDone(m); err != nil {
			t.Fatal(err)
		}
	}
	done()
	delayOffsetCommits(t, config.GroupID, 1, time.Second)
	start := time.Now()
	err = g.CommitContext(cancelAfter(t, 250*time.Millisecond))
	assertReturnedAround(t, "CommitContext", start, 250*time.Millisecond)
	if err != context.Canceled {
		t.Fatalf("CommitContext: %v, want context.Canceled", err)
	}
	// Something new for the stop to commit, and its commit slow too.
	done()
	delayOffsetCommits(t, config.GroupID, 1, time.Second)
	start = time.Now()
	err = g.StopContext(cancelAfter(t, 250*time.Millisecond))
	assertReturnedAround(t, "StopContext", start, 250*time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("StopContext: %v, want context.Canceled", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !errors.Is(g.Commit(), ErrClosedHandle) {
		if time.Now().After(deadline) {
			t.Fatal("the group was not released after StopContext")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
