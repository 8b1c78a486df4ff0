package yelpkafka

import (
	"context"
	"errors"
	"time"
)

// contextSlice is how long one wait of a call that honours cancellation
// may last: calls the library lets us repeat (Flush) wait in slices this
// long and look at their context between them. The library has no call
// yet that ends another's wait, so this bounds how late a cancellation is
// noticed.
const contextSlice = 100 * time.Millisecond

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
// wait given up because the context ended. errors.Is matches both the
// library's code and the context's error (context.DeadlineExceeded or
// context.Canceled).
type contextError struct {
	library *Error
	context error
}

func (e *contextError) Error() string { return e.library.Error() + " (" + e.context.Error() + ")" }

// Is matches the context's error; Unwrap gives the library's *Error.
func (e *contextError) Is(target error) bool { return target == e.context }

func (e *contextError) Unwrap() error { return e.library }

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
