package yelpkafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

var _ io.Closer = (*Consumer)(nil)

// freshTopic is a new topic of cluster 1 with partitions partitions.
func freshTopic(t *testing.T, partitions int) string {
	t.Helper()
	topic := fmt.Sprintf("go-%s-%d", strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()), time.Now().UnixNano()%1e9)
	kafkatest.Launcher(t, 1, "topic", topic, fmt.Sprint(partitions))
	return topic
}

// fillTopic sends count messages "<i>" with key "k<i>" to partition i%partitions of topic.
func fillTopic(t *testing.T, topic string, partitions, count int) {
	t.Helper()
	p := newProducer(t, nil, nil)
	for i := 0; i < count; i++ {
		m := Message{Topic: topic, Partition: int32(i % partitions), Key: []byte(fmt.Sprintf("k%d", i)),
			Value: []byte(fmt.Sprint(i))}
		if err := p.Produce(m, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// simpleConsumer is a connected simple consumer of topic from the start,
// in a new group (Kafka's offset storage), closed when the test ends.
func simpleConsumer(t testing.TB, topic string, partitions []int32, options Options) *Consumer {
	c, _ := simpleConsumerOf(t, topic, partitions, options)
	return c
}

// simpleConsumerOf is simpleConsumer and its group id.
func simpleConsumerOf(t testing.TB, topic string, partitions []int32, options Options) (*Consumer, string) {
	t.Helper()
	all := Options{"auto_offset_reset": "earliest", "offset_storage": "kafka"}
	for k, v := range options {
		all[k] = v
	}
	config := groupConfig(t, all)
	c, err := NewSimpleConsumer(config, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	return c, config.GroupID
}

func values(messages []*ConsumerMessage) []string {
	var out []string
	for _, m := range messages {
		out = append(out, string(m.Value))
	}
	sort.Strings(out)
	return out
}

// The simple consumer reads every message of its partitions once, with
// every field; the keys and values stay the program's after the batch
// they came in was marked done and its memory taken again.
func TestSimpleConsumerReadsEveryMessageWithItsFields(t *testing.T) {
	topic := freshTopic(t, 2)
	fillTopic(t, topic, 2, 40)
	c := simpleConsumer(t, topic, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var all []*ConsumerMessage
	for len(all) < 40 {
		batch, err := c.NextBatch(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 || len(batch) > 7 {
			t.Fatalf("a batch of %d", len(batch))
		}
		if err := c.TaskDoneBatch(batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
		runtime.GC()
	}
	seen := map[string]bool{}
	for _, m := range all {
		if m.Topic != topic || m.Offset < 0 || m.Timestamp.IsZero() || time.Since(m.Timestamp) > time.Hour ||
			m.TimestampType != TimestampCreateTime || string(m.Key) != "k"+string(m.Value) ||
			fmt.Sprint(m.Partition) != fmt.Sprint(atoi(t, string(m.Value))%2) {
			t.Errorf("message %+v", *m)
		}
		seen[string(m.Value)] = true
	}
	if len(seen) != 40 || len(all) != 40 {
		t.Errorf("%d messages, %d distinct, want 40", len(all), len(seen))
	}
	// Nothing more: NextContext waits until its deadline.
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if _, err := c.NextContext(short); err != context.DeadlineExceeded {
		t.Errorf("NextContext at the end: %v, want context.DeadlineExceeded", err)
	}
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// Next, GetMessage and NextContext each take one message; a simple
// consumer of one partition reads only it.
func TestSimpleConsumerOfOnePartitionAndTheSingleMessageCalls(t *testing.T) {
	topic := freshTopic(t, 2)
	fillTopic(t, topic, 2, 6) // partition 1: 1, 3, 5
	c := simpleConsumer(t, topic, []int32{1}, Options{"consumer_timeout_ms": "5000"})
	next := func(take func() (*ConsumerMessage, error)) string {
		m, err := take()
		if err != nil {
			t.Fatal(err)
		}
		if m.Partition != 1 {
			t.Errorf("a message of partition %d", m.Partition)
		}
		if err := m.TaskDone(); err != nil {
			t.Fatal(err)
		}
		return string(m.Value)
	}
	got := []string{
		next(c.Next),
		next(func() (*ConsumerMessage, error) { return c.GetMessage(true, 5*time.Second) }),
		next(func() (*ConsumerMessage, error) { return c.NextContext(context.Background()) }),
	}
	if strings.Join(got, " ") != "1 3 5" {
		t.Errorf("messages %v, want 1 3 5", got)
	}
	if _, err := c.GetMessage(false, 0); !errors.Is(err, ErrConsumerTimeout) {
		t.Errorf("GetMessage(false) with nothing left: %v, want ErrConsumerTimeout", err)
	}
	start := time.Now()
	if _, err := c.GetMessage(true, 200*time.Millisecond); !errors.Is(err, ErrConsumerTimeout) {
		t.Errorf("GetMessage(true, 200ms): %v, want ErrConsumerTimeout", err)
	}
	assertReturnedAround(t, "GetMessage", start, 200*time.Millisecond)
}

// NewConsumer reads every partition of several topics; Messages streams
// them; the ready descriptor is readable while messages wait.
func TestConsumerOfSeveralTopicsStreamsThem(t *testing.T) {
	first, second := freshTopic(t, 1), freshTopic(t, 2)
	fillTopic(t, first, 1, 3)
	fillTopic(t, second, 2, 4)
	c, err := NewConsumer(groupConfig(t, Options{"auto_offset_reset": "earliest", "offset_storage": "kafka"}),
		[]string{first, second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fd := c.ReadyFD()
	if fd < 0 {
		t.Fatalf("ReadyFD: %d", fd)
	}
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(); !errors.Is(err, ErrWrongState) {
		t.Errorf("a second Connect: %v, want ErrWrongState", err)
	}
	if !readable(t, fd, 10*time.Second) {
		t.Fatal("the ready descriptor never became readable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	messages, wait := c.Messages(ctx)
	count := map[string]int{}
	for m := range messages {
		count[m.Topic]++
		if err := c.TaskDone(m); err != nil {
			t.Fatal(err)
		}
		if count[first]+count[second] == 7 {
			cancel()
		}
	}
	if err := wait(); err != context.Canceled {
		t.Errorf("wait: %v", err)
	}
	if count[first] != 3 || count[second] != 4 {
		t.Errorf("messages per topic %v, want 3 and 4", count)
	}
}

// readable polls fd for up to timeout.
func readable(t *testing.T, fd int, timeout time.Duration) bool {
	t.Helper()
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (uint(fd) % 64)
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// A reused Batch allocates nothing per message: its messages are valid
// until it is filled again; Done marks them and lets the next fill take
// the library's batch again.
func TestNextBatchIntoReusesTheBatch(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 30)
	c, group := simpleConsumerOf(t, topic, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b Batch
	var got []string
	for len(got) < 30 {
		if err := c.NextBatchInto(ctx, &b, 8); err != nil {
			t.Fatal(err)
		}
		if len(b.Messages) == 0 || len(b.Messages) > 8 {
			t.Fatalf("a batch of %d", len(b.Messages))
		}
		for i := range b.Messages {
			got = append(got, string(b.Messages[i].Value))
		}
		if err := b.Done(); err != nil {
			t.Fatal(err)
		}
		if err := b.Done(); err != nil {
			t.Errorf("Done twice: %v", err)
		}
	}
	for i, v := range got {
		if v != fmt.Sprint(i) {
			t.Fatalf("messages %v, want 0..29 in order", got)
		}
	}
	c.blocks.mu.Lock()
	idle := len(c.blocks.idle[8])
	c.blocks.mu.Unlock()
	if idle == 0 {
		t.Error("no library batch went back to the pool after Done")
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	o := newOffsets(t, Options{"offset_storage": "kafka"})
	current, err := o.Current(ctx, group, Topics{topic: nil}, true)
	if err != nil || len(current) != 1 || current[0].Committed != 30 {
		t.Errorf("committed %+v, %v; want 30", current, err)
	}
}

// NextBatch copies a batch's keys and values into memory the batch
// shares: each is a slice of its own length and capacity, so a program
// that appends to one gets a copy and the next message's bytes stay.
func TestNextBatchMessagesDoNotShareTheirBytesWithEachOther(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 10)
	c := simpleConsumer(t, topic, nil, nil)
	batch := takeAll(t, c, 10)
	for i, m := range batch {
		if cap(m.Key) != len(m.Key) || cap(m.Value) != len(m.Value) {
			t.Fatalf("message %d: key %d/%d, value %d/%d bytes (length/capacity)", i, len(m.Key), cap(m.Key),
				len(m.Value), cap(m.Value))
		}
		_ = append(m.Key, 'x')
		_ = append(m.Value, 'x')
	}
	for i, m := range batch {
		if string(m.Key) != fmt.Sprintf("k%d", i) || string(m.Value) != fmt.Sprint(i) {
			t.Errorf("message %d: key %q value %q, want k%d and %d", i, m.Key, m.Value, i, i)
		}
	}
}

// Commit stops at the first message not marked done; CommitPartitions
// commits only those named; CommitMessage marks up to its message.
func TestConsumerCommitsStopAtTheFirstMessageNotDone(t *testing.T) {
	topic := freshTopic(t, 2)
	fillTopic(t, topic, 2, 8) // partition 0: 0 2 4 6; partition 1: 1 3 5 7
	config := groupConfig(t, Options{"auto_offset_reset": "earliest", "offset_storage": "kafka", "auto_commit_enable": "false"})
	c, err := NewSimpleConsumer(config, topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	byValue := map[string]*ConsumerMessage{}
	for len(byValue) < 8 {
		batch, err := c.NextBatch(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			byValue[string(m.Value)] = m
		}
	}
	for _, v := range []string{"0", "2", "6", "1"} {
		if err := c.TaskDone(byValue[v]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CommitPartitions([]TopicPartition{{Topic: topic, Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	o := newOffsets(t, Options{"offset_storage": "kafka"})
	committed := func() string {
		rows, err := o.Current(ctx, config.GroupID, Topics{topic: nil}, true)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%d:%d", r.Partition, r.Committed))
		}
		return strings.Join(out, " ")
	}
	if got := committed(); got != "0:2 1:0" {
		t.Errorf("after CommitPartitions(0): %s, want 0:2 1:0", got)
	}
	if err := c.CommitMessage(byValue["5"]); err != nil {
		t.Fatal(err)
	}
	if got := committed(); got != "0:2 1:3" {
		t.Errorf("after CommitMessage(5): %s, want 0:2 1:3", got)
	}
	if err := c.TaskDone(byValue["4"]); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := committed(); got != "0:4 1:3" {
		t.Errorf("after Commit: %s, want 0:4 1:3", got)
	}
}

// Close ends a goroutine waiting for a message (ErrClosedHandle), and a
// message's own TaskDone after Close is ErrClosedHandle.
func TestConsumerCloseEndsAWaitingCall(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 1)
	c := simpleConsumer(t, topic, nil, Options{"consumer_timeout_ms": "-1"})
	m, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Next()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosedHandle) {
			t.Errorf("the waiting Next: %v, want ErrClosedHandle", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting Next")
	}
	// Close commits before it returns (a broker round trip, slower under
	// -race on a loaded machine), so "at once" here is well under the
	// consumer's timeouts rather than the 100 ms of the interrupt tests.
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("the waiting Next returned %v after Close began, want under 1s", waited)
	}
	if err := m.TaskDone(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("TaskDone after Close: %v, want ErrClosedHandle", err)
	}
	if err := c.Close(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("a second Close: %v, want ErrClosedHandle", err)
	}
}

// Interrupt paths of the consumer: NextContext, NextBatch, NextBatchInto
// and Messages end on a cancellation without a deadline whatever
// consumer_timeout_ms is; ConnectContext ends while the broker does not
// answer, and closes the consumer.
func TestConsumerReadsEndOnCancellation(t *testing.T) {
	topic := freshTopic(t, 1)
	c := simpleConsumer(t, topic, nil, Options{"consumer_timeout_ms": "-1"})
	start := time.Now()
	if _, err := c.NextContext(cancelAfter(t, 250*time.Millisecond)); err != context.Canceled {
		t.Errorf("NextContext: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "NextContext", start, 250*time.Millisecond)
	start = time.Now()
	if _, err := c.NextBatch(cancelAfter(t, 250*time.Millisecond), 10); err != context.Canceled {
		t.Errorf("NextBatch: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "NextBatch", start, 250*time.Millisecond)
	var b Batch
	start = time.Now()
	if err := c.NextBatchInto(cancelAfter(t, 250*time.Millisecond), &b, 10); err != context.Canceled || len(b.Messages) != 0 {
		t.Errorf("NextBatchInto: %v, %d messages; want context.Canceled", err, len(b.Messages))
	}
	assertReturnedAround(t, "NextBatchInto", start, 250*time.Millisecond)
	deadline, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.NextContext(deadline); err != context.DeadlineExceeded {
		t.Errorf("NextContext with a deadline: %v, want context.DeadlineExceeded", err)
	}
	assertReturnedAround(t, "NextContext", start, 250*time.Millisecond)
	start = time.Now()
	messages, wait := c.Messages(cancelAfter(t, 250*time.Millisecond))
	for range messages {
		t.Error("a message came")
	}
	if err := wait(); err != context.Canceled {
		t.Errorf("Messages: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "Messages", start, 250*time.Millisecond)

	silent, err := NewSimpleConsumer(ConsumerConfig{GroupID: "go-silent", Cluster: silentCluster(t),
		Options: Options{"offset_storage": "kafka", "connect_timeout_ms": "60000", "metadata_timeout_ms": "60000",
			"request_timeout_ms": "60000"}},
		"mytopic", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start = time.Now()
	if err := silent.ConnectContext(cancelAfter(t, 250*time.Millisecond)); err != context.Canceled {
		t.Errorf("ConnectContext: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "ConnectContext", start, 250*time.Millisecond)
	// The consumer is closed, in the background.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := silent.GetMessage(false, 0)
		if errors.Is(err, ErrClosedHandle) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after an ended ConnectContext: %v, want ErrClosedHandle", err)
		}
	}
}

// CommitContext returns at a cancellation while the storage takes its time.
func TestConsumerCommitContextEndsWhileTheStorageIsSlow(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 1)
	config := groupConfig(t, Options{"auto_offset_reset": "earliest", "offset_storage": "kafka"})
	delayOffsetCommits(t, config.GroupID, 1, time.Second)
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
	start := time.Now()
	if err := c.CommitContext(cancelAfter(t, 250*time.Millisecond)); err != context.Canceled {
		t.Errorf("CommitContext: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "CommitContext", start, 250*time.Millisecond)
}

func TestWorkerConsumerOutsideAWorkerIsAConfigurationError(t *testing.T) {
	for _, name := range []string{"YK_WORKER_TOPIC", "YK_WORKER_PARTITION", "YK_WORKER_GROUP_ID", "YK_WORKER_CONFIG"} {
		t.Setenv(name, "")
	}
	if _, err := WorkerConsumer(); !errors.Is(err, ErrConfiguration) {
		t.Errorf("WorkerConsumer: %v, want ErrConfiguration", err)
	}
}

// BenchmarkNextBatch reads b.N messages of 100 B from a topic of 16
// partitions through NextBatch of 512 and marks each done with the
// consumer's TaskDone (bench/parts/go.sh's "each" consumer): with
// -benchmem, what the binding allocates per message, and allocs/batch,
// how many allocations a batch takes (the runtime's count over the
// reads, divided by the batches read). Run it with
// -benchtime=Nx (N up to about 700,000: the mock keeps about 5 MB a
// partition).
func BenchmarkNextBatch(b *testing.B) {
	topic := fmt.Sprintf("go-bench-next-batch-%d", time.Now().UnixNano()%1e9)
	kafkatest.Launcher(b, 1, "topic", topic, "16")
	p := newProducer(b, nil, nil)
	value := make([]byte, 100)
	for i := 0; i < b.N; i++ {
		if err := p.Produce(Message{Topic: topic, Partition: int32(i % 16), Value: value}, -1); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(time.Minute); err != nil {
		b.Fatal(err)
	}
	c := simpleConsumer(b, topic, nil, nil)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	batches := 0
	for read := 0; read < b.N; batches++ {
		batch, err := c.NextBatch(ctx, 512)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range batch {
			if err := c.TaskDone(m); err != nil {
				b.Fatal(err)
			}
		}
		read += len(batch)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(batches), "allocs/batch")
}
