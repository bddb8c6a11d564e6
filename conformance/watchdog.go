package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// caseTimeout bounds one subtest; a store that hangs fails loudly instead of
// stalling the whole run until go test's global timeout. A variable so that
// the suite's own tests can shorten it.
var caseTimeout = 3 * time.Minute

// errBudget is the cause of a case context that ran out of time.
var errBudget = errors.New("ran out of its time budget (a store call hung?)")

// withWatchdog runs fn with a context that ends after d: a case that
// passes it to its store calls ends when one of them hangs, and, having
// failed, says that it ran out of time. If fn has still not returned a
// little later (a store call that ignores its context), it panics with the
// test's name. Panicking is the only way to stop a test from another
// goroutine; the stack trace then shows where it hung.
func withWatchdog(t *testing.T, d time.Duration, fn func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(context.Background(), d,
		fmt.Errorf("conformance: %s %w (%v)", t.Name(), errBudget, d))
	defer cancel()
	done := make(chan struct{})
	grace := min(30*time.Second, d)
	stop := time.AfterFunc(d+grace, func() {
		select {
		case <-done:
		default:
			panic(fmt.Sprintf("conformance: %s hung for %v", t.Name(), d+grace))
		}
	})
	defer stop.Stop()
	defer close(done)
	defer func() {
		// Also when fn ends the test with FailNow or Skip.
		if t.Failed() && errors.Is(context.Cause(ctx), errBudget) {
			t.Errorf("%v", context.Cause(ctx))
		}
	}()
	fn(ctx)
}
