package yelpkafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

// noCountCommit keeps the library's automatic commits to the timer, set
// far away unless a test sets it: only the calls under test commit.
var noCountCommit = Options{"auto_commit_interval_messages": "0", "auto_commit_interval_ms": "600000"}

// takeAll takes count messages from c.
func takeAll(t *testing.T, c *Consumer, count int) []*ConsumerMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var all []*ConsumerMessage
	for len(all) < count {
		batch, err := c.NextBatch(ctx, count-len(all))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}
	return all
}

// markAll marks messages done with c.TaskDone.
func markAll(t *testing.T, c *Consumer, messages []*ConsumerMessage) {
	t.Helper()
	for _, m := range messages {
		if err := c.TaskDone(m); err != nil {
			t.Fatal(err)
		}
	}
}

// committedOf is what group committed on partition 0 of topic.
func committedOf(t *testing.T, o *Offsets, group, topic string) int64 {
	t.Helper()
	rows, err := o.Current(context.Background(), group, Topics{topic: {0}}, true)
	if err != nil || len(rows) != 1 {
		t.Fatalf("committed offsets: %+v, %v", rows, err)
	}
	return rows[0].Committed
}

// TaskDone's marks wait in Go; Close, which commits, hands over every mark
// made before it, and so does Commit.
func TestConsumerMarksMadeBeforeCommitAndCloseAreCommitted(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 20)
	o := newOffsets(t, Options{"offset_storage": "kafka"})
	c, group := simpleConsumerOf(t, topic, nil, noCountCommit)
	messages := takeAll(t, c, 20)
	markAll(t, c, messages[:5])
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := committedOf(t, o, group, topic); got != 5 {
		t.Errorf("after 5 marks and Commit: committed %d, want 5", got)
	}
	markAll(t, c, messages[5:12])
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := committedOf(t, o, group, topic); got != 12 {
		t.Errorf("after 12 marks and Close: committed %d, want 12", got)
	}
	if err := c.TaskDone(messages[12]); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("TaskDone after Close: %v, want ErrClosedHandle", err)
	}
}

// A mark reaches the library within moments even when no call of the
// consumer follows: the automatic commit by time includes it.
func TestConsumerMarksReachTheAutomaticCommitWithoutAnotherCall(t *testing.T) {
	topic := freshTopic(t, 1)
	fillTopic(t, topic, 1, 10)
	o := newOffsets(t, Options{"offset_storage": "kafka"})
	c, group := simpleConsumerOf(t, topic, nil,
		Options{"auto_commit_interval_messages": "0", "auto_commit_interval_ms": "100"})
	markAll(t, c, takeAll(t, c, 10))
	waitFor(t, "the automatic commit of 10 marks", 10*time.Second, func() bool {
		return committedOf(t, o, group, topic) == 10
	})
}

// A group's Stop commits the marks made before it.
func TestConsumerGroupMarksMadeBeforeStopAreCommitted(t *testing.T) {
	word := kafkatest.RunWord(t)
	first := sendWord(t, word, 3)
	config := groupConfig(t, noCountCommit)
	g := startedGroupOf(t, config)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for mine := 0; mine < 3; {
		batch, err := g.NextBatch(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			if err := g.TaskDone(m); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(string(m.Value), word) {
				mine++
			}
		}
	}
	if err := g.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	o, err := NewOffsets(config.Cluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rows, err := o.Current(ctx, config.GroupID, Topics{"other": {0}}, true)
	if err != nil || len(rows) != 1 || rows[0].Committed != first+3 {
		t.Errorf("committed %+v, %v; want %d", rows, err, first+3)
	}
}

// queueWith is a mark queue whose handover is doneAll, on a guard of its
// own and with its timer armed far away (only the test's calls flush),
// and count messages of a block of it that is never released in full.
func queueWith(doneAll func(messages []uintptr) (int, error), count int) (*markQueue, []*ConsumerMessage) {
	q := &markQueue{guard: &handleGuard{what: "test", panics: &panicBox{}, free: func() {}}, doneAll: doneAll,
		timer: time.AfterFunc(time.Hour, func() {}), armed: true}
	block := &messageBlock{outstanding: int32(count) + 1, marks: q, count: count}
	slab := make([]ConsumerMessage, count)
	messages := make([]*ConsumerMessage, count)
	for i := range slab {
		slab[i] = ConsumerMessage{message: uintptr(i + 1), block: block, index: uint16(i)}
		messages[i] = &slab[i]
	}
	return q, messages
}

// A commit from the handle's own callback (ErrReentrant) hands nothing
// over and keeps the marks queued, claimed, for the next call; another
// failure gives the claims back past the messages marked.
func TestMarkQueueKeepsItsMarksOnReentrancyAndGivesBackFailedOnes(t *testing.T) {
	var handed [][]uintptr
	q, messages := queueWith(func(handles []uintptr) (int, error) {
		handed = append(handed, append([]uintptr(nil), handles...))
		if len(handed) == 1 {
			return 0, &Error{Code: ErrReentrant}
		}
		return len(handles), nil
	}, 2)
	for _, m := range messages {
		if err := q.add(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.flush(); !errors.Is(err, ErrReentrant) {
		t.Fatalf("flush from a callback: %v, want ErrReentrant", err)
	}
	if len(q.blocks) != 1 || messages[0].done != doneQueued || messages[1].done != doneQueued {
		t.Fatalf("after ErrReentrant: %d blocks queued, done %d %d; want 1 block, both queued",
			len(q.blocks), messages[0].done, messages[1].done)
	}
	if err := q.flush(); err != nil || len(q.blocks) != 0 {
		t.Fatalf("second flush: %v, %d blocks left queued", err, len(q.blocks))
	}
	if err := q.flush(); err != nil {
		t.Fatalf("third flush, of nothing: %v", err)
	}
	if fmt.Sprint(handed) != "[[1 2] [1 2]]" {
		t.Errorf("handed over %v, want [[1 2] [1 2]]", handed)
	}
	q, messages = queueWith(func(handles []uintptr) (int, error) { return 1, &Error{Code: ErrWrongState} }, 2)
	for _, m := range messages {
		if err := q.add(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.flush(); !errors.Is(err, ErrWrongState) {
		t.Fatalf("failing flush: %v, want ErrWrongState", err)
	}
	if messages[0].done != doneQueued || messages[1].done != doneNot || len(q.blocks) != 0 {
		t.Errorf("after a failure past the first: done %d %d, %d blocks queued; want %d %d 0",
			messages[0].done, messages[1].done, len(q.blocks), doneQueued, doneNot)
	}
}

// A mark made while a flush runs is handed over by that flush or by the
// next one, never lost and never handed over twice: many goroutines mark
// while others flush.
func TestMarkQueueHandsEveryMarkOverOnceUnderConcurrentFlushes(t *testing.T) {
	const count = 4096
	var mu sync.Mutex
	seen := map[uintptr]int{}
	q, messages := queueWith(func(handles []uintptr) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range handles {
			seen[h]++
		}
		return len(handles), nil
	}, count)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				q.flush()
			}
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < count; i += 4 {
				if err := q.add(messages[i]); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	if err := q.flush(); err != nil {
		t.Fatal(err)
	}
	for i := range messages {
		if n := seen[uintptr(i+1)]; n != 1 {
			t.Fatalf("message %d handed over %d times, want once", i, n)
		}
	}
}
