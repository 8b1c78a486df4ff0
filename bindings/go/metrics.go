package yelpkafka

// #include "callbacks.h"
import "C"

import (
	"runtime/cgo"
	"time"
	"unsafe"
)

// MetricsResponder receives the library's metrics (docs/metrics.md), like Python
// yelp_kafka's metrics responder. Emitters are asked for once per metric when a
// handle is created; Record runs on the goroutine whose call produced the
// measurement. A responder shared by several handles is called from several
// goroutines at once. Its methods must not call back into the handle that
// calls them (that call fails with ErrReentrant).
type MetricsResponder interface {
	// CounterEmitter returns any value standing for the counter metric with
	// its dimensions (client_id, cluster_type, cluster_name, ...).
	CounterEmitter(metric string, dimensions map[string]string) interface{}
	// TimerEmitter does the same for a timer (milliseconds).
	TimerEmitter(metric string, dimensions map[string]string) interface{}
	// Record records one measurement of the metric behind emitter: an
	// increment for counters, milliseconds for timers.
	Record(emitter interface{}, value float64, timestamp time.Time)
}

// metricsBridge is what the C responder's opaque pointer stands for.
type metricsBridge struct {
	responder MetricsResponder
	panics    *panicBox
}

// detach drops the measurements the library records from now on and
// lets go of the responder and the handle's panic box, for a handle
// freed only once its owner is unreachable (producerLibrary): nothing
// then runs the application's code, and nothing kept for the library's
// free keeps the owner alive. Nothing may use the bridge meanwhile. A nil
// bridge (no responder) is a no-op.
func (b *metricsBridge) detach() {
	if b != nil {
		b.responder, b.panics = nil, nil
	}
}

// newMetricsResponder registers responder for one handle: the C struct to
// give the library, the bridge behind it and the function that deletes the
// registration once the handle is freed. A nil responder gives nil, nil and
// a release that does nothing.
func newMetricsResponder(responder MetricsResponder, panics *panicBox) (*C.yk_metrics_responder, *metricsBridge,
	func()) {
	if responder == nil {
		return nil, nil, func() {}
	}
	bridge := &metricsBridge{responder: responder, panics: panics}
	handle := cgo.NewHandle(bridge)
	table := C.yk_go_metrics_responder(C.uintptr_t(handle))
	return &table, bridge, handle.Delete
}

func goDimensions(dimensions *C.yk_dimension, count C.size_t) map[string]string {
	out := make(map[string]string, count)
	if count > 0 {
		for _, d := range unsafe.Slice(dimensions, count) {
			out[C.GoString(d.key)] = C.GoString(d.value)
		}
	}
	return out
}

// emitterHandle registers an emitter for the library; emitter handles are
// deleted by ykGoFreeEmitter when the handle that asked for them is freed.
func emitterHandle(bridge C.uintptr_t, get func(*metricsBridge) interface{}) (handle C.uintptr_t) {
	b := cgo.Handle(bridge).Value().(*metricsBridge)
	defer b.panics.catch()
	return C.uintptr_t(cgo.NewHandle(get(b)))
}

//export ykGoCounterEmitter
func ykGoCounterEmitter(bridge C.uintptr_t, metric *C.char, dimensions *C.yk_dimension, count C.size_t) C.uintptr_t {
	return emitterHandle(bridge, func(b *metricsBridge) interface{} {
		return b.responder.CounterEmitter(C.GoString(metric), goDimensions(dimensions, count))
	})
}

//export ykGoTimerEmitter
func ykGoTimerEmitter(bridge C.uintptr_t, metric *C.char, dimensions *C.yk_dimension, count C.size_t) C.uintptr_t {
	return emitterHandle(bridge, func(b *metricsBridge) interface{} {
		return b.responder.TimerEmitter(C.GoString(metric), goDimensions(dimensions, count))
	})
}

//export ykGoRecord
func ykGoRecord(bridge, emitter C.uintptr_t, value C.double, timestampMs C.int64_t) {
	b := cgo.Handle(bridge).Value().(*metricsBridge)
	if b.responder == nil { // detached
		return
	}
	defer b.panics.catch()
	if emitter != 0 { // 0: asking for this emitter panicked
		b.responder.Record(cgo.Handle(emitter).Value(), float64(value), time.UnixMilli(int64(timestampMs)))
	}
}

//export ykGoFreeEmitter
func ykGoFreeEmitter(_, emitter C.uintptr_t) {
	if emitter != 0 {
		cgo.Handle(emitter).Delete()
	}
}
