// Command consumer_group is Python yelp_kafka's KafkaConsumerGroup loop in Go.
//
// Start this program several times (on one host or many): the instances
// split the partitions of the topic between them through ZooKeeper, with
// each other and with Python yelp_kafka members of the same group, and each
// message is processed by one of them. The loop is Python yelp_kafka's:
//
//	while True:
//	    with KafkaConsumerGroup([topic], config) as consumer:
//	        for message in consumer:   # ConsumerTimeout: just go on
//	            process(message); consumer.task_done(message)
//	    # PartitionerError (ZooKeeper lost): leave the `with`, start over
//
// Retriable errors (a leader moved, a broker briefly away) are retried;
// auto-commit commits processed messages every 100 TaskDone calls, before
// partitions are given up in a rebalance, and on Stop. SIGINT or SIGTERM
// stops the member gracefully (the others take its partitions over after
// partitioner_cooldown).
//
// Usage:
//
//	consumer_group [-bootstrap HOST:PORT,...] [-zookeeper HOST:PORT[/CHROOT]]
//	               [-topic TOPIC] [-group GROUP] [-idle-exit DURATION] [key=value ...]
//
// -bootstrap and -zookeeper default to $YK_KAFKA1 and $YK_ZOOKEEPER (the
// local cluster writes them: scripts/cluster.sh up && . target/cluster/env),
// -topic to "mytopic", -group to "group-example"; key=value arguments set
// consumer options (partitioner_cooldown=1, auto_offset_reset=smallest, ...).
// With -idle-exit the member stops after that long without a message. Each
// message is printed as "MSG <topic> <partition> <offset> <value>",
// rebalances as "acquired ..." / "releasing ...".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	yelpkafka "github.com/Yelp/libyelp_kafka/bindings/go"
)

func main() {
	bootstrap := flag.String("bootstrap", os.Getenv("YK_KAFKA1"), "comma-separated host:port list")
	zookeeper := flag.String("zookeeper", os.Getenv("YK_ZOOKEEPER"), "ZooKeeper connect string")
	topic := flag.String("topic", "mytopic", "topic to consume")
	group := flag.String("group", "group-example", "consumer group id")
	idleExit := flag.Duration("idle-exit", 0, "stop after this long without a message (0: never)")
	flag.Parse()
	if *bootstrap == "" || *zookeeper == "" {
		log.Fatal("set -bootstrap and -zookeeper, or YK_KAFKA1 and YK_ZOOKEEPER")
	}
	options := yelpkafka.Options{}
	for _, arg := range flag.Args() {
		key, value, ok := strings.Cut(arg, "=")
		if !ok {
			log.Fatalf("option %s is not key=value", arg)
		}
		options[key] = value
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	consumed, err := consume(ctx, os.Stdout, strings.Split(*bootstrap, ","), *zookeeper, *topic, *group, options, *idleExit)
	fmt.Printf("consumed %d messages\n", consumed)
	if err != nil {
		log.Fatal(err)
	}
}

func printPartitions(out io.Writer, what string, partitions []yelpkafka.TopicPartition) {
	fmt.Fprint(out, what)
	for _, p := range partitions {
		fmt.Fprintf(out, " %s-%d", p.Topic, p.Partition)
	}
	if len(partitions) == 0 {
		fmt.Fprint(out, " nothing")
	}
	fmt.Fprintln(out)
}

// consume runs Python yelp_kafka's loop until ctx is done, idleExit passes without a
// message, or an error that no retry fixes; it returns how many messages it
// processed.
func consume(ctx context.Context, out io.Writer, bootstrap []string, zookeeper, topic, groupID string,
	options yelpkafka.Options, idleExit time.Duration) (int, error) {
	cluster, err := yelpkafka.NewClusterConfig("standard", "local", bootstrap, zookeeper)
	if err != nil {
		return 0, err
	}
	// Debian's librdkafka 2.0.2 mock (the local cluster) mis-encodes ListOffsets v4/v5.
	all := yelpkafka.Options{"api_version_caps": "ListOffsets:3"}
	for k, v := range options {
		all[k] = v
	}
	config := yelpkafka.ConsumerConfig{
		GroupID: groupID, Cluster: cluster, Options: all,
		// Pre-rebalance: the partitions given up (their offsets are committed next).
		PreRebalance: func(p []yelpkafka.TopicPartition) { printPartitions(out, "releasing", p) },
		// Post-rebalance: the partitions acquired; no message came in between.
		PostRebalance: func(p []yelpkafka.TopicPartition) { printPartitions(out, "acquired", p) },
	}
	consumed := 0
	for ctx.Err() == nil {
		group, err := yelpkafka.NewConsumerGroup([]string{topic}, config, nil)
		if err != nil {
			return consumed, err
		}
		if err := group.Start(time.Minute); err != nil && !errors.Is(err, yelpkafka.ErrTimedOut) {
			// ZooKeeper or Kafka unreachable: wait and create the group again.
			log.Printf("start: %v", err)
			group.Stop(0)
			time.Sleep(time.Second)
			continue
		}
		fmt.Fprintf(out, "member %s started\n", group.Identifier())
		err = process(ctx, out, group, idleExit, &consumed)
		if stopErr := group.Stop(10 * time.Second); stopErr != nil {
			log.Printf("stop: %v", stopErr)
		}
		switch {
		case errors.Is(err, yelpkafka.ErrPartitioner):
			log.Printf("%v: creating the group again", err) // Python yelp_kafka's outer loop
		case err != nil:
			return consumed, err
		default:
			return consumed, nil
		}
	}
	return consumed, nil
}

// process takes messages until ctx is done or idleExit passes without one;
// retriable errors are retried, others returned.
func process(ctx context.Context, out io.Writer, group *yelpkafka.ConsumerGroup, idleExit time.Duration,
	consumed *int) error {
	lastMessage := time.Now()
	for ctx.Err() == nil {
		message, err := group.Next()
		switch {
		case err == nil:
			// "Processing": print the message and where it came from.
			fmt.Fprintf(out, "MSG %s %d %d %s\n", message.Topic, message.Partition, message.Offset, message.Value)
			if err := group.TaskDone(message); err != nil {
				log.Printf("task_done: %v", err)
			}
			*consumed++
			lastMessage = time.Now()
		case errors.Is(err, yelpkafka.ErrConsumerTimeout):
			if idleExit > 0 && time.Since(lastMessage) > idleExit {
				return nil
			}
		case !yelpkafka.IsRetriable(err):
			return err
		}
	}
	return nil
}
