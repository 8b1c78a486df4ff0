// Command bench measures the CPU the Go binding spends per message, for
// bench/parts/go.sh, which runs it beside the C API's own programs
// (bench/producer_bench.c, bench/message_path_bench.c) on one mock
// cluster and compares the medians.
//
//	bench producer BOOTSTRAP TOPIC COUNT SIZE LINGER_MS BATCH_BYTES [each|batch]
//	bench consumer BOOTSTRAP TOPIC COUNT [each|batch|reuse]
//
// producer does what `producer_bench yk throughput` does in C: one
// synchronous send to warm up (metadata, connections), then COUNT
// messages of SIZE bytes without key (on ErrQueueFull a Poll of 1 ms, and
// a Poll(0) every 1024 messages), delivery reports counted by the
// OnDelivery function, until Flush returns. The messages go through
// Produce one by one (each, the default, as the C program calls
// yk_producer_produce per message) or through ProduceBatch, 1024 at a
// time (batch).
//
// consumer does what `message_path_bench batch` does in C: a simple
// consumer of every partition of TOPIC, as a new group from the start,
// takes batches of up to 512 messages until COUNT came, looks at every
// field of each, and marks each done: NextBatch and one TaskDone per
// message (each, the default, as the C program calls yk_task_done per
// message), NextBatch and one TaskDoneBatch per batch (batch), or
// NextBatchInto one reused Batch and Batch.Done (reuse).
//
// Each prints `msgs_per_s=... cpu_s=... rss_kb=... library=go`, cpu_s
// being the user and system CPU of the whole process (the library's
// threads and Go's runtime included) during the measured part.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	yelpkafka "github.com/Yelp/libyelp_kafka/bindings/go"
)

func main() {
	if len(os.Args) < 6 {
		usage()
	}
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fail("BENCH_CPUPROFILE", err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if os.Getenv("BENCH_NOLOCK") == "" {
		runtime.LockOSThread()
	}
	mode, bootstrap, topic := os.Args[1], strings.Split(os.Args[2], ","), os.Args[3]
	count := number(os.Args[4])
	switch {
	case mode == "producer" && (len(os.Args) == 8 || len(os.Args) == 9):
		way := "each"
		if len(os.Args) == 9 {
			way = os.Args[8]
		}
		produce(bootstrap, topic, count, number(os.Args[5]), os.Args[6], os.Args[7], way)
	case mode == "consumer" && len(os.Args) <= 6:
		done := "each"
		if len(os.Args) == 6 {
			done = os.Args[5]
		}
		consume(bootstrap, topic, count, done)
	default:
		usage()
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bench producer BOOTSTRAP TOPIC COUNT SIZE LINGER_MS BATCH_BYTES [each|batch]\n"+
		"       bench consumer BOOTSTRAP TOPIC COUNT [each|batch|reuse]")
	os.Exit(2)
}

func number(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail("a number", err)
	}
	return n
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "bench: %s: %v\n", what, err)
	os.Exit(1)
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		fail("getrusage", err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

// threadCPUSeconds is the CPU of the calling thread (the goroutine is
// locked to it): where the calls into the library, and the binding's own
// work for each message, run.
func threadCPUSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &usage); err != nil {
		fail("getrusage", err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

func peakRSSKB() int64 {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return usage.Maxrss
}

func cluster(bootstrap []string) yelpkafka.ClusterConfig {
	c, err := yelpkafka.NewClusterConfig("bench", "bench", bootstrap, "")
	if err != nil {
		fail("cluster", err)
	}
	return c
}

func produce(bootstrap []string, topic string, count, size int, linger, batchBytes, way string) {
	producer, err := yelpkafka.NewProducer(cluster(bootstrap), yelpkafka.Options{
		"linger_ms": linger, "batch_size_bytes": batchBytes, "acks": "1", "enable_idempotence": "false",
		"compression": "none", "queue_max_messages": "100000",
	}, nil)
	if err != nil {
		fail("NewProducer", err)
	}
	delivered, failed := 0, 0
	producer.OnDelivery(func(r yelpkafka.DeliveryReport) {
		if r.Err == nil {
			delivered++
		} else {
			failed++
		}
	})
	if _, err := producer.SendMessages(topic, []byte("latency-probe")); err != nil {
		fail("SendMessages", err)
	}
	value := make([]byte, size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	message := yelpkafka.Message{Topic: topic, Partition: yelpkafka.AnyPartition, Value: value}
	full := 0
	batch := make([]yelpkafka.Message, 1024)
	for i := range batch {
		batch[i] = message
	}
	cpu0, thread0, t0 := cpuSeconds(), threadCPUSeconds(), time.Now()
	for i := 0; way == "batch" && i < count; i += len(batch) {
		pending := batch[:min(len(batch), count-i)]
		for len(pending) > 0 {
			n, err := producer.ProduceBatch(pending, 0)
			pending = pending[n:]
			if err != nil {
				if !yelpkafka.IsRetriable(err) {
					fail("ProduceBatch", err)
				}
				full++
				producer.Poll(time.Millisecond)
			}
		}
		producer.Poll(0)
	}
	for i := 0; way != "batch" && i < count; i++ {
		for {
			err := producer.Produce(message, 0)
			if err == nil {
				break
			}
			if !yelpkafka.IsRetriable(err) {
				fail("Produce", err)
			}
			full++
			producer.Poll(time.Millisecond)
		}
		if i&1023 == 0 {
			producer.Poll(0)
		}
	}
	if err := producer.Flush(120 * time.Second); err != nil {
		fail("Flush", err)
	}
	elapsed, cpu, thread := time.Since(t0), cpuSeconds()-cpu0, threadCPUSeconds()-thread0
	producer.CloseTimeout(10 * time.Second)
	fmt.Printf("msgs_per_s=%.0f cpu_s=%.3f thread_cpu_s=%.3f delivered=%d failed=%d queue_full=%d rss_kb=%d library=go\n",
		float64(count)/elapsed.Seconds(), cpu, thread, delivered, failed, full, peakRSSKB())
	if delivered != count {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// sink is what a reader does with every field, as the C program's.
var sink uint64

func consume(bootstrap []string, topic string, count int, done string) {
	group := fmt.Sprintf("bench-go-%d", time.Now().UnixNano())
	consumer, err := yelpkafka.NewSimpleConsumer(yelpkafka.ConsumerConfig{
		GroupID: group, Cluster: cluster(bootstrap),
		Options: yelpkafka.Options{"offset_storage": "kafka", "auto_offset_reset": "earliest",
			"api_version_caps": "ListOffsets:3"},
	}, topic, nil)
	if err != nil {
		fail("NewSimpleConsumer", err)
	}
	ctx := context.Background()
	cpu0, thread0, t0 := cpuSeconds(), threadCPUSeconds(), time.Now()
	if err := consumer.Connect(); err != nil {
		fail("Connect", err)
	}
	seen, batches := 0, 0
	var reused yelpkafka.Batch
	for done == "reuse" && seen < count {
		if err := consumer.NextBatchInto(ctx, &reused, 512); err != nil {
			fail("NextBatchInto", err)
		}
		for i := range reused.Messages {
			m := &reused.Messages[i]
			sink += uint64(m.Offset) + uint64(m.Partition) + uint64(len(m.Value)) + uint64(len(m.Key)) +
				uint64(m.Timestamp.UnixMilli()) + uint64(m.Topic[0])
		}
		if err := reused.Done(); err != nil {
			fail("Done", err)
		}
		seen += len(reused.Messages)
		batches++
	}
	for done != "reuse" && seen < count {
		batch, err := consumer.NextBatch(ctx, 512)
		if err != nil {
			fail("NextBatch", err)
		}
		for _, m := range batch {
			sink += uint64(m.Offset) + uint64(m.Partition) + uint64(len(m.Value)) + uint64(len(m.Key)) +
				uint64(m.Timestamp.UnixMilli()) + uint64(m.Topic[0])
			if done == "each" {
				if err := consumer.TaskDone(m); err != nil {
					fail("TaskDone", err)
				}
			}
		}
		if done == "batch" {
			if err := consumer.TaskDoneBatch(batch); err != nil {
				fail("TaskDoneBatch", err)
			}
		}
		seen += len(batch)
		batches++
	}
	elapsed, cpu, thread := time.Since(t0), cpuSeconds()-cpu0, threadCPUSeconds()-thread0
	fmt.Printf("msgs_per_s=%.0f cpu_s=%.3f thread_cpu_s=%.3f batches=%d rss_kb=%d sink=%d library=go\n",
		float64(seen)/elapsed.Seconds(), cpu, thread, batches, peakRSSKB(), sink%10)
	if err := consumer.Close(); err != nil {
		fail("Close", err)
	}
}
