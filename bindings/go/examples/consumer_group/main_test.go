package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	yelpkafka "github.com/Yelp/libyelp_kafka/bindings/go"
	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

// produceRun produces count messages with the run's word to topic and
// returns "<partition> <offset> <value>" of each, from the delivery reports.
func produceRun(t *testing.T, bootstrap []string, topic, run string, count int) map[string]bool {
	t.Helper()
	cluster, err := yelpkafka.NewClusterConfig("standard", "local", bootstrap, "")
	if err != nil {
		t.Fatal(err)
	}
	producer, err := yelpkafka.NewProducer(cluster, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.CloseTimeout(5 * time.Second)
	produced := map[string]bool{}
	producer.OnDelivery(func(r yelpkafka.DeliveryReport) {
		if r.Err != nil {
			t.Errorf("message %v: %v", r.Opaque, r.Err)
		}
		produced[fmt.Sprintf("%d %d group message %d %s", r.Partition, r.Offset, r.Opaque, run)] = true
	})
	for i := 0; i < count; i++ {
		value := []byte(fmt.Sprintf("group message %d %s", i, run))
		if err := producer.Produce(yelpkafka.Message{Topic: topic, Partition: yelpkafka.AnyPartition, Value: value, Opaque: i}, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := producer.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if len(produced) != count {
		t.Fatalf("%d distinct delivered messages, want %d", len(produced), count)
	}
	return produced
}

// Two members of a new group, started together, split the two partitions
// of xmytopic one each, and together consume every message produced before
// exactly once (from the beginning: auto_offset_reset=smallest).
func TestConsumerGroupExampleMembersConsumeWhatWasProduced(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t, 1)
	zookeeper := os.Getenv("YK_ZOOKEEPER")
	if zookeeper == "" {
		t.Fatal("YK_ZOOKEEPER is unset: run scripts/cluster.sh up and source target/cluster/env")
	}
	run := kafkatest.RunWord(t)
	produced := produceRun(t, bootstrap, "xmytopic", run, 50)

	group := "go-example-" + run
	options := yelpkafka.Options{"partitioner_cooldown": "1", "auto_offset_reset": "smallest", "consumer_timeout_ms": "200"}
	outputs := make([]bytes.Buffer, 2)
	var members sync.WaitGroup
	for i := range outputs {
		members.Add(1)
		go func(out *bytes.Buffer) {
			defer members.Done()
			if _, err := consume(context.Background(), out, bootstrap, zookeeper, "xmytopic", group, options, 3*time.Second); err != nil {
				t.Errorf("member: %v", err)
			}
		}(&outputs[i])
	}
	members.Wait()

	consumed := map[string]int{}
	var acquired []string
	for i := range outputs {
		for _, line := range strings.Split(outputs[i].String(), "\n") {
			switch {
			case strings.HasPrefix(line, "acquired "):
				acquired = append(acquired, line)
			case strings.HasPrefix(line, "MSG xmytopic "):
				consumed[strings.TrimPrefix(line, "MSG xmytopic ")]++
			}
		}
	}
	sort.Strings(acquired)
	if strings.Join(acquired, ", ") != "acquired xmytopic-0, acquired xmytopic-1" {
		t.Errorf("the members acquired %q, want one partition each", acquired)
	}
	for message := range produced {
		if consumed[message] != 1 {
			t.Errorf("message %q (partition, offset, value) was consumed %d times, want once", message, consumed[message])
		}
	}
}
