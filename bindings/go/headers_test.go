package yelpkafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

func headersOf(m *ConsumerMessage) string {
	var out []string
	for _, h := range m.Headers {
		switch {
		case h.Value == nil:
			out = append(out, h.Key+"=<null>")
		default:
			out = append(out, fmt.Sprintf("%s=%q", h.Key, h.Value))
		}
	}
	return fmt.Sprint(out)
}

// Headers sent by Produce, ProduceBatch and SendWithHeaders (null and
// empty values included) come back on a simple consumer's messages and on
// a group's, in a NextBatch and in a reused Batch.
func TestHeadersTravelWithTheirMessages(t *testing.T) {
	topic := freshTopic(t, 1)
	p := newProducer(t, nil, nil)
	var reports []DeliveryReport
	p.OnDelivery(func(r DeliveryReport) { reports = append(reports, r) })
	headers := []Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: []byte{}}, {Key: "null"}}
	if err := p.Produce(Message{Topic: topic, Partition: 0, Value: []byte("produce"), Headers: headers, Opaque: 1}, -1); err != nil {
		t.Fatal(err)
	}
	batch := []Message{
		{Topic: topic, Partition: 0, Value: []byte("batch-1"), Headers: []Header{{Key: "n", Value: []byte("1")}}, Opaque: 2},
		{Topic: topic, Partition: AnyPartition, Key: []byte("k"), Value: []byte("batch-2"), Opaque: 3},
		{Topic: topic, Partition: 0, Value: nil, Headers: headers[:1], Opaque: 4},
	}
	if n, err := p.ProduceBatch(batch, -1); n != 3 || err != nil {
		t.Fatalf("ProduceBatch: %d, %v", n, err)
	}
	if err := p.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	offset, err := p.SendWithHeaders(topic, AnyPartition, []byte("key"), []byte("sent"), headers[1:])
	if err != nil || offset != 4 {
		t.Fatalf("SendWithHeaders: offset %d, %v; want 4", offset, err)
	}
	var opaques []int
	for _, r := range reports {
		if r.Err != nil || r.Topic != topic {
			t.Errorf("report %+v", r)
		}
		opaques = append(opaques, r.Opaque.(int))
	}
	sort.Ints(opaques)
	if fmt.Sprint(opaques) != "[1 2 3 4]" {
		t.Errorf("reports of %v, want 1 to 4", opaques)
	}
	want := map[int64]string{
		0: `produce [trace="abc" empty="" null=<null>]`,
		1: `batch-1 [n="1"]`,
		2: `batch-2 []`,
		3: `<null> [trace="abc"]`,
		4: `sent [empty="" null=<null>]`,
	}
	check := func(how string, m *ConsumerMessage) {
		value := string(m.Value)
		if m.Value == nil {
			value = "<null>"
		}
		got := value + " " + headersOf(m)
		if got != want[m.Offset] {
			t.Errorf("%s: message %d is %s, want %s", how, m.Offset, got, want[m.Offset])
		}
		if h, ok := m.Header("trace"); ok != (m.Offset == 0 || m.Offset == 3) || (ok && string(h) != "abc") {
			t.Errorf("%s: message %d Header(trace) = %q, %v", how, m.Offset, h, ok)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := simpleConsumer(t, topic, nil, nil)
	for read := 0; read < 5; {
		messages, err := c.NextBatch(ctx, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range messages {
			check("simple consumer", m)
		}
		read += len(messages)
	}

	g, err := NewConsumerGroup([]string{topic}, groupConfig(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.StartContext(ctx); err != nil {
		t.Fatal(err)
	}
	var b Batch
	for read := 0; read < 5; {
		if err := g.NextBatchInto(ctx, &b, 2); err != nil {
			t.Fatal(err)
		}
		for i := range b.Messages {
			check("group", &b.Messages[i])
		}
		read += len(b.Messages)
		if err := b.Done(); err != nil {
			t.Fatal(err)
		}
	}
}

// ProduceBatch stops at the first message that does not fit: it returns
// how many were queued, and the Opaque of the others is not kept.
func TestProduceBatchStopsWhenTheQueueIsFull(t *testing.T) {
	topic := freshTopic(t, 1)
	kafkatest.Launcher(t, 1, "leader", topic, "0", "-1")
	p, err := NewProducer(localCluster(t), Options{"queue_max_messages": "3", "delivery_timeout_ms": "60000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.CloseTimeout(0) })
	batch := make([]Message, 5)
	for i := range batch {
		batch[i] = Message{Topic: topic, Partition: 0, Value: []byte("x"), Opaque: i}
	}
	n, err := p.ProduceBatch(batch, 0)
	if n != 3 || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("ProduceBatch: %d, %v; want 3 and ErrQueueFull", n, err)
	}
	p.mu.Lock()
	pending := len(p.pending)
	p.mu.Unlock()
	if pending != 3 || p.QueueLength() != 3 {
		t.Errorf("%d opaques kept, %d queued; want 3 and 3", pending, p.QueueLength())
	}
	if n, err := p.ProduceBatch(nil, 0); n != 0 || err != nil {
		t.Errorf("an empty ProduceBatch: %d, %v", n, err)
	}
}

// A panic in the delivery function comes out of the call that served the
// reports, and every other report of that call is still delivered.
func TestAPanicingReportDoesNotLoseTheOthers(t *testing.T) {
	p := newProducer(t, Options{"linger_ms": "50"}, nil)
	var delivered []int
	p.OnDelivery(func(r DeliveryReport) {
		delivered = append(delivered, r.Opaque.(int))
		if r.Opaque.(int) == 0 {
			panic("first")
		}
	})
	for i := 0; i < 3; i++ {
		if err := p.Produce(Message{Topic: "mytopic", Partition: 0, Value: []byte("x"), Opaque: i}, -1); err != nil {
			t.Fatal(err)
		}
	}
	func() {
		defer func() {
			if r := recover(); r != "first" {
				t.Errorf("Flush raised %v, want the callback's panic", r)
			}
		}()
		p.Flush(10 * time.Second)
	}()
	sort.Ints(delivered)
	if fmt.Sprint(delivered) != "[0 1 2]" {
		t.Errorf("delivered %v, want all three", delivered)
	}
}
