package yelpkafka

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

func groupConfig(t testing.TB, options Options) ConsumerConfig {
	t.Helper()
	zookeeper := os.Getenv("YK_ZOOKEEPER")
	if zookeeper == "" {
		t.Fatal("YK_ZOOKEEPER is unset: run scripts/cluster.sh up and source target/cluster/env")
	}
	cluster, err := NewClusterConfig("standard", "cluster1", kafkatest.Bootstrap(t, 1), zookeeper)
	if err != nil {
		t.Fatal(err)
	}
	all := Options{"partitioner_cooldown": "0.2", "consumer_timeout_ms": "100", "api_version_caps": "ListOffsets:3",
		"auto_offset_reset": "smallest"}
	for k, v := range options {
		all[k] = v
	}
	return ConsumerConfig{GroupID: "go-" + kafkatest.RunWord(t), Cluster: cluster, Options: all}
}

func TestAnUnknownConsumerOptionIsAConfigurationErrorNamingIt(t *testing.T) {
	_, err := NewConsumerGroup([]string{"other"}, groupConfig(t, Options{"bogus_option": "1"}), nil)
	if !errors.Is(err, ErrConfiguration) || !strings.Contains(err.Error(), "bogus_option") {
		t.Fatalf("got %v, want ErrConfiguration naming bogus_option", err)
	}
}

// A member alone acquires every partition (post-rebalance callback), reads
// and commits, gives them up on Stop (pre-rebalance callback); the group's
// metrics go to the responder; calls into the group from its callbacks
// fail with ErrReentrant.
func TestConsumerGroupRebalanceCallbacksMetricsAndReentrancy(t *testing.T) {
	producer := newProducer(t, nil, nil)
	if _, err := producer.SendMessages("other", []byte("for the group")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	var fromCallbacks []error
	var g *ConsumerGroup
	config := groupConfig(t, nil)
	config.PostRebalance = func(p []TopicPartition) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, "acquired "+partitionList(p))
		fromCallbacks = append(fromCallbacks, g.Commit())
	}
	config.PreRebalance = func(p []TopicPartition) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, "releasing "+partitionList(p))
		fromCallbacks = append(fromCallbacks, g.Stop(0))
	}
	responder := &recordingResponder{}
	var err error
	g, err = NewConsumerGroup([]string{"other"}, config, responder)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(g.Identifier(), "-") {
		t.Errorf("identifier %q", g.Identifier())
	}
	m, err := g.NextContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Topic != "other" || m.Partition != 0 || m.Value == nil {
		t.Errorf("message %+v", m)
	}
	if err := g.TaskDone(m); err != nil {
		t.Fatal(err)
	}
	if err := g.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := g.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Next(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("Next after Stop: %v, want ErrClosedHandle", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, "; ") != "acquired other-0; releasing other-0" {
		t.Errorf("rebalance callbacks: %q", events)
	}
	for i, err := range fromCallbacks {
		if !errors.Is(err, ErrReentrant) {
			t.Errorf("call %d from a rebalance callback: %v, want ErrReentrant", i, err)
		}
	}
	names := map[string]bool{}
	for _, e := range responder.emitters {
		names[e.name] = e.dimensions["group_id"] == config.GroupID
	}
	for _, name := range []string{"fetch_request_timer", "offset_commit_request_timer"} {
		if !names["yelp_kafka.KafkaConsumerGroup."+name] {
			t.Errorf("no emitter for %s with the group's id among %v", name, names)
		}
	}
}

func partitionList(partitions []TopicPartition) string {
	var names []string
	for _, p := range partitions {
		names = append(names, fmt.Sprintf("%s-%d", p.Topic, p.Partition))
	}
	return strings.Join(names, ",")
}

// NextContext goes on through consumer timeouts until its context ends.
func TestNextContextReturnsWhenTheContextEnds(t *testing.T) {
	config := groupConfig(t, Options{"auto_offset_reset": "largest"})
	g, err := NewConsumerGroup([]string{"other"}, config, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop(5 * time.Second)
	if err := g.Start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Next(); !errors.Is(err, ErrConsumerTimeout) || !IsRetriable(err) {
		t.Fatalf("Next with nothing new: %v, want a retriable ErrConsumerTimeout", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := g.NextContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NextContext: %v, want the context's deadline", err)
	}
	if waited := time.Since(start); waited < 400*time.Millisecond || waited > 2*time.Second {
		t.Errorf("NextContext returned after %v, want about 500ms", waited)
	}
}

// A panic in a rebalance callback comes out of the call that ran it.
func TestPanicInARebalanceCallbackIsRaisedFromStart(t *testing.T) {
	config := groupConfig(t, nil)
	config.PostRebalance = func([]TopicPartition) { panic("rebalance boom") }
	g, err := NewConsumerGroup([]string{"other"}, config, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop(5 * time.Second)
	defer func() {
		if r := recover(); r != "rebalance boom" {
			t.Errorf("Start raised %v, want the callback's panic", r)
		}
	}()
	g.Start(30 * time.Second)
}

// sendWord sends count messages "<word> <i>" to the single partition of
// "other" and returns the offset of the first.
func sendWord(t *testing.T, word string, count int) int64 {
	t.Helper()
	values := make([][]byte, count)
	for i := range values {
		values[i] = []byte(fmt.Sprintf("%s %d", word, i))
	}
	offsets, err := newProducer(t, nil, nil).SendMessages("other", values...)
	if err != nil {
		t.Fatal(err)
	}
	return offsets[0]
}

// startedGroup is a started member of a new group reading "other" from the
// beginning, closed when the test ends.
func startedGroup(t *testing.T, options Options) *ConsumerGroup {
	t.Helper()
	return startedGroupOf(t, groupConfig(t, options))
}

// startedGroupOf is a started member reading "other" with config, closed
// when the test ends.
func startedGroupOf(t *testing.T, config ConsumerConfig) *ConsumerGroup {
	t.Helper()
	g, err := NewConsumerGroup([]string{"other"}, config, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if err := g.Start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return g
}

// Messages hands out every message in order until its context ends, then
// closes the channel; wait says why it ended.
func TestMessagesChannelDeliversUntilTheContextEnds(t *testing.T) {
	word := kafkatest.RunWord(t)
	first := sendWord(t, word, 3)
	g := startedGroup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	messages, wait := g.Messages(ctx)
	var mine []string
	for m := range messages {
		if err := g.TaskDone(m); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(m.Value), word) {
			mine = append(mine, fmt.Sprintf("%d %s", m.Offset-first, m.Value))
			if len(mine) == 3 {
				cancel()
			}
		}
	}
	if err := wait(); err != context.Canceled {
		t.Errorf("wait: %v, want context.Canceled", err)
	}
	want := fmt.Sprintf("0 %[1]s 0; 1 %[1]s 1; 2 %[1]s 2", word)
	if got := strings.Join(mine, "; "); got != want {
		t.Errorf("messages %q, want %q", got, want)
	}
}

// After Stop the stream ends with ErrClosedHandle.
func TestMessagesChannelEndsWithTheGroupsError(t *testing.T) {
	g := startedGroup(t, Options{"auto_offset_reset": "largest"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	messages, wait := g.Messages(ctx)
	if err := g.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for range messages {
	}
	if err := wait(); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("wait: %v, want ErrClosedHandle", err)
	}
}

// NextBatch stops at max, or at the first consumer timeout after a message.
func TestNextBatchTakesUpToMaxMessages(t *testing.T) {
	word := kafkatest.RunWord(t)
	first := sendWord(t, word, 5)
	g := startedGroup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.NextBatch(ctx, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NextBatch(0): %v, want ErrInvalidArgument", err)
	}
	var offsets []int64
	for len(offsets) < 5 {
		batch, err := g.NextBatch(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 || len(batch) > 3 {
			t.Fatalf("a batch of %d messages, want 1 to 3", len(batch))
		}
		for _, m := range batch {
			if strings.HasPrefix(string(m.Value), word) {
				offsets = append(offsets, m.Offset-first)
			}
		}
	}
	if fmt.Sprint(offsets) != "[0 1 2 3 4]" {
		t.Errorf("offsets from the first %v, want [0 1 2 3 4]", offsets)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if batch, err := g.NextBatch(short, 3); !errors.Is(err, context.DeadlineExceeded) || batch != nil {
		t.Errorf("NextBatch with nothing left: %d messages, %v; want context.DeadlineExceeded", len(batch), err)
	}
}

// ConsumerOptions' earliest is the library's smallest: a new group reads
// what was produced before it started.
func TestTypedConsumerOptionsWithEarliestReadFromTheBeginning(t *testing.T) {
	word := kafkatest.RunWord(t)
	sendWord(t, word, 1)
	config := groupConfig(t, nil)
	config.Options = ConsumerOptions{
		ClientOptions:       ClientOptions{ClientID: "go-typed", APIVersionCaps: "ListOffsets:3"},
		AutoOffsetReset:     OffsetResetEarliest,
		PartitionerCooldown: Ptr(200 * time.Millisecond),
		ConsumerTimeout:     Ptr(100 * time.Millisecond),
	}.Options()
	g := startedGroupOf(t, config)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		m, err := g.NextContext(ctx)
		if err != nil {
			t.Fatalf("the message sent before the group started never came: %v", err)
		}
		if string(m.Value) == word+" 0" {
			return
		}
	}
}
