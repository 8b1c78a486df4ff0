package yelpkafka

import (
	"fmt"
	"sync"
)

// handleGuard brackets every call into a C handle. It keeps the handle
// alive while calls use it: closing marks it closed and the last call to
// leave frees it, so no call ever reaches a freed handle and closing never
// waits for other calls (a callback running inside one of them may be the
// caller). Leaving also raises a panic of a callback that ran meanwhile.
type handleGuard struct {
	mu     sync.Mutex
	active int
	closed bool
	freed  bool
	what   string
	free   func()
	panics *panicBox
}

// enter registers a call; ErrClosedHandle once the handle is closed.
func (g *handleGuard) enter() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return &Error{Code: ErrClosedHandle, Message: fmt.Sprintf("the %s was closed", g.what)}
	}
	g.active++
	return nil
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
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.freed {
		return false
	}
	g.active++
	return true
}

// release ends a call or a hold, freeing the handle when it was the last
// of a closed one; a callback's panic stays for the next leave.
func (g *handleGuard) release() {
	g.mu.Lock()
	g.active--
	last := g.closed && g.active == 0 && !g.freed
	if last {
		g.freed = true
	}
	g.mu.Unlock()
	if last {
		g.free()
	}
}

// isClosed says whether the handle was closed.
func (g *handleGuard) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// close marks the handle closed, from inside a call (between enter and
// leave): the handle is freed when that call and every other one have left.
func (g *handleGuard) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// panicBox carries a panic of a Go callback across the C boundary: the
// callback stores it instead of unwinding through the library's frames, and
// the Go call that ran the callback raises it again.
type panicBox struct {
	mu    sync.Mutex
	value interface{}
	set   bool
}

// catch is deferred by every exported callback.
func (b *panicBox) catch() {
	if r := recover(); r != nil {
		b.mu.Lock()
		if !b.set {
			b.value, b.set = r, true
		}
		b.mu.Unlock()
	}
}

// store keeps a panic caught elsewhere (a call given up by its context
// that panicked later) for the next call to raise.
func (b *panicBox) store(value interface{}) {
	b.mu.Lock()
	if !b.set {
		b.value, b.set = value, true
	}
	b.mu.Unlock()
}

// rethrow raises a stored panic, once.
func (b *panicBox) rethrow() {
	b.mu.Lock()
	value, set := b.value, b.set
	b.value, b.set = nil, false
	b.mu.Unlock()
	if set {
		panic(value)
	}
}
