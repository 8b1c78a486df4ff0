// Package yelpkafka is the Go binding of yelp_kafka, a Kafka client library
// with a C ABI (include/yelp_kafka.h): producers, ZooKeeper-balanced consumer
// groups, topic discovery and a pluggable metrics responder.
//
// The package calls the library through cgo and by default links
// libyelp_kafka.a statically (build it with `cargo build --release` at the
// repository root); the build tag yelpkafka_system links the installed
// shared library through pkg-config instead.
//
// Every failure is an *Error whose Code is also a sentinel usable with
// errors.Is (errors.Is(err, yelpkafka.ErrKafkaUnavailable)); IsRetriable says
// whether a plain retry may succeed.
//
// Both handles, Producer and ConsumerGroup, are io.Closers. Every call
// that waits has a Context variant (SendMessagesContext, ProduceContext,
// PollContext, FlushContext, CloseContext, StartContext, WaitAssignment,
// NextContext, NextBatch, Messages, CommitContext, StopContext), and each
// returns within a few milliseconds of its context's end, with or without
// a deadline and whatever the timeouts (consumer_timeout_ms=-1 included):
// a wait for messages or delivery reports is ended by the handle's
// wakeup, a wait for the group's allocation is repeated in 50 ms slices,
// and a request that the library cannot end (a synchronous send, a
// commit, a stop) is left to finish in the background. Each variant's doc
// says which. Options are a map (Options) or the typed ProducerOptions and
// ConsumerOptions.
//
// Callbacks (delivery reports, metrics) run on the goroutine that made the
// call that serves them (Poll, Flush, Close, SendMessages, ...), never on a
// thread of the library. A callback that calls back into the same handle
// gets ErrReentrant instead of a deadlock. A panic in a callback is caught
// at the C boundary and raised again from the call that ran the callback.
package yelpkafka
