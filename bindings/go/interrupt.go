package yelpkafka

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// How a context ends a call that is waiting inside the library, by kind of
// C call:
//
//   - Calls that a handle's wakeup ends and that may be made again
//     (yk_consumer_wakeup, yk_consumer_group_wakeup, yk_producer_wakeup: a
//     consumer's or group's next, get_message and next_batch, a producer's
//     poll and flush; and a commit, which stores the same offsets again)
//     run under an interrupter (run): a goroutine watching the context
//     wakes the call when the context ends, and the call returns the
//     context's error at once, whatever its timeout
//     (consumer_timeout_ms=-1 included).
//   - Calls that the wakeup ends but that must not be made again: a
//     synchronous send (yk_producer_send_messages, send_keyed_messages,
//     send_with_headers), which would queue its messages twice. They run
//     under the interrupter once (runOnce). A woken send stops waiting:
//     the messages it queued stay queued and may still be delivered
//     (docs/c-abi.md, "Wakeups"), as with any request whose answer was not
//     waited for.
//   - Waits that the library lets us repeat without a wakeup
//     (yk_consumer_group_wait_assignment, a produce waiting for room in the
//     queue) wait in slices of at most contextSlice and look at the context
//     between them.
//   - Runs that the handle's stop ends (a callback group's run, a
//     multiprocessing group's start) call it when the context ends: the
//     group stops gracefully, and RunContext returns once it has.
//
// The rest (a consumer's connect, an offsets or discovery request, a
// group's stop) cannot be ended: they wait for brokers within the
// library's own timeouts. Their Context variants run them on a goroutine
// of their own (detached) and return the context's error as soon as it
// ends, leaving the call to finish in the background; its outcome is then
// unknown. A connect given up so also closes its consumer.

// contextSlice is the longest slice of a repeated wait (StartContext,
// WaitAssignment, ProduceContext): a cancellation is noticed within it.
const contextSlice = 50 * time.Millisecond

// wakeRepeat is how often a call whose context ended is woken again until
// it returns. A wakeup ends one blocked call of the handle, which may be
// another one than the call it was meant for; that one goes on afterwards
// (interrupter.run), and the next wakeup finds the right call.
const wakeRepeat = 10 * time.Millisecond

// interrupter ends a handle's blocking calls when their context ends, with
// the handle's wakeup. A wakeup is a flag on the handle that the first
// blocking call to look at it takes, so a call may take a wakeup meant for
// another one, or one that came after the call it was meant for had
// returned. Such a call sees ErrWokenUp while its own context goes on: it
// waits until no call whose context ended is still inside the library,
// then calls again.
type interrupter struct {
	// wake calls the handle's yk_*_wakeup if the handle still exists.
	wake func()
	// ending counts the calls whose context ended and which have not
	// returned yet (atomic); new calls and calls woken for another's sake
	// wait until it is 0.
	ending int32
	mu     sync.Mutex
	// clear, under mu, is closed when ending drops to 0.
	clear chan struct{}
}

// run makes the blocking call fn, which a wakeup ends with ErrWokenUp,
// until it returns for its own sake. ended is ctx's error when ctx ended
// the call (err is then the library's ErrWokenUp or whatever fn returned
// last); a result that fn returned while ctx ended (a message that came at
// that moment) is returned as it is, with ended nil.
func (in *interrupter) run(ctx context.Context, fn func() error) (err error, ended error) {
	for {
		if ended := in.waitClear(ctx); ended != nil {
			return nil, ended
		}
		err = in.once(ctx, fn)
		if !errors.Is(err, ErrWokenUp) {
			return err, nil
		}
		if ended := ctx.Err(); ended != nil {
			return err, ended
		}
		// A wakeup meant for another call: go on once that one returned.
	}
}

// runOnce makes the blocking call fn, which a wakeup ends with
// ErrWokenUp, once: ctx's error without calling fn when ctx has ended
// (or ends while another call whose context ended is still inside the
// library); otherwise fn's error, with ended set to ctx's error when ctx
// ended the call. A wakeup meant for another call of the handle that fn
// takes is returned as ErrWokenUp with ended nil: fn cannot be made again.
func (in *interrupter) runOnce(ctx context.Context, fn func() error) (err error, ended error) {
	if ended := in.waitClear(ctx); ended != nil {
		return nil, ended
	}
	err = in.once(ctx, fn)
	if errors.Is(err, ErrWokenUp) {
		return err, ctx.Err()
	}
	return err, nil
}

// waitClear waits until no call whose context ended is inside the
// library; ctx's error when ctx ends first (or has ended).
func (in *interrupter) waitClear(ctx context.Context) error {
	for atomic.LoadInt32(&in.ending) != 0 {
		in.mu.Lock()
		if atomic.LoadInt32(&in.ending) == 0 {
			in.mu.Unlock()
			break
		}
		if in.clear == nil {
			in.clear = make(chan struct{})
		}
		clear := in.clear
		in.mu.Unlock()
		select {
		case <-clear:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// once makes one call of fn, woken when ctx ends.
func (in *interrupter) once(ctx context.Context, fn func() error) error {
	done := ctx.Done()
	if done == nil {
		return fn()
	}
	returned := make(chan struct{})
	go in.watch(done, returned)
	// Also when fn panics (a callback's panic raised again): the watcher
	// must not go on waking the handle.
	defer close(returned)
	return fn()
}

// watch wakes the call that closes returned when it returns, once done is
// closed, again every wakeRepeat until it returns.
func (in *interrupter) watch(done <-chan struct{}, returned <-chan struct{}) {
	select {
	case <-returned:
		return
	case <-done:
	}
	atomic.AddInt32(&in.ending, 1)
	defer func() {
		in.mu.Lock()
		if atomic.AddInt32(&in.ending, -1) == 0 && in.clear != nil {
			close(in.clear)
			in.clear = nil
		}
		in.mu.Unlock()
	}()
	ticker := time.NewTicker(wakeRepeat)
	defer ticker.Stop()
	for {
		in.wake()
		select {
		case <-returned:
			return
		case <-ticker.C:
		}
	}
}

// detached runs fn, a call that nothing ends early, for a Context variant:
// ctx's error at once when ctx has ended; otherwise fn runs on a goroutine
// of its own and detached returns its result, or ctx's error as soon as
// ctx ends, leaving fn to finish in the background. A panic of fn (a
// callback's, raised again by the guard) is raised again here, or, when
// the caller is gone, kept in panics for the handle's next call.
func detached[T any](ctx context.Context, panics *panicBox, fn func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if ctx.Done() == nil {
		return fn()
	}
	results := make(chan detachedResult[T])
	abandoned := make(chan struct{})
	go func() {
		var r detachedResult[T]
		defer func() {
			if p := recover(); p != nil {
				r = detachedResult[T]{panicked: true, panic: p}
			}
			select {
			case results <- r:
			case <-abandoned:
				if r.panicked && panics != nil {
					panics.store(r.panic)
				}
			}
		}()
		r.value, r.err = fn()
	}()
	select {
	case r := <-results:
		if r.panicked {
			panic(r.panic)
		}
		return r.value, r.err
	case <-ctx.Done():
		close(abandoned)
		return zero, ctx.Err()
	}
}

// detachedResult is what a detached call gave.
type detachedResult[T any] struct {
	value    T
	err      error
	panicked bool
	panic    interface{}
}

// contextTimeout is what remains of ctx's deadline, for a C call that
// takes a timeout: 0 once it passed, and ok false without a deadline.
func contextTimeout(ctx context.Context) (timeout time.Duration, ok bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	if remaining := time.Until(deadline); remaining > 0 {
		return remaining, true
	}
	return 0, true
}

// contextError is a library failure caused by a context: the library's
// timeout reached because the context's deadline was its timeout, or a
// wait ended because the context ended. errors.Is matches the context's
// error (context.DeadlineExceeded or context.Canceled) and ErrTimedOut: an
// interrupted wait is a timeout. Unwrap gives the library's *Error
// (ErrTimedOut or ErrWokenUp).
type contextError struct {
	library *Error
	context error
}

func (e *contextError) Error() string { return e.library.Error() + " (" + e.context.Error() + ")" }

// Is matches the context's error and ErrTimedOut.
func (e *contextError) Is(target error) bool { return target == e.context || target == ErrTimedOut }

func (e *contextError) Unwrap() error { return e.library }

// endedByContext is the error of a wait that ctx ended: err (the library's
// *Error, ErrTimedOut or ErrWokenUp) marked with ctx's error.
func endedByContext(err error, ended error) error {
	var library *Error
	if !errors.As(err, &library) {
		library = &Error{Code: ErrTimedOut, Message: "the wait ended with its context"}
	}
	return &contextError{library: library, context: ended}
}

// withContextError marks err, the library's ErrTimedOut, as caused by ctx
// when ctx has ended; other errors pass unchanged.
func withContextError(ctx context.Context, err error) error {
	var library *Error
	if !errors.As(err, &library) || library.Code != ErrTimedOut {
		return err
	}
	if cause := contextEnded(ctx); cause != nil {
		return &contextError{library: library, context: cause}
	}
	return err
}

// contextEnded is ctx's error, or context.DeadlineExceeded once its
// deadline passed even if ctx's timer has not fired yet (a C call given
// that deadline returns right after it, possibly before the timer).
func contextEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// runUntilDone runs a group's blocking run until it returns, stopping the
// group (stop, under guard's hold so the handle is still live) when ctx
// ends first; it returns ctx's error when ctx ended and run succeeded,
// else run's. With ctx ended before the call it returns ctx's error
// without running. The callback and multiprocessing groups' RunContext.
func runUntilDone(ctx context.Context, guard *handleGuard, run func() error, stop func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	returned := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-returned:
		case <-ctx.Done():
			if guard.hold() {
				stop()
				guard.release()
			}
		}
	}()
	err := run()
	close(returned)
	<-stopped
	if ended := ctx.Err(); ended != nil && err == nil {
		return ended
	}
	return err
}
