package yelpkafka

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// handleGuard brackets every call into a C handle. It keeps the handle
// alive while calls use it: closing marks it closed and the last call to
// leave frees it, so no call ever reaches a freed handle and closing never
// waits for other calls (a callback running inside one of them may be the
// caller). Leaving also raises a panic of a callback that ran meanwhile.
// Lock-free: entering and leaving are one atomic operation each, as they
// bracket calls made per message (the producer's Produce does without
// them: producerLibrary).
type handleGuard struct {
	// state holds the number of calls inside (the low 32 bits) and the
	// closed and freed flags.
	state  uint64
	what   string
	free   func()
	panics *panicBox
}

const (
	guardActive = 1<<32 - 1
	guardClosed = 1 << 32
	guardFreed  = 1 << 33
)

// enter registers a call; ErrClosedHandle once the handle is closed.
// One atomic addition, no loop: a call that finds the handle closed takes
// its count back, which frees the handle if it was the last (release), so
// a closed handle is never reached and never freed twice.
func (g *handleGuard) enter() error {
	if atomic.AddUint64(&g.state, 1)&guardClosed == 0 {
		return nil
	}
	g.release()
	return g.closedError()
}

// closedError is what a call on the closed handle returns.
func (g *handleGuard) closedError() error {
	return &Error{Code: ErrClosedHandle, Message: fmt.Sprintf("the %s was closed", g.what)}
}

// leave ends a call, freeing the handle when it was the last of a closed
// one, then raises a callback's panic.
func (g *handleGuard) leave() {
	g.release()
	g.panics.rethrow()
}

// hold keeps the handle from being freed, closed or not, for a call that
// must reach it while it exists (a wakeup, a close that ends a wait);
// false once it was freed. End it with release.
func (g *handleGuard) hold() bool {
	for {
		s := atomic.LoadUint64(&g.state)
		if s&guardFreed != 0 {
			return false
		}
		if atomic.CompareAndSwapUint64(&g.state, s, s+1) {
			return true
		}
	}
}

// release ends a call or a hold, freeing the handle when it was the last
// of a closed one; a callback's panic stays for the next leave.
func (g *handleGuard) release() {
	s := atomic.AddUint64(&g.state, ^uint64(0))
	if s&guardClosed != 0 && s&guardActive == 0 && s&guardFreed == 0 {
		g.tryFree()
	}
}

// tryFree frees a closed handle that no call uses, once.
func (g *handleGuard) tryFree() {
	for {
		s := atomic.LoadUint64(&g.state)
		if s&guardActive != 0 || s&guardFreed != 0 {
			return
		}
		if atomic.CompareAndSwapUint64(&g.state, s, s|guardFreed) {
			g.free()
			return
		}
	}
}

// close marks the handle closed, from inside a call (between enter and
// leave): the handle is freed when that call and every other one have left.
func (g *handleGuard) close() {
	for {
		s := atomic.LoadUint64(&g.state)
		if s&guardClosed != 0 || atomic.CompareAndSwapUint64(&g.state, s, s|guardClosed) {
			return
		}
	}
}

// isClosed says whether the handle was closed.
func (g *handleGuard) isClosed() bool {
	return atomic.LoadUint64(&g.state)&guardClosed != 0
}

// panicBox carries a panic of a Go callback across the C boundary: the
// callback stores it instead of unwinding through the library's frames, and
// the Go call that ran the callback raises it again.
type panicBox struct {
	// set is 1 while a panic waits to be raised (atomic), so that the
	// common case, none, costs no lock.
	set   uint32
	mu    sync.Mutex
	value interface{}
}

// catch is deferred by every exported callback.
func (b *panicBox) catch() {
	if r := recover(); r != nil {
		b.store(r)
	}
}

// store keeps a panic caught elsewhere (a call given up by its context
// that panicked later) for the next call to raise; the first one wins.
func (b *panicBox) store(value interface{}) {
	b.mu.Lock()
	if atomic.LoadUint32(&b.set) == 0 {
		b.value = value
		atomic.StoreUint32(&b.set, 1)
	}
	b.mu.Unlock()
}

// rethrow raises a stored panic, once. Inlined: the common case, none,
// is one load in the caller.
func (b *panicBox) rethrow() {
	if atomic.LoadUint32(&b.set) != 0 {
		b.raise()
	}
}

// raise is rethrow once a panic was stored.
func (b *panicBox) raise() {
	b.mu.Lock()
	value, set := b.value, atomic.LoadUint32(&b.set) != 0
	b.value = nil
	atomic.StoreUint32(&b.set, 0)
	b.mu.Unlock()
	if set {
		panic(value)
	}
}
