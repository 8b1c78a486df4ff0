// Command producer is Python yelp_kafka's producer example in Go.
//
// A service sends messages and, when the error is one that a retry can fix
// (a leader moved, a broker is briefly unavailable), tries again — Python
// yelp_kafka's `except (FailedPayloadsError, KafkaUnavailableError,
// LeaderNotAvailableError, NotLeaderForPartitionError): retry` loop. Then it
// sends keyed messages (same key, same partition) and finally produces
// asynchronously, collecting delivery reports.
//
// Usage:
//
//	producer [-bootstrap HOST:PORT,...] [-topic TOPIC] [-run WORD]
//
// -bootstrap defaults to $YK_KAFKA1 (the local cluster writes it:
// `scripts/cluster.sh up && . target/cluster/env`), -topic to "mytopic".
// -run adds a word to every message so that a reader can tell this run's
// messages from earlier ones.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	yelpkafka "github.com/Yelp/libyelp_kafka/bindings/go"
)

// asyncMessages is how many messages the asynchronous part produces.
const asyncMessages = 1000

func main() {
	bootstrap := flag.String("bootstrap", os.Getenv("YK_KAFKA1"), "comma-separated host:port list")
	topic := flag.String("topic", "mytopic", "topic to produce to")
	run := flag.String("run", "", "word added to every message")
	flag.Parse()
	if *bootstrap == "" {
		log.Fatal("set -bootstrap or YK_KAFKA1")
	}
	if err := produce(os.Stdout, strings.Split(*bootstrap, ","), *topic, *run); err != nil {
		log.Fatal(err)
	}
}

// value is a message value with the run's word, if any.
func value(text, run string) []byte {
	if run == "" {
		return []byte(text)
	}
	return []byte(text + " " + run)
}

// sendWithRetries is Python yelp_kafka's retry loop: up to attempts tries while the
// error is retriable.
func sendWithRetries(p *yelpkafka.Producer, topic string, attempts int, messages ...[]byte) ([]int64, error) {
	for attempt := 1; ; attempt++ {
		offsets, err := p.SendMessages(topic, messages...)
		if err == nil || !yelpkafka.IsRetriable(err) || attempt == attempts {
			return offsets, err
		}
		log.Printf("attempt %d: %v, retrying", attempt, err)
	}
}

func produce(out io.Writer, bootstrap []string, topic, run string) error {
	cluster, err := yelpkafka.NewClusterConfig("standard", "cluster1", bootstrap, "")
	if err != nil {
		return err
	}
	producer, err := yelpkafka.NewProducer(cluster, yelpkafka.Options{"client_id": "my-client-id", "acks": "all"}, nil)
	if err != nil {
		return err
	}
	defer func() {
		if undelivered, err := producer.CloseTimeout(5 * time.Second); err != nil {
			log.Printf("%d messages were not delivered: %v", undelivered, err)
		}
	}()

	// Python yelp_kafka: producer.send_messages("my_topic", "message1", "message2").
	offsets, err := sendWithRetries(producer, topic, 3, value("message1", run), value("message2", run))
	if err != nil {
		return fmt.Errorf("send_messages: %w", err)
	}
	fmt.Fprintf(out, "sent 2 messages to %s at offsets %d and %d\n", topic, offsets[0], offsets[1])

	// The keyed producer: every message with key "user-42" goes to one partition.
	key := "user-42"
	offsets, err = producer.SendKeyedMessages(topic, []byte(key), value("message1", run), value("message2", run))
	if err != nil {
		return fmt.Errorf("send_keyed_messages: %w", err)
	}
	fmt.Fprintf(out, "sent 2 keyed messages (key %s) at offsets %d and %d\n", key, offsets[0], offsets[1])

	// Asynchronous: Produce returns at once; reports come to OnDelivery's
	// function on the goroutine that calls Flush.
	delivered, failed := 0, 0
	producer.OnDelivery(func(r yelpkafka.DeliveryReport) {
		if r.Err != nil {
			failed++
			log.Printf("message %v not delivered: %v", r.Opaque, r.Err)
			return
		}
		delivered++
	})
	for i := 0; i < asyncMessages; i++ {
		m := yelpkafka.Message{Topic: topic, Partition: yelpkafka.AnyPartition, Value: value(fmt.Sprintf("async-%d", i), run), Opaque: i}
		if err := producer.Produce(m, -1); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	if err := producer.Flush(10 * time.Second); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	fmt.Fprintf(out, "produced %d messages asynchronously: %d delivered, %d failed\n", asyncMessages, delivered, failed)
	if delivered != asyncMessages {
		return errors.New("not every message was delivered")
	}
	return nil
}
