package contention

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/leaselock/leaselock/lock"
)

// RequireNoneStuck checks that fresh, a client that took no part in the
// run, acquires every key within lease plus slack once the old holders are
// gone: a waiter takes a lapsed key after watching its record for one
// lease, so slack is one poll period and room for the requests. lease is
// fresh's setting.
func RequireNoneStuck(t testing.TB, fresh *lock.Client, keys []string, lease, slack time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	waited := make([]time.Duration, len(keys))
	errs := make([]error, len(keys))
	limit := lease + slack
	for i, k := range keys {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			begin := time.Now()
			l, err := fresh.Acquire(ctx, k)
			waited[i], errs[i] = time.Since(begin), err
			if err == nil {
				errs[i] = l.Release(context.Background())
			}
		})
	}
	wg.Wait()
	var longest time.Duration
	for i, k := range keys {
		if errs[i] != nil {
			t.Fatalf("%s stuck after every holder was cut off (waited %v): %v", k, waited[i], errs[i])
		}
		longest = max(longest, waited[i])
	}
	t.Logf("once the holders were gone, a fresh client took all %d keys within %v (lease %v)", len(keys), longest, lease)
}
