package yelpkafka

// #include <stdlib.h>
// #include "callbacks.h"
import "C"

import (
	"context"
	"errors"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// AnyPartition lets the producer choose the partition of a Message: murmur2
// of the key (as the Java client and librdkafka), or round-robin without one.
const AnyPartition int32 = -1

// Message is one message for Producer.Produce.
type Message struct {
	Topic string
	// Partition is the target partition, or AnyPartition.
	Partition int32
	// Key is nil for no key.
	Key []byte
	// Value is nil for a null value.
	Value []byte
	// Headers are the record's headers, in order (none: nil); a nil
	// Value is a null value.
	Headers []Header
	// Opaque comes back in the message's DeliveryReport.
	Opaque interface{}
}

// DeliveryReport says what became of one message given to Produce.
type DeliveryReport struct {
	Topic     string
	Partition int32
	// Offset is the message's offset, −1 when unknown (acks=0) or on failure.
	Offset int64
	// Opaque is the Message's Opaque.
	Opaque interface{}
	// Err is nil when the broker acknowledged the message, else an *Error.
	Err error
}

// Producer sends messages to one cluster: synchronously, like Python yelp_kafka's
// YelpKafkaSimpleProducer and YelpKafkaKeyedProducer (SendMessages,
// SendKeyedMessages), or asynchronously with batching and delivery reports
// (Produce, then Poll or Flush). Usable from several goroutines at once.
// Close it (an io.Closer), or CloseTimeout or CloseContext, to deliver what
// is queued and release it: Close ends its sending, and what the library
// still holds for it (its memory, its idle broker connections) is freed
// once the collector finds the Producer unreachable, when no Produce can
// be using it (BENCHMARKS.md, "The Go binding", says why).
type Producer struct {
	// handle is library.producer, read here by every call without going
	// through library, which exists for the finalizer's free.
	handle *C.yk_producer
	// guard brackets every call but Produce, which only checks that
	// the producer is open (Produce).
	guard      handleGuard
	interrupts interrupter
	// library frees the library's producer once Close ran and nothing
	// can be using it.
	library *producerLibrary
	*producerState
}

// producerLibrary is what Produce passes the library: the library's
// producer and the topics' C names. Produce takes no part in the guard's
// count of calls inside (two atomic read-modify-writes a message, a fifth
// of what the binding adds to the library's produce; BENCHMARKS.md), so
// the last counted call to leave a closed producer cannot know that no
// Produce is still inside the library. The collector can: a Produce keeps
// its Producer, and so this, reachable until it returned, and the guard's
// free, once Close ran and every counted call left, makes free this
// one's finalizer. It refers to nothing of the application's (no callback,
// no Opaque, no responder: the guard's free detaches it), so no cycle
// through them keeps it from being collected.
// Until then the closed producer holds its memory and its idle broker
// connections: yk_producer_close stopped its sending, failed what was
// queued and delivered its metrics.
type producerLibrary struct {
	producer *C.yk_producer
	topics   topicNames
	// releaseResponder deletes the metrics responder's registration,
	// which the library's free still calls.
	releaseResponder func()
}

// free frees the library's producer, then the topic names and the
// responder's registration.
func (l *producerLibrary) free() {
	C.yk_producer_free(l.producer)
	l.topics.free()
	l.releaseResponder()
}

// producerState is what the producer's delivery callback reaches through a
// cgo handle.
type producerState struct {
	panics     panicBox
	mu         sync.Mutex
	onDelivery func(DeliveryReport)
	// pending holds the Opaque of every message produced and not yet
	// reported, by the id given to the library as the message opaque.
	pending map[uintptr]interface{}
	nextID  uintptr
}

// topicNames are the C names of the topics produced to (cTopic), the
// last one used in last.
type topicNames struct {
	mu     sync.Mutex
	byName map[string]*C.char
	last   atomic.Pointer[cachedTopic]
}

// NewProducer creates a producer for cluster. options (nil: defaults) take
// the client options and the producer's: acks (0, 1, all; default 1),
// ack_timeout_ms, retries, retry_backoff_ms, linger_ms, batch_size_bytes,
// queue_max_messages, queue_max_bytes, compression (none, gzip, snappy, lz4,
// zstd), compression_level, compress_on_produce (default true: a full batch
// is compressed as it is sealed, on a spare engine thread or else by the
// Produce that filled it), enable_idempotence, report_metrics,
// message_max_bytes, delivery_timeout_ms, max_in_flight_per_broker.
// metrics (nil: none) receives yelp_kafka.YelpKafkaProducer.{
// metadata_request_timer, produce_request_timer, produce_exception_count}.
// Nothing connects until the first message.
func NewProducer(cluster ClusterConfig, options Options, metrics MetricsResponder) (*Producer, error) {
	chandle, err := cluster.newHandle()
	if err != nil {
		return nil, err
	}
	defer C.yk_cluster_config_free(chandle)
	config, err := newCConfig(options)
	if err != nil {
		return nil, err
	}
	defer C.yk_config_free(config)

	state := &producerState{pending: make(map[uintptr]interface{})}
	defer state.panics.rethrow() // a panic of the responder while asked for emitters
	responder, bridge, releaseResponder := newMetricsResponder(metrics, &state.panics)
	var handle *C.yk_producer
	err = call(func() C.enum_yk_error { return C.yk_producer_new(chandle, config, responder, &handle) })
	if err != nil {
		releaseResponder()
		return nil, err
	}
	stateHandle := cgo.NewHandle(state)
	library := &producerLibrary{producer: handle, topics: topicNames{byName: make(map[string]*C.char)},
		releaseResponder: releaseResponder}
	p := &Producer{handle: handle, library: library, producerState: state}
	p.guard = handleGuard{what: "producer", panics: &state.panics, free: func() {
		// The delivery callback runs only inside counted calls, so its
		// handle goes now. The library's free delivers what its metrics
		// recorded since Close (answers to requests still in flight): the
		// responder is detached, so they go nowhere, as they did when the
		// free followed Close at once.
		stateHandle.Delete()
		bridge.detach()
		runtime.SetFinalizer(library, (*producerLibrary).free)
	}}
	p.interrupts.wake = func() {
		if p.guard.hold() {
			C.yk_producer_wakeup(handle)
			p.guard.release()
		}
	}
	if err := call(func() C.enum_yk_error {
		return C.yk_go_set_delivery_callback(handle, C.uintptr_t(stateHandle))
	}); err != nil {
		library.free()
		stateHandle.Delete()
		return nil, err
	}
	return p, nil
}

// OnDelivery sets the function that receives the delivery reports of
// Produce (nil: reports are dropped). It runs on the goroutine that calls
// Poll, Flush or Close, and must not call back into this producer (that
// call fails with ErrReentrant).
func (p *Producer) OnDelivery(f func(DeliveryReport)) {
	p.mu.Lock()
	p.onDelivery = f
	p.mu.Unlock()
}

// SendMessages sends messages (no key) to topic, round-robin over its
// partitions, and returns once the broker acknowledged every one, with
// their offsets. Retriable failures are retried as configured; what is left
// is an *Error for which IsRetriable says whether to try again.
func (p *Producer) SendMessages(topic string, messages ...[]byte) ([]int64, error) {
	return p.SendMessagesContext(context.Background(), topic, messages...)
}

// SendMessagesContext is SendMessages, returning ctx's error as soon as
// ctx ends, whatever the producer's timeouts: the producer's wakeup ends
// the send's wait within a few milliseconds, and nothing of the call goes
// on in the background. The send only stops waiting: the messages it had
// queued stay queued and may still be delivered (no report says which),
// those not queued yet (it waited for room) are never sent
// (docs/c-abi.md, "Wakeups"). With ctx ended before the call nothing is
// sent. A Poll, Flush or send of this producer whose context ends at the
// same moment may end this send instead of its own: it then returns
// ErrWokenUp, with its messages as above.
func (p *Producer) SendMessagesContext(ctx context.Context, topic string, messages ...[]byte) ([]int64, error) {
	return p.send(ctx, topic, messages, func(ctopic *C.char, values *C.yk_bytes, offsets *C.int64_t) C.enum_yk_error {
		return C.yk_producer_send_messages(p.handle, ctopic, values, C.size_t(len(messages)), offsets)
	})
}

// SendKeyedMessagesContext is SendKeyedMessages, ended by ctx as
// SendMessagesContext is.
func (p *Producer) SendKeyedMessagesContext(ctx context.Context, topic string, key []byte,
	messages ...[]byte) ([]int64, error) {
	ckey, keyLen := bytesArg(key)
	return p.send(ctx, topic, messages, func(ctopic *C.char, values *C.yk_bytes, offsets *C.int64_t) C.enum_yk_error {
		return C.yk_producer_send_keyed_messages(p.handle, ctopic, ckey, keyLen, values, C.size_t(len(messages)), offsets)
	})
}

// SendKeyedMessages sends messages with key to topic, to the partition that
// murmur2 of the key picks, and returns like SendMessages.
func (p *Producer) SendKeyedMessages(topic string, key []byte, messages ...[]byte) ([]int64, error) {
	return p.SendKeyedMessagesContext(context.Background(), topic, key, messages...)
}

// send makes one synchronous send of messages to topic, ended by ctx
// (interrupter.runOnce); the offsets once the broker acknowledged all.
func (p *Producer) send(ctx context.Context, topic string, messages [][]byte,
	send func(*C.char, *C.yk_bytes, *C.int64_t) C.enum_yk_error) ([]int64, error) {
	if err := p.guard.enter(); err != nil {
		return nil, err
	}
	defer p.guard.leave()
	ctopic := C.CString(topic)
	defer C.free(unsafe.Pointer(ctopic))
	values := newCBytesArray(messages)
	defer C.free(unsafe.Pointer(values))
	offsets := make([]int64, len(messages))
	var first *C.int64_t
	if len(offsets) > 0 {
		first = (*C.int64_t)(unsafe.Pointer(&offsets[0]))
	}
	err, ended := p.interrupts.runOnce(ctx, func() error {
		return call(func() C.enum_yk_error { return send(ctopic, values, first) })
	})
	if ended != nil {
		return nil, ended
	}
	if err != nil {
		return nil, err
	}
	return offsets, nil
}

// Produce queues one message and returns at once; its DeliveryReport comes
// from a later Poll, Flush or Close. When the queue is full, queueWait
// decides: 0 fails at once with ErrQueueFull, a positive duration waits up
// to that long, a negative one waits until there is room. The bytes are
// copied.
func (p *Producer) Produce(m Message, queueWait time.Duration) error {
	// No count in the guard (producerLibrary): a Produce that finds the
	// producer open while Close runs is refused by the library itself
	// (yk_producer_close), and the handle stays until it returned.
	if p.guard.isClosed() {
		return p.guard.closedError()
	}
	ctopic, free := p.library.topics.cTopic(m.Topic)
	id := p.hold(m.Opaque)
	key, keyLen := bytesArg(m.Key)
	value, valueLen := bytesArg(m.Value)
	var result C.yk_go_result
	if len(m.Headers) == 0 {
		result = C.yk_go_produce(C.uintptr_t(uintptr(unsafe.Pointer(p.handle))), ctopic, C.int32_t(m.Partition), key, keyLen, value, valueLen,
			C.uintptr_t(id), milliseconds(queueWait))
	} else {
		headers := packHeaders(m.Headers)
		result = C.yk_go_produce_with_headers(C.uintptr_t(uintptr(unsafe.Pointer(p.handle))), ctopic, C.int32_t(m.Partition), key, keyLen, value, valueLen,
			headers.bytes(), headers.lengths(), C.size_t(len(m.Headers)), C.uintptr_t(id), milliseconds(queueWait))
	}
	err := resultError(result)
	if free {
		C.free(unsafe.Pointer(ctopic))
	}
	if err != nil {
		p.take(id)
	}
	runtime.KeepAlive(p)
	p.panics.rethrow()
	return err
}

// ProduceBatch queues messages, in order, as Produce does for each, in
// one call into the library: the way to produce at the C API's cost per
// message (a call into the library from Go costs about 100 ns of its own;
// BENCHMARKS.md). The keys, values and headers are copied once more on
// the way. queueWait applies to each message. It returns how many were
// queued: all of them, or those before the first that failed, with its
// error (ErrQueueFull when the queue stayed full).
func (p *Producer) ProduceBatch(messages []Message, queueWait time.Duration) (int, error) {
	if len(messages) == 0 {
		return 0, nil
	}
	if err := p.guard.enter(); err != nil {
		return 0, err
	}
	defer p.guard.leave()
	b := p.packBatch(messages)
	var produced C.size_t
	err := resultError(C.yk_go_produce_batch(C.uintptr_t(uintptr(unsafe.Pointer(p.handle))), &b.messages[0],
		C.size_t(len(b.messages)), b.bytes(), b.lengths(), milliseconds(queueWait), &produced))
	for i := int(produced); i < len(b.messages); i++ {
		p.take(uintptr(b.messages[i].id))
	}
	b.release()
	return int(produced), err
}

// produceBatch is what yk_go_produce_batch takes: the messages, with
// their bytes in data and their headers' lengths in lens, and the topic
// names to free afterwards.
type produceBatch struct {
	messages []C.yk_go_message
	data     []byte
	lens     []C.int64_t
	free     []*C.char
}

var produceBatches = sync.Pool{New: func() interface{} { return new(produceBatch) }}

// packBatch packs messages for yk_go_produce_batch.
func (p *Producer) packBatch(messages []Message) *produceBatch {
	b := produceBatches.Get().(*produceBatch)
	b.messages, b.data, b.lens, b.free = b.messages[:0], b.data[:0], b.lens[:0], b.free[:0]
	offset := func(bytes []byte) (C.int64_t, C.size_t) {
		if bytes == nil {
			return -1, 0
		}
		off := len(b.data)
		b.data = append(b.data, bytes...)
		return C.int64_t(off), C.size_t(len(bytes))
	}
	for i := range messages {
		m := &messages[i]
		ctopic, free := p.library.topics.cTopic(m.Topic)
		if free {
			b.free = append(b.free, ctopic)
		}
		// Filled in place: a struct built aside is copied.
		b.messages = append(b.messages, C.yk_go_message{})
		c := &b.messages[len(b.messages)-1]
		c.topic = C.uintptr_t(uintptr(unsafe.Pointer(ctopic)))
		c.partition = C.int32_t(m.Partition)
		c.key_off, c.key_len = offset(m.Key)
		c.value_off, c.value_len = offset(m.Value)
		if len(m.Headers) > 0 {
			c.header_off, c.header_index, c.header_count = C.int64_t(len(b.data)), C.size_t(len(b.lens)), C.size_t(len(m.Headers))
			for _, h := range m.Headers {
				b.data = append(b.data, h.Key...)
				b.data = append(b.data, h.Value...)
				valueLen := C.int64_t(len(h.Value))
				if h.Value == nil {
					valueLen = -1
				}
				b.lens = append(b.lens, C.int64_t(len(h.Key)), valueLen)
			}
		}
		c.id = C.uintptr_t(p.hold(m.Opaque))
	}
	// Neither buffer is ever empty when C gets its address.
	b.data = append(b.data, 0)
	b.lens = append(b.lens, 0)
	return b
}

func (b *produceBatch) bytes() *C.uint8_t   { return (*C.uint8_t)(unsafe.Pointer(&b.data[0])) }
func (b *produceBatch) lengths() *C.int64_t { return &b.lens[0] }

// release frees the batch's own topic names and pools its buffers, unless
// a large batch made them too large to keep.
func (b *produceBatch) release() {
	for i, c := range b.free {
		C.free(unsafe.Pointer(c))
		b.free[i] = nil
	}
	if cap(b.data) <= 4<<20 && cap(b.messages) <= 1<<16 {
		produceBatches.Put(b)
	}
}

// SendWithHeaders sends one message with record headers to topic
// (partition AnyPartition: murmur2 of the key, or round-robin without
// one) and returns once the broker acknowledged it, with its offset.
// Retriable failures are retried as configured.
func (p *Producer) SendWithHeaders(topic string, partition int32, key, value []byte, headers []Header) (int64, error) {
	return p.SendWithHeadersContext(context.Background(), topic, partition, key, value, headers)
}

// SendWithHeadersContext is SendWithHeaders, ended by ctx as
// SendMessagesContext is.
func (p *Producer) SendWithHeadersContext(ctx context.Context, topic string, partition int32, key, value []byte,
	headers []Header) (int64, error) {
	if err := p.guard.enter(); err != nil {
		return -1, err
	}
	defer p.guard.leave()
	ctopic := C.CString(topic)
	defer C.free(unsafe.Pointer(ctopic))
	ckey, keyLen := bytesArg(key)
	cvalue, valueLen := bytesArg(value)
	packed := packHeaders(headers)
	var offset C.int64_t
	err, ended := p.interrupts.runOnce(ctx, func() error {
		return call(func() C.enum_yk_error {
			return C.yk_go_send_with_headers(p.handle, ctopic, C.int32_t(partition), ckey, keyLen, cvalue, valueLen,
				packed.bytes(), packed.lengths(), C.size_t(len(headers)), &offset)
		})
	})
	if ended != nil {
		return -1, ended
	}
	if err != nil {
		return -1, err
	}
	return int64(offset), nil
}

// packedHeaders are headers in the form yk_go_produce_with_headers takes
// them: their names and values one after the other in one byte buffer,
// and two lengths per header (the value's -1 when null), so that no Go
// pointer is stored in memory given to C. Both have room for one more
// entry than needed, so neither is ever empty.
type packedHeaders struct {
	data []byte
	lens []C.int64_t
}

func packHeaders(headers []Header) packedHeaders {
	size := 0
	for _, h := range headers {
		size += len(h.Key) + len(h.Value)
	}
	p := packedHeaders{data: make([]byte, 0, size+1), lens: make([]C.int64_t, 0, 2*len(headers)+1)}
	for _, h := range headers {
		p.data = append(p.data, h.Key...)
		p.data = append(p.data, h.Value...)
		valueLen := C.int64_t(len(h.Value))
		if h.Value == nil {
			valueLen = -1
		}
		p.lens = append(p.lens, C.int64_t(len(h.Key)), valueLen)
	}
	return p
}

func (p packedHeaders) bytes() *C.uint8_t {
	return (*C.uint8_t)(unsafe.Pointer(&p.data[:cap(p.data)][0]))
}

func (p packedHeaders) lengths() *C.int64_t {
	return (*C.int64_t)(unsafe.Pointer(&p.lens[:cap(p.lens)][0]))
}

// ProduceContext is Produce waiting for room in a full queue until ctx
// ends (no deadline: until there is room or ctx is cancelled), looking at
// ctx at least every 50 ms. When ctx ends first it returns ctx's error and
// the message is not queued; so does a ctx ended before the call.
func (p *Producer) ProduceContext(ctx context.Context, m Message) error {
	for {
		if ended := contextEnded(ctx); ended != nil {
			return ended
		}
		slice := contextSlice
		if remaining, ok := contextTimeout(ctx); ok && remaining < slice {
			slice = remaining
		}
		if err := p.Produce(m, slice); !errors.Is(err, ErrQueueFull) {
			return err
		}
	}
}

// Poll serves delivery reports: waits up to timeout (negative: until one
// comes) for the first, then runs OnDelivery's function for every report
// queued. Returns how many it served.
func (p *Producer) Poll(timeout time.Duration) (int, error) {
	served, err, _ := p.poll(context.Background(), timeout)
	return served, err
}

// PollContext serves delivery reports as Poll does, waiting for the first
// until ctx ends, whatever its deadline (none: until a report comes or ctx
// is cancelled). With no report by then it returns 0 and ctx's error,
// within a few milliseconds of ctx's end: the producer's wakeup ends the
// wait. With ctx ended before the call it serves what is queued already.
func (p *Producer) PollContext(ctx context.Context) (int, error) {
	if ended := ctx.Err(); ended != nil {
		served, err, _ := p.poll(context.Background(), 0)
		if served == 0 && err == nil {
			err = ended
		}
		return served, err
	}
	timeout := time.Duration(-1)
	if remaining, ok := contextTimeout(ctx); ok {
		timeout = remaining
	}
	served, err, ended := p.poll(ctx, timeout)
	if ended != nil {
		return 0, ended
	}
	if served == 0 && err == nil {
		err = contextEnded(ctx)
	}
	return served, err
}

// poll is yk_producer_poll for up to timeout, ended by ctx.
func (p *Producer) poll(ctx context.Context, timeout time.Duration) (served int, err error, ended error) {
	if err := p.guard.enter(); err != nil {
		return 0, err, nil
	}
	defer p.guard.leave()
	deadline := time.Now().Add(timeout)
	var n C.size_t
	err, ended = p.interrupts.run(ctx, func() error {
		n = 0
		return call(func() C.enum_yk_error { return C.yk_producer_poll(p.handle, remaining(timeout, deadline), &n) })
	})
	return int(n), err, ended
}

// Flush sends everything queued and waits up to timeout (negative: no
// limit) until every message is delivered or failed, serving delivery
// reports meanwhile; ErrTimedOut when the deadline passes first.
func (p *Producer) Flush(timeout time.Duration) error {
	return p.flush(context.Background(), timeout)
}

// FlushContext flushes until every message is delivered or failed, or
// until ctx ends: the producer's wakeup ends the wait within a few
// milliseconds of a cancellation, with or without a deadline. When ctx
// ends first the error matches both ErrTimedOut and ctx's error
// (errors.Is); the messages stay queued. With ctx ended before the call it
// serves the reports queued already and returns at once.
func (p *Producer) FlushContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return withContextError(ctx, p.flush(context.Background(), 0))
	}
	timeout := time.Duration(-1)
	if remaining, ok := contextTimeout(ctx); ok {
		timeout = remaining
	}
	return p.flush(ctx, timeout)
}

// flush is yk_producer_flush for up to timeout (negative: no limit), ended by ctx.
func (p *Producer) flush(ctx context.Context, timeout time.Duration) error {
	if err := p.guard.enter(); err != nil {
		return err
	}
	defer p.guard.leave()
	deadline := time.Now().Add(timeout)
	err, ended := p.interrupts.run(ctx, func() error {
		ms := remaining(timeout, deadline)
		if ms < 0 {
			ms = math.MaxInt32
		}
		return call(func() C.enum_yk_error { return C.yk_producer_flush(p.handle, ms) })
	})
	if ended != nil {
		return endedByContext(err, ended)
	}
	return withContextError(ctx, err)
}

// ReadyFD is a file descriptor for event loops, readable while delivery
// reports wait to be served (yk_producer_ready_fd): wait for it, then
// Poll(0). Never read or close it; -1 once the producer was released.
func (p *Producer) ReadyFD() int {
	if p.guard.enter() != nil {
		return -1
	}
	defer p.guard.leave()
	return int(C.yk_producer_ready_fd(p.handle))
}

// QueueLength is the number of messages produced and not yet delivered or failed.
func (p *Producer) QueueLength() int {
	if p.guard.enter() != nil {
		return 0
	}
	defer p.guard.leave()
	return int(C.yk_producer_queue_length(p.handle))
}

// DefaultCloseTimeout is how long Close lets the producer deliver what is
// queued, as the Ruby binding's close.
const DefaultCloseTimeout = 5 * time.Second

// Close is CloseTimeout(DefaultCloseTimeout) for io.Closer: ErrTimedOut
// (its message says how many) when messages were left undelivered.
func (p *Producer) Close() error {
	_, err := p.CloseTimeout(DefaultCloseTimeout)
	return err
}

// CloseContext delivers what is queued until ctx ends (no deadline:
// for up to DefaultCloseTimeout), then closes as CloseTimeout(0) does:
// what is still queued fails, and the producer is released in every case.
// The flush is FlushContext's, so a cancellation ends it within a few
// milliseconds; with ctx ended before the call the producer closes at once.
// When ctx cuts the flush short the error matches both ErrTimedOut and
// ctx's error. Messages that other goroutines produce during the flush may
// fail at the close.
func (p *Producer) CloseContext(ctx context.Context) (undelivered int, err error) {
	if ctx.Err() == nil {
		flushing := ctx
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			flushing, cancel = context.WithTimeout(ctx, DefaultCloseTimeout)
			defer cancel()
		}
		if err := p.FlushContext(flushing); errors.Is(err, ErrClosedHandle) || errors.Is(err, ErrReentrant) {
			return 0, err
		}
	}
	undelivered, err = p.CloseTimeout(0)
	return undelivered, withContextError(ctx, err)
}

// CloseTimeout flushes for up to timeout, fails what is still queued (their
// reports carry ErrClosedHandle) and releases the producer; later calls get
// ErrClosedHandle. It returns the number of messages not delivered, with
// ErrTimedOut when that is not 0. Called from a delivery or metrics
// callback of this producer it fails with ErrReentrant and changes nothing.
func (p *Producer) CloseTimeout(timeout time.Duration) (undelivered int, err error) {
	if err := p.guard.enter(); err != nil {
		return 0, err
	}
	defer p.guard.leave()
	var left C.size_t
	err = call(func() C.enum_yk_error { return C.yk_producer_close(p.handle, milliseconds(timeout), &left) })
	if e, ok := err.(*Error); ok && e.Code == ErrReentrant {
		return 0, err
	}
	p.guard.close()
	return int(left), err
}

// cTopic is topic as a C string: one of the producer's first
// maxCachedTopics topics, kept until it is freed, or a copy to free after
// the call.
func (t *topicNames) cTopic(topic string) (ctopic *C.char, free bool) {
	if last := t.last.Load(); last != nil && last.name == topic {
		return last.c, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.byName[topic]
	if !ok {
		if len(t.byName) >= maxCachedTopics {
			return C.CString(topic), true
		}
		c = C.CString(topic)
		t.byName[topic] = c
	}
	t.last.Store(&cachedTopic{name: topic, c: c})
	return c, false
}

// free frees the topic names cTopic kept.
func (t *topicNames) free() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.byName {
		C.free(unsafe.Pointer(c))
	}
	t.byName = nil
}

// cachedTopic is a topic's name in Go and in C.
type cachedTopic struct {
	name string
	c    *C.char
}

// maxCachedTopics bounds the topic names a producer keeps in C.
const maxCachedTopics = 1024

// hold keeps a message's Opaque until its report; 0 stands for nil
// (inlined: a message without one costs no call).
func (s *producerState) hold(opaque interface{}) uintptr {
	if opaque == nil {
		return 0
	}
	return s.keep(opaque)
}

// keep is hold for an Opaque that is not nil.
func (s *producerState) keep(opaque interface{}) uintptr {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.pending[s.nextID] = opaque
	return s.nextID
}

// take returns and forgets the Opaque held under id (inlined: a report
// without one costs no call).
func (s *producerState) take(id uintptr) interface{} {
	if id == 0 {
		return nil
	}
	return s.forget(id)
}

// forget is take for an id that is not 0.
func (s *producerState) forget(id uintptr) interface{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	opaque := s.pending[id]
	delete(s.pending, id)
	return opaque
}

//export ykGoOnDelivery
func ykGoOnDelivery(state C.uintptr_t, reports *C.yk_delivery_report, count C.size_t) {
	s := cgo.Handle(state).Value().(*producerState)
	s.mu.Lock()
	onDelivery := s.onDelivery
	s.mu.Unlock()
	all := unsafe.Slice(reports, int(count))
	for next := 0; next < len(all); {
		next = s.deliverFrom(onDelivery, all, next)
	}
}

// deliverFrom takes back the Opaques of reports[from:] and runs f (when
// set) for each, in order; it returns len(reports). When f panics, the
// panic is kept for the call that served the reports (as catch keeps
// it) and it returns the index after that report, for the others to be
// delivered still. So a report costs no deferred call of its own.
func (s *producerState) deliverFrom(f func(DeliveryReport), reports []C.yk_delivery_report, from int) (next int) {
	next = from
	defer func() {
		// Only a panic, panic(nil) included, leaves next short of the
		// end: its report is done with.
		if r := recover(); next < len(reports) {
			if r != nil {
				s.panics.store(r)
			}
			next++
		}
	}()
	// The reports of one call share their topics' names.
	var lastTopic *C.char
	var lastName string
	for ; next < len(reports); next++ {
		report := &reports[next]
		opaque := s.take(uintptr(report.message_opaque))
		if f == nil {
			continue
		}
		if report.topic != lastTopic {
			lastTopic, lastName = report.topic, C.GoString(report.topic)
		}
		delivered := DeliveryReport{
			Topic:     lastName,
			Partition: int32(report.partition),
			Offset:    int64(report.offset),
			Opaque:    opaque,
		}
		if code := Code(report.error); code != 0 {
			delivered.Err = &Error{Code: code, KafkaCode: int16(report.kafka_code),
				Message: C.GoString(report.error_message), retriable: code.Retriable()}
		}
		f(delivered)
	}
	return next
}

// emptyByte gives empty non-nil byte slices a non-NULL address.
var emptyByte C.uint8_t

// bytesArg passes b to C for the duration of a call: nil gives NULL, an
// empty slice a non-NULL pointer with length 0.
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	switch {
	case b == nil:
		return nil, 0
	case len(b) == 0:
		return &emptyByte, 0
	default:
		return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
	}
}

// newCBytesArray copies messages into one C allocation, their yk_bytes
// entries followed by their bytes (Go pointers may not be stored in C
// memory). Free it with C.free; nil for no messages.
func newCBytesArray(messages [][]byte) *C.yk_bytes {
	if len(messages) == 0 {
		return nil
	}
	header := len(messages) * int(unsafe.Sizeof(C.yk_bytes{}))
	size := header
	for _, m := range messages {
		size += len(m)
	}
	block := C.malloc(C.size_t(size))
	entries := unsafe.Slice((*C.yk_bytes)(block), len(messages))
	data := unsafe.Slice((*byte)(block), size)
	offset := header
	for i, m := range messages {
		entries[i] = C.yk_bytes{data: nil, len: C.size_t(len(m))}
		if len(m) > 0 {
			copy(data[offset:], m)
			entries[i].data = (*C.uint8_t)(unsafe.Pointer(&data[offset]))
			offset += len(m)
		}
	}
	return (*C.yk_bytes)(block)
}

// remaining is what is left of a timeout that started at deadline −
// timeout, for C: −1 for a negative (unlimited) timeout, else the time left
// until deadline, 0 once it passed.
func remaining(timeout time.Duration, deadline time.Time) C.int32_t {
	if timeout < 0 {
		return -1
	}
	left := time.Until(deadline)
	if left < 0 {
		left = 0
	}
	return milliseconds(left)
}

// milliseconds converts a timeout for C: negative is −1 (no deadline),
// otherwise rounded up to whole milliseconds and capped.
func milliseconds(d time.Duration) C.int32_t {
	if d < 0 {
		return -1
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		return math.MaxInt32
	}
	return C.int32_t(ms)
}
