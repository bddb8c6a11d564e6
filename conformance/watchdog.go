package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// caseTimeout bounds one subtest; a store that hangs fails loudly instead of
// stalling the whole run until go test's global timeout.
const caseTimeout = 3 * time.Minute

// withWatchdog runs fn with a context that ends after d: a case that
// passes it to its store calls fails with a message naming the case when
// one of them hangs. If fn has still not returned a little later (a store
// call that ignores its context), it panics with the test's name.
// Panicking is the only way to stop a test from another goroutine; the
// stack trace then shows where it hung.
func withWatchdog(t *testing.T, d time.Duration, fn func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(context.Background(), d,
		fmt.Errorf("conformance: %s ran out of its %v budget (a store call hung?)", t.Name(), d))
	defer cancel()
	done := make(chan struct{})
	stop := time.AfterFunc(d+30*time.Second, func() {
		select {
		case <-done:
		default:
			panic(fmt.Sprintf("conformance: %s hung for %v", t.Name(), d+30*time.Second))
		}
	})
	defer stop.Stop()
	defer close(done)
	fn(ctx)
}
