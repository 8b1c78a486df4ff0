package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

// The example's messages, read back from the cluster by kcat: the two plain
// and the two keyed ones once each, the keyed ones together in one
// partition at the offsets the example printed, and every asynchronous one.
func TestProducerExampleMessagesAreConsumed(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t, 1)
	run := kafkatest.RunWord(t)
	var out bytes.Buffer
	if err := produce(&out, bootstrap, "mytopic", run); err != nil {
		t.Fatalf("producer example: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	keyedOffsets := regexp.MustCompile(`keyed messages \(key user-42\) at offsets (\d+) and (\d+)`).FindStringSubmatch(out.String())
	if keyedOffsets == nil {
		t.Fatalf("the example did not print the keyed offsets:\n%s", out.String())
	}

	seen := map[string]int{}
	var keyed []kafkatest.Record
	for _, r := range kafkatest.ReadTopic(t, bootstrap, "mytopic", run) {
		seen[r.Key+"|"+r.Value]++
		if r.Key == "user-42" {
			keyed = append(keyed, r)
		}
	}
	want := []string{"|message1 " + run, "|message2 " + run, "user-42|message1 " + run, "user-42|message2 " + run}
	for i := 0; i < asyncMessages; i++ {
		want = append(want, fmt.Sprintf("|async-%d %s", i, run))
	}
	for _, w := range want {
		if seen[w] != 1 {
			t.Errorf("message %q was consumed %d times, want once", w, seen[w])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("consumed %d distinct messages of this run, want %d", len(seen), len(want))
	}
	if len(keyed) != 2 || keyed[0].Partition != keyed[1].Partition {
		t.Fatalf("keyed messages are not both in one partition: %+v", keyed)
	}
	for i, r := range keyed {
		if strconv.FormatInt(r.Offset, 10) != keyedOffsets[i+1] {
			t.Errorf("keyed message %d is at offset %d, the example printed %s", i, r.Offset, keyedOffsets[i+1])
		}
	}
}
