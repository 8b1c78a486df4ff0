package yelpkafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"yelpkafka/internal/kafkatest"
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
