package yelpkafka

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

func localCluster(t testing.TB) ClusterConfig {
	t.Helper()
	cluster, err := NewClusterConfig("standard", "cluster1", kafkatest.Bootstrap(t, 1), "")
	if err != nil {
		t.Fatal(err)
	}
	return cluster
}

func newProducer(t testing.TB, options Options, metrics MetricsResponder) *Producer {
	t.Helper()
	p, err := NewProducer(localCluster(t), options, metrics)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.CloseTimeout(5 * time.Second) })
	return p
}

// metric is the emitter recordingResponder hands out.
type metric struct {
	name       string
	kind       string
	dimensions map[string]string
}

// recordingResponder keeps every emitter asked for and every measurement.
type recordingResponder struct {
	mu       sync.Mutex
	emitters []*metric
	records  map[string][]float64
	// onRecord, when set, runs inside Record.
	onRecord func()
}

func (r *recordingResponder) emitter(name, kind string, dimensions map[string]string) interface{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &metric{name: name, kind: kind, dimensions: dimensions}
	r.emitters = append(r.emitters, m)
	return m
}

func (r *recordingResponder) CounterEmitter(name string, dimensions map[string]string) interface{} {
	return r.emitter(name, "counter", dimensions)
}

func (r *recordingResponder) TimerEmitter(name string, dimensions map[string]string) interface{} {
	return r.emitter(name, "timer", dimensions)
}

func (r *recordingResponder) Record(emitter interface{}, value float64, timestamp time.Time) {
	r.mu.Lock()
	if r.records == nil {
		r.records = map[string][]float64{}
	}
	m := emitter.(*metric)
	r.records[m.name] = append(r.records[m.name], value)
	onRecord := r.onRecord
	r.mu.Unlock()
	if time.Since(timestamp) > time.Minute || time.Until(timestamp) > time.Minute {
		panic(fmt.Sprintf("timestamp %v is not now", timestamp))
	}
	if onRecord != nil {
		onRecord()
	}
}

func (r *recordingResponder) recorded(name string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.records[name]...)
}

func TestMetricsResponderGetsTheProducerMetricsWithDimensions(t *testing.T) {
	responder := &recordingResponder{}
	p := newProducer(t, Options{"client_id": "go-metrics"}, responder)
	wantKinds := map[string]string{
		"yelp_kafka.YelpKafkaProducer.metadata_request_timer":  "timer",
		"yelp_kafka.YelpKafkaProducer.produce_request_timer":   "timer",
		"yelp_kafka.YelpKafkaProducer.produce_exception_count": "counter",
	}
	if len(responder.emitters) != len(wantKinds) {
		t.Fatalf("asked for %d emitters, want %d", len(responder.emitters), len(wantKinds))
	}
	for _, m := range responder.emitters {
		want := map[string]string{"client_id": "go-metrics", "cluster_type": "standard", "cluster_name": "cluster1"}
		if wantKinds[m.name] != m.kind || fmt.Sprint(m.dimensions) != fmt.Sprint(want) {
			t.Errorf("emitter %s (%s) with %v, want a %s with %v", m.name, m.kind, m.dimensions, wantKinds[m.name], want)
		}
	}
	if _, err := p.SendMessages("mytopic", []byte("measured")); err != nil {
		t.Fatal(err)
	}
	timings := responder.recorded("yelp_kafka.YelpKafkaProducer.produce_request_timer")
	if len(timings) == 0 || timings[0] < 0 {
		t.Fatalf("produce_request_timer recorded %v", timings)
	}
}

// Reports carry the message's Opaque, topic, partition and offset; a
// partition chosen by the caller is kept.
func TestDeliveryReportsCarryTheMessageOpaque(t *testing.T) {
	p := newProducer(t, nil, nil)
	type tag struct{ n int }
	reports := map[int]DeliveryReport{}
	p.OnDelivery(func(r DeliveryReport) { reports[r.Opaque.(*tag).n] = r })
	for i := 0; i < 10; i++ {
		m := Message{Topic: "mytopic", Partition: 2, Key: []byte{}, Value: []byte(fmt.Sprint(i)), Opaque: &tag{i}}
		if err := p.Produce(m, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r, ok := reports[i]
		if !ok || r.Err != nil || r.Topic != "mytopic" || r.Partition != 2 || r.Offset < 0 {
			t.Errorf("report of message %d: %+v (present %v)", i, r, ok)
		}
	}
	if n := p.QueueLength(); n != 0 {
		t.Errorf("queue length %d after flush", n)
	}
}

// Delivery and metrics callbacks that call back into their producer get
// ErrReentrant, and the call that runs them finishes.
func TestCallbacksCallingBackIntoTheProducerGetErrReentrant(t *testing.T) {
	responder := &recordingResponder{}
	p := newProducer(t, nil, responder)
	var mu sync.Mutex
	var fromDelivery, fromMetrics []error
	p.OnDelivery(func(DeliveryReport) {
		_, sendErr := p.SendMessages("mytopic", []byte("inner"))
		_, undelivered := p.CloseTimeout(0)
		mu.Lock()
		fromDelivery = append(fromDelivery, p.Produce(Message{Topic: "mytopic", Partition: AnyPartition}, 0),
			p.Flush(0), sendErr, undelivered)
		mu.Unlock()
	})
	responder.onRecord = func() {
		_, err := p.Poll(0)
		mu.Lock()
		fromMetrics = append(fromMetrics, err)
		mu.Unlock()
	}
	if err := p.Produce(Message{Topic: "mytopic", Partition: AnyPartition, Value: []byte("outer")}, -1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	responder.mu.Lock()
	responder.onRecord = nil
	responder.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if len(fromDelivery) != 4 || len(fromMetrics) == 0 {
		t.Fatalf("callbacks ran %d and %d calls, want 4 and at least 1", len(fromDelivery), len(fromMetrics))
	}
	for i, err := range append(fromDelivery, fromMetrics...) {
		if !errors.Is(err, ErrReentrant) {
			t.Errorf("call %d from a callback: %v, want ErrReentrant", i, err)
		}
	}
	if _, err := p.SendMessages("mytopic", []byte("after")); err != nil {
		t.Errorf("the producer is unusable after re-entrant calls: %v", err)
	}
}

// Synchronous sends, asynchronous produces and polls from many goroutines
// at once (go test -race checks the binding's own state).
func TestProducerIsUsableFromManyGoroutines(t *testing.T) {
	p := newProducer(t, Options{"linger_ms": "2"}, &recordingResponder{})
	var delivered sync.WaitGroup
	p.OnDelivery(func(r DeliveryReport) {
		if r.Err != nil {
			t.Errorf("message %v: %v", r.Opaque, r.Err)
		}
		delivered.Done()
	})
	const goroutines, each = 4, 25
	delivered.Add(goroutines * each)
	var senders sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		senders.Add(1)
		go func(g int) {
			defer senders.Done()
			for i := 0; i < each; i++ {
				value := []byte(fmt.Sprintf("goroutine %d message %d", g, i))
				if _, err := p.SendKeyedMessages("xmytopic", []byte(fmt.Sprint(g)), value); err != nil {
					t.Error(err)
				}
				if err := p.Produce(Message{Topic: "xmytopic", Partition: AnyPartition, Value: value, Opaque: i}, -1); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	done := make(chan struct{})
	go func() { delivered.Wait(); close(done) }()
	for polling := true; polling; {
		select {
		case <-done:
			polling = false
		default:
			if _, err := p.Poll(10 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	senders.Wait()
}

// A panic in a delivery callback does not cross the library: it comes out
// of the Go call that ran the callback, and the producer stays usable.
func TestPanicInACallbackIsRaisedFromTheCallThatRanIt(t *testing.T) {
	p := newProducer(t, nil, nil)
	p.OnDelivery(func(DeliveryReport) { panic("boom") })
	if err := p.Produce(Message{Topic: "mytopic", Partition: AnyPartition, Value: []byte("x")}, -1); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("Flush raised %v, want the callback's panic", r)
			}
		}()
		p.Flush(10 * time.Second)
	}()
	p.OnDelivery(nil)
	if _, err := p.SendMessages("mytopic", []byte("y")); err != nil {
		t.Errorf("the producer is unusable after a callback panicked: %v", err)
	}
}

// Every report of a poll is delivered, in order, when the OnDelivery
// function panics on one of them; the panic comes out of the call that
// served them, once (a panic(nil) is dropped, as a recover sees nothing).
func TestReportsAfterAPanickingOneAreStillDelivered(t *testing.T) {
	for _, raised := range []interface{}{"boom", nil} {
		p := newProducer(t, Options{"linger_ms": "1000"}, nil)
		var seen []interface{}
		p.OnDelivery(func(r DeliveryReport) {
			seen = append(seen, r.Opaque)
			if r.Opaque == 1 {
				panic(raised)
			}
		})
		for i := 0; i < 3; i++ {
			m := Message{Topic: "other", Partition: 0, Value: []byte("x"), Opaque: i}
			if err := p.Produce(m, -1); err != nil {
				t.Fatal(err)
			}
		}
		func() {
			defer func() {
				if r := recover(); r != raised {
					t.Errorf("Flush raised %v, want %v", r, raised)
				}
			}()
			p.Flush(10 * time.Second)
		}()
		if fmt.Sprint(seen) != "[0 1 2]" {
			t.Errorf("panicking with %v: reports delivered for %v, want [0 1 2]", raised, seen)
		}
		if err := p.Flush(time.Second); err != nil {
			t.Errorf("a second Flush: %v (the panic is raised once)", err)
		}
	}
}

// Produce and ProduceBatch return each failure with its own details
// (yk_last_error_*, which the library keeps per OS thread), whichever
// goroutines fail at once and whatever threads they move between.
func TestProduceFailuresKeepTheirDetailsAcrossGoroutines(t *testing.T) {
	topic := fmt.Sprintf("go-full-details-%d", time.Now().UnixNano())
	kafkatest.Launcher(t, 1, "topic", topic, "1")
	kafkatest.Launcher(t, 1, "leader", topic, "0", "-1")
	p := newProducer(t, Options{"queue_max_messages": "1", "delivery_timeout_ms": "60000",
		"message_max_bytes": "1000"}, nil)
	small := Message{Topic: topic, Partition: AnyPartition, Value: []byte("full")}
	large := Message{Topic: topic, Partition: AnyPartition, Value: make([]byte, 2000)}
	if err := p.Produce(small, 0); err != nil {
		t.Fatal(err)
	}
	// What each failure reads when made alone.
	_, fullErr := p.ProduceBatch([]Message{small}, 0)
	largeErr := p.Produce(large, 0)
	var full, tooLarge *Error
	if !errors.As(fullErr, &full) || full.Code != ErrQueueFull || !errors.As(largeErr, &tooLarge) ||
		tooLarge.Code == ErrQueueFull || full.Message == tooLarge.Message ||
		!strings.Contains(full.Message, "yk_producer_produce") || tooLarge.Retriable() == full.Retriable() {
		t.Fatalf("the two failures alone: %#v and %#v; want ErrQueueFull and another code, "+
			"messages naming the call that differ, and retriable ones apart", fullErr, largeErr)
	}
	var goroutines sync.WaitGroup
	for g := 0; g < 4; g++ {
		goroutines.Add(1)
		go func(g int) {
			defer goroutines.Done()
			for i := 0; i < 200; i++ {
				var err error
				want := full
				switch (g + i) % 3 {
				case 0:
					err = p.Produce(small, 0)
				case 1:
					_, err = p.ProduceBatch([]Message{small}, 0)
				default:
					err, want = p.Produce(large, 0), tooLarge
				}
				var got *Error
				if !errors.As(err, &got) || got.Code != want.Code || got.Message != want.Message ||
					got.KafkaCode != want.KafkaCode || got.Retriable() != want.Retriable() {
					t.Errorf("goroutine %d, call %d: %#v, want %#v", g, i, err, want)
					return
				}
				runtime.Gosched()
			}
		}(g)
	}
	goroutines.Wait()
}

// Close counts what it could not deliver in time and fails what is still
// queued with ErrClosedHandle (ErrTimedOut when any are left): every
// message is delivered, or counted as undelivered; afterwards every call is
// ErrClosedHandle.
func TestCloseReportsWhatItCouldNotDeliver(t *testing.T) {
	// Messages wait in the queue for a batch that is not full.
	p, err := NewProducer(localCluster(t), Options{"linger_ms": "60000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	delivered, failed := 0, 0
	p.OnDelivery(func(r DeliveryReport) {
		switch {
		case r.Err == nil:
			delivered++
		case errors.Is(r.Err, ErrClosedHandle):
			failed++
		default:
			t.Errorf("a message left at Close was reported with %v, want ErrClosedHandle", r.Err)
		}
	})
	const messages = 100
	for i := 0; i < messages; i++ {
		if err := p.Produce(Message{Topic: "mytopic", Partition: AnyPartition, Value: []byte("lost")}, 0); err != nil {
			t.Fatal(err)
		}
	}
	undelivered, err := p.CloseTimeout(0)
	if (undelivered == 0) != (err == nil) || (err != nil && !errors.Is(err, ErrTimedOut)) {
		t.Errorf("Close: %d undelivered, %v; want ErrTimedOut exactly when some are left", undelivered, err)
	}
	if delivered+undelivered != messages || failed > undelivered {
		t.Errorf("%d delivered, %d undelivered (%d reported failed) of %d messages", delivered, undelivered, failed, messages)
	}
	if _, err := p.SendMessages("mytopic", []byte("late")); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("SendMessages after Close: %v, want ErrClosedHandle", err)
	}
	if _, err := p.CloseTimeout(0); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("second Close: %v, want ErrClosedHandle", err)
	}
}

// Produce takes no part in the guard's count, so a closed producer's
// library handle is freed by the collector once no Produce can reach it
// (producerLibrary): goroutines produce through the Close and after it,
// getting ErrClosedHandle, while the handle stays; once they are done and
// the Producer is unreachable it is freed, though its delivery callback
// refers to it. The emitters the library asked for are let go when the
// handle is freed (ykGoFreeEmitter), so their finalizers say when that
// happened.
func TestAClosedProducerIsFreedOnceNoProduceCanReachIt(t *testing.T) {
	var freed atomic.Int32
	p, err := NewProducer(localCluster(t), Options{"linger_ms": "1"}, freeWatchingResponder{&freed})
	if err != nil {
		t.Fatal(err)
	}
	self := p
	p.OnDelivery(func(DeliveryReport) { _ = self.QueueLength() })
	stop := make(chan struct{})
	var producers sync.WaitGroup
	var refused atomic.Int32
	for g := 0; g < 4; g++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := p.Produce(Message{Topic: "xmytopic", Partition: AnyPartition, Value: []byte("racing")}, 0)
				switch {
				case errors.Is(err, ErrClosedHandle):
					refused.Add(1)
				case err != nil && !errors.Is(err, ErrQueueFull):
					t.Errorf("Produce around Close: %v", err)
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	// No flush: requests still in flight are answered after Close, their
	// timers recorded for the library's free to deliver, which must not
	// reach the application's responder then.
	if _, err := p.CloseTimeout(0); err != nil && !errors.Is(err, ErrTimedOut) {
		t.Errorf("Close: %v", err)
	}
	for i, deadline := 0, time.Now().Add(10*time.Second); (i < 5 || refused.Load() == 0) && time.Now().Before(deadline); i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if refused.Load() == 0 {
		t.Error("no Produce after Close was refused with ErrClosedHandle")
	}
	if n := freed.Load(); n != 0 {
		t.Errorf("%d emitters let go while goroutines still produce to the closed producer", n)
	}
	close(stop)
	producers.Wait()
	p = nil
	for deadline := time.Now().Add(10 * time.Second); freed.Load() == 0 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if freed.Load() == 0 {
		t.Error("the closed, unreachable producer was never freed")
	}
}

// freeWatchingResponder counts the emitters it handed out that were
// collected.
type freeWatchingResponder struct{ freed *atomic.Int32 }

// watchedEmitter has a pointer field so that it is never one of the
// collector's tiny allocations, whose finalizers may not run.
type watchedEmitter struct{ name string }

func (r freeWatchingResponder) emitter(name string) interface{} {
	e := &watchedEmitter{name: name}
	runtime.SetFinalizer(e, func(*watchedEmitter) { r.freed.Add(1) })
	return e
}

func (r freeWatchingResponder) CounterEmitter(metric string, _ map[string]string) interface{} {
	return r.emitter(metric)
}

func (r freeWatchingResponder) TimerEmitter(metric string, _ map[string]string) interface{} {
	return r.emitter(metric)
}

func (freeWatchingResponder) Record(interface{}, float64, time.Time) {}

// The ready descriptor is readable while reports wait; Poll(0) serves
// them. A group's descriptor exists from the start.
func TestReadyDescriptorsForEventLoops(t *testing.T) {
	p := newProducer(t, nil, nil)
	fd := p.ReadyFD()
	if fd < 0 {
		t.Fatalf("ReadyFD: %d", fd)
	}
	if readable(t, fd, 0) {
		t.Error("readable with nothing produced")
	}
	if err := p.Produce(Message{Topic: "mytopic", Partition: AnyPartition, Value: []byte("ready")}, -1); err != nil {
		t.Fatal(err)
	}
	if !readable(t, fd, 10*time.Second) {
		t.Fatal("never readable with a report waiting")
	}
	if served, err := p.Poll(0); served != 1 || err != nil {
		t.Errorf("Poll(0): %d, %v", served, err)
	}
	if readable(t, fd, 0) {
		t.Error("still readable once the report was served")
	}
	g := startedGroup(t, nil)
	if g.ReadyFD() < 0 {
		t.Errorf("the group's ReadyFD: %d", g.ReadyFD())
	}
	g.Close()
	if g.ReadyFD() != -1 {
		t.Errorf("ReadyFD of a released group: %d, want -1", g.ReadyFD())
	}
}

// benchProducer is a producer to local cluster 1 whose reports are counted,
// for the benchmarks below.
func benchProducer(b *testing.B) (*Producer, *int) {
	cluster, err := NewClusterConfig("standard", "cluster1", kafkatest.Bootstrap(b, 1), "")
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewProducer(cluster, Options{"linger_ms": "5", "queue_max_messages": "100000"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.CloseTimeout(5 * time.Second) })
	delivered := new(int)
	p.OnDelivery(func(r DeliveryReport) {
		if r.Err == nil {
			*delivered++
		}
	})
	return p, delivered
}

// BenchmarkProduce is Produce per message of 100 B, its reports served
// every 1,024 messages and at the end (bench/parts/go.sh's producer loop):
// with -benchmem, what the binding allocates per message (nothing).
func BenchmarkProduce(b *testing.B) {
	p, delivered := benchProducer(b)
	m := Message{Topic: "mytopic", Partition: AnyPartition, Value: make([]byte, 100)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for {
			err := p.Produce(m, 0)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			p.Poll(time.Millisecond)
		}
		if i&1023 == 0 {
			p.Poll(0)
		}
	}
	if err := p.Flush(time.Minute); err != nil || *delivered != b.N {
		b.Fatalf("Flush: %v, %d of %d delivered", err, *delivered, b.N)
	}
}

// BenchmarkProduceBatch is BenchmarkProduce through ProduceBatch, 1,024
// messages a call.
func BenchmarkProduceBatch(b *testing.B) {
	p, delivered := benchProducer(b)
	batch := make([]Message, 1024)
	for i := range batch {
		batch[i] = Message{Topic: "mytopic", Partition: AnyPartition, Value: make([]byte, 100)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		pending := batch
		if left := b.N - i; left < len(pending) {
			pending = pending[:left]
		}
		for len(pending) > 0 {
			n, err := p.ProduceBatch(pending, 0)
			pending = pending[n:]
			if err != nil && !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			if err != nil {
				p.Poll(time.Millisecond)
			}
		}
		p.Poll(0)
	}
	if err := p.Flush(time.Minute); err != nil || *delivered != b.N {
		b.Fatalf("Flush: %v, %d of %d delivered", err, *delivered, b.N)
	}
}
