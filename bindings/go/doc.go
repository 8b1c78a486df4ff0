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
// Both handles, Producer and ConsumerGroup, are io.Closers. The calls that
// wait for brokers or the group have Context variants (SendMessagesContext,
// PollContext, FlushContext, CloseContext, StartContext, NextContext,
// NextBatch, Messages, CommitContext, StopContext) whose docs say how each
// honours its context: a deadline becomes the C call's timeout, and a call
// the C API cannot wake yet notices the context only before it starts or
// between attempts. Options are a map (Options) or the
// typed ProducerOptions and ConsumerOptions.
//
// Callbacks (delivery reports, metrics) run on the goroutine that made the
// call that serves them (Poll, Flush, Close, SendMessages, ...), never on a
// thread of the library. A callback that calls back into the same handle
// gets ErrReentrant instead of a deadlock. A panic in a callback is caught
// at the C boundary and raised again from the call that ran the callback.
package yelpkafka
