package yelpkafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

var _ io.Closer = (*Offsets)(nil)

func newOffsets(t *testing.T, options Options) *Offsets {
	t.Helper()
	o, err := NewOffsets(localCluster(t), options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func rowsOf(rows []PartitionOffsets, field func(PartitionOffsets) int64) string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d:%d", r.Partition, field(r)))
	}
	return strings.Join(out, " ")
}

// Watermarks, the lag of a group that committed nothing, then Set,
// Rewind and Advance, each read back with Current and the distances.
func TestOffsetsReadAndMoveAGroup(t *testing.T) {
	topic := freshTopic(t, 2)
	fillTopic(t, topic, 2, 10) // 5 messages per partition
	o := newOffsets(t, Options{"offset_storage": "kafka", "api_version_caps": "ListOffsets:3"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	group := fmt.Sprintf("go-offsets-%d", time.Now().UnixNano())
	high := func(r PartitionOffsets) int64 { return r.HighWatermark }
	committed := func(r PartitionOffsets) int64 { return r.Committed }
	lag := func(r PartitionOffsets) int64 { return r.Lag }

	marks, err := o.Watermarks(ctx, Topics{topic: nil}, true)
	if err != nil || rowsOf(marks, high) != "0:5 1:5" || marks[0].LowWatermark != 0 || marks[0].Topic != topic {
		t.Fatalf("watermarks %+v, %v", marks, err)
	}
	if one, err := o.Watermarks(ctx, Topics{topic: {1}}, true); err != nil || rowsOf(one, high) != "1:5" {
		t.Errorf("watermarks of partition 1: %+v, %v", one, err)
	}
	distance, err := o.OffsetDistance(ctx, group, topic, nil)
	if err != nil || rowsOf(distance, lag) != "0:5 1:5" {
		t.Errorf("the lag of a new group: %+v, %v", distance, err)
	}
	set, err := o.Set(ctx, group, []TopicPartitionOffset{{topic, 0, 2}, {topic, 1, 4}}, true)
	if err != nil || rowsOf(set, committed) != "0:2 1:4" {
		t.Fatalf("Set: %+v, %v", set, err)
	}
	if current, err := o.Current(ctx, group, Topics{topic: nil}, true); err != nil || rowsOf(current, committed) != "0:2 1:4" {
		t.Errorf("Current after Set: %+v, %v", current, err)
	}
	if distance, err := o.TopicsOffsetDistance(ctx, group, Topics{topic: nil}); err != nil || rowsOf(distance, lag) != "0:3 1:1" {
		t.Errorf("the lag after Set: %+v, %v", distance, err)
	}
	if distance, err := o.OffsetDistance(ctx, group, topic, []int32{1}); err != nil || rowsOf(distance, lag) != "1:1" {
		t.Errorf("the lag of partition 1: %+v, %v", distance, err)
	}
	if rewound, err := o.Rewind(ctx, group, Topics{topic: {0}}, true); err != nil || rowsOf(rewound, committed) != "0:0" {
		t.Errorf("Rewind: %+v, %v", rewound, err)
	}
	if advanced, err := o.Advance(ctx, group, Topics{topic: nil}, true); err != nil || rowsOf(advanced, committed) != "0:5 1:5" {
		t.Errorf("Advance: %+v, %v", advanced, err)
	}
	if current, err := o.Current(ctx, group, Topics{topic: nil}, true); err != nil || rowsOf(current, committed) != "0:5 1:5" {
		t.Errorf("Current after Advance: %+v, %v", current, err)
	}
	unknown := Topics{"go-no-such-topic-" + fmt.Sprint(time.Now().UnixNano()): nil}
	if _, err := o.Current(ctx, group, unknown, true); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("an unknown topic with raiseOnError: %v, want ErrUnknownTopic", err)
	}
	if rows, err := o.Current(ctx, group, unknown, false); err != nil || len(rows) != 0 {
		t.Errorf("an unknown topic without raiseOnError: %+v, %v; want nothing", rows, err)
	}
	if _, err := o.Current(ctx, "bad/group", Topics{topic: nil}, true); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a group id holding /: %v, want ErrInvalidArgument", err)
	}
}

// A request to a broker that never answers returns at the context's end.
func TestOffsetsCallsEndWithTheirContext(t *testing.T) {
	o, err := NewOffsets(silentCluster(t), Options{"offset_storage": "kafka", "connect_timeout_ms": "60000",
		"metadata_timeout_ms": "60000", "request_timeout_ms": "60000"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { go o.Close() })
	start := time.Now()
	if _, err := o.Watermarks(cancelAfter(t, 250*time.Millisecond), Topics{"mytopic": nil}, true); err != context.Canceled {
		t.Errorf("Watermarks: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "Watermarks", start, 250*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := o.OffsetDistance(ctx, "g", "mytopic", nil); err != context.DeadlineExceeded {
		t.Errorf("OffsetDistance: %v, want context.DeadlineExceeded", err)
	}
	assertReturnedAround(t, "OffsetDistance", start, 250*time.Millisecond)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Watermarks(context.Background(), Topics{"mytopic": nil}, true); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("after Close: %v, want ErrClosedHandle", err)
	}
}
