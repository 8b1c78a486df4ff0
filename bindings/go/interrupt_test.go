package yelpkafka

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHandle behaves as a library handle toward its wakeup: a blocking
// call takes a message or the pending wakeup, whichever it finds first
// (one wakeup ends one call, and a wakeup nobody takes is kept).
type fakeHandle struct {
	mu       sync.Mutex
	cond     *sync.Cond
	woken    bool
	messages int
	wakeups  int
}

func newFakeHandle() *fakeHandle {
	h := &fakeHandle{}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *fakeHandle) wake() {
	h.mu.Lock()
	h.woken = true
	h.wakeups++
	h.cond.Broadcast()
	h.mu.Unlock()
}

func (h *fakeHandle) put() {
	h.mu.Lock()
	h.messages++
	h.cond.Broadcast()
	h.mu.Unlock()
}

// next is the blocking call.
func (h *fakeHandle) next() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		if h.woken {
			h.woken = false
			return &Error{Code: ErrWokenUp, Message: "woken"}
		}
		if h.messages > 0 {
			h.messages--
			return nil
		}
		h.cond.Wait()
	}
}

// A wakeup left over from an earlier call (its context ended as it
// returned) does not end the next call: that one goes on.
func TestAWakeupLeftOverDoesNotEndTheNextCall(t *testing.T) {
	h := newFakeHandle()
	in := interrupter{wake: h.wake}
	h.wake()
	time.AfterFunc(50*time.Millisecond, h.put)
	if err, ended := in.run(context.Background(), h.next); err != nil || ended != nil {
		t.Fatalf("run: %v, %v; want the message", err, ended)
	}
}

// Of several calls waiting on one handle, those whose context ends return
// within 100 ms, whoever takes each wakeup; the others go on and get the
// messages.
func TestCallsWhoseContextEndsReturnWhateverCallTakesTheWakeup(t *testing.T) {
	h := newFakeHandle()
	in := interrupter{wake: h.wake}
	const cancelled, waiting = 4, 3
	start := time.Now()
	type result struct {
		err, ended error
		took       time.Duration
	}
	finished := make(chan result, cancelled)
	got := make(chan error, waiting)
	for i := 0; i < waiting; i++ {
		go func() {
			err, ended := in.run(context.Background(), h.next)
			if ended != nil {
				err = ended
			}
			got <- err
		}()
	}
	for i := 0; i < cancelled; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		go func() {
			err, ended := in.run(ctx, h.next)
			finished <- result{err, ended, time.Since(start)}
		}()
	}
	for i := 0; i < cancelled; i++ {
		r := <-finished
		// err is the wakeup's, or nil when the call ended while it waited
		// to go on after taking another's wakeup.
		if r.ended != context.Canceled || (r.err != nil && !errors.Is(r.err, ErrWokenUp)) || r.took > 200*time.Millisecond {
			t.Errorf("a cancelled call: %v, %v after %v; want context.Canceled within 200ms", r.err, r.ended, r.took)
		}
	}
	select {
	case err := <-got:
		t.Fatalf("a call without a context ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	for i := 0; i < waiting; i++ {
		h.put()
	}
	for i := 0; i < waiting; i++ {
		if err := <-got; err != nil {
			t.Errorf("a call without a context: %v, want a message", err)
		}
	}
}

// A call made with an ended context, or while a cancelled call is still
// inside the library, waits for nothing it need not.
func TestRunWithAnEndedContextDoesNotCall(t *testing.T) {
	h := newFakeHandle()
	in := interrupter{wake: h.wake}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err, ended := in.run(ctx, func() error { called = true; return nil }); err != nil || ended != context.Canceled || called {
		t.Errorf("run with an ended context: %v, %v, called %v", err, ended, called)
	}
}

// detached returns at the context's end and raises a panic of the call
// when the caller still waits for it.
func TestDetachedReturnsAtTheContextsEnd(t *testing.T) {
	release := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	var box panicBox
	_, err := detached(ctx, &box, func() (int, error) { <-release; panic("late") })
	if err != context.DeadlineExceeded || time.Since(start) > 200*time.Millisecond {
		t.Errorf("detached: %v after %v", err, time.Since(start))
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if atomic.LoadUint32(&box.set) != 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	func() {
		defer func() {
			if r := recover(); r != "late" {
				t.Errorf("the kept panic: %v, want late", r)
			}
		}()
		box.rethrow()
	}()
	func() {
		defer func() {
			if r := recover(); r != "now" {
				t.Errorf("detached raised %v, want now", r)
			}
		}()
		detached(context.Background(), &box, func() (int, error) { panic("now") })
	}()
}
