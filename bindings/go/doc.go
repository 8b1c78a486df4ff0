// Package yelpkafka is the Go binding of yelp_kafka, a Kafka client library
// with a C ABI (include/yelp_kafka.h): producers, ZooKeeper-balanced consumer
// groups, plain and simple consumers, offsets and lag, topic discovery and a
// pluggable metrics responder. It binds the whole C API (coverage_test.go
// lists the few C functions it replaces by others, and why).
//
// The handles:
//
//   - Producer: SendMessages, SendKeyedMessages and SendWithHeaders
//     (synchronous), Produce and ProduceBatch with Poll, Flush and the
//     OnDelivery function (asynchronous), message headers.
//   - ConsumerGroup: Python yelp_kafka's KafkaConsumerGroup; Start or
//     StartContext, WaitAssignment, Next, NextBatch, NextBatchInto,
//     Messages, TaskDone, Commit, Stop; rebalance callbacks.
//   - Consumer: the plain consumer of topics (NewConsumer), the simple
//     consumer of partitions of a topic (NewSimpleConsumer), and a
//     process worker's consumer (WorkerConsumer).
//   - CallbackGroup: a group member that calls a function per message.
//   - MultiprocessingGroup: a worker per partition, as a thread running a
//     Worker (NewThreadGroup) or as a process (NewProcessGroup).
//   - Offsets: committed offsets, watermarks, lag, advance, rewind, set.
//   - Topology, DiscoverTopics, SearchTopic, SearchTopicsByRegex.
//
// Every handle is an io.Closer. Messages are copied into Go memory in one
// call into the library per batch (NextBatch, with TaskDoneBatch to mark
// them), or into a reused Batch that allocates nothing per message
// (NextBatchInto, Batch.Done): BENCHMARKS.md compares their CPU per message
// with the C API's.
//
// The package calls the library through cgo and by default links
// libyelp_kafka.a statically: inside a checkout it finds the archive in
// target/release (`cargo build --release` at the repository root),
// elsewhere in a directory named with CGO_LDFLAGS=-L<dir> (the installed
// library's lib/, `make install`). The build tag yelpkafka_system links the
// installed shared library through pkg-config instead. The package carries
// its own copy of yelp_kafka.h, so it builds vendored too (README.md,
// "Using from Go").
//
// Every failure is an *Error whose Code is also a sentinel usable with
// errors.Is (errors.Is(err, yelpkafka.ErrKafkaUnavailable)); IsRetriable says
// whether a plain retry may succeed.
//
// Every call that waits has a Context variant (SendMessagesContext,
// ProduceContext, PollContext, FlushContext, CloseContext, StartContext,
// WaitAssignment, NextContext, NextBatch, NextBatchInto, Messages,
// ConnectContext, CommitContext, StopContext, RunContext, the Offsets
// methods, DiscoverTopicsContext, ...), and each returns within a few
// milliseconds of its context's end, with or without a deadline and
// whatever the timeouts (consumer_timeout_ms=-1 included): a wait for
// messages, delivery reports, a synchronous send's acknowledgement or a
// commit's answer is ended by the handle's wakeup (the send's messages and
// the commit may still land), a wait for the group's allocation is
// repeated in 50 ms slices, and a request that the library cannot end (a
// connect, an offsets or discovery request, a stop) is left to finish in
// the background. The
// exception is RunContext, which stops its group gracefully (its workers
// commit and leave) before it returns. Each variant's doc says which.
// Options are a map (Options) or the typed ProducerOptions and
// ConsumerOptions.
//
// Callbacks (delivery reports, metrics, rebalances, a CallbackGroup's
// function) run on the goroutine that made the call that serves them
// (Poll, Flush, Close, SendMessages, Next, Run, ...), never on a thread of
// the library, with one exception by design: the Worker methods of a
// thread-worker MultiprocessingGroup run on its worker threads, several at
// once (docs/c-abi.md). A callback that calls back into the same handle
// gets ErrReentrant instead of a deadlock. A panic in a callback is caught
// at the C boundary and raised again from the call that ran the callback
// (a Worker's from Run).
package yelpkafka
