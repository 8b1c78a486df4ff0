package yelpkafka

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Closing a handle while goroutines keep entering it frees it exactly
// once, after the last call inside left, and every enter after the close
// is ErrClosedHandle.
func TestGuardFreesOnceAfterTheLastCallWhileOthersEnter(t *testing.T) {
	for round := 0; round < 200; round++ {
		var frees, inside int32
		g := &handleGuard{what: "test", panics: &panicBox{}}
		g.free = func() {
			if atomic.LoadInt32(&inside) != 0 {
				t.Error("freed while a call was inside")
			}
			atomic.AddInt32(&frees, 1)
		}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					err := g.enter()
					if err != nil {
						if !errors.Is(err, ErrClosedHandle) {
							t.Errorf("enter: %v", err)
						}
						return
					}
					atomic.AddInt32(&inside, 1)
					atomic.AddInt32(&inside, -1)
					g.leave()
				}
			}()
		}
		if err := g.enter(); err != nil {
			t.Fatal(err)
		}
		g.close()
		g.leave()
		wg.Wait()
		if err := g.enter(); !errors.Is(err, ErrClosedHandle) {
			t.Fatalf("enter after close: %v", err)
		}
		if n := atomic.LoadInt32(&frees); n != 1 {
			t.Fatalf("freed %d times, want once", n)
		}
	}
}
