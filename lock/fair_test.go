package lock_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// contend runs clients that each take key in a loop (hold for hold, no
// think time) for d of virtual time, and returns the acquisitions of each
// and the longest any Acquire waited.
func contend(t *testing.T, clients int, hold, poll, d time.Duration) (counts []int, longest time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	s := slowStore{memstore.New(), time.Millisecond}
	counts = make([]int, clients)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range clients {
		c := newClient(t, s, fmt.Sprint("worker-", i), lock.WithPollPeriod(poll))
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				l, err := c.Acquire(ctx, "hot")
				if err != nil {
					return
				}
				mu.Lock()
				counts[i]++
				longest = max(longest, time.Since(start))
				mu.Unlock()
				time.Sleep(hold)
				require.NoError(t, l.Release(context.Background()))
			}
		})
	}
	wg.Wait()
	return counts, longest
}

// slowStore answers every call after a delay, as a network store does: the
// gap between a release and the releaser's next acquire is what a waiter's
// poll can fall into.
type slowStore struct {
	*memstore.Store
	rtt time.Duration
}

func (s slowStore) Get(ctx context.Context, k backend.Key) (backend.Record, error) {
	time.Sleep(s.rtt)
	return s.Store.Get(ctx, k)
}

func (s slowStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	time.Sleep(s.rtt)
	return s.Store.Acquire(ctx, req)
}

func (s slowStore) Update(ctx context.Context, rec backend.Record, v string) (backend.Record, error) {
	time.Sleep(s.rtt)
	return s.Store.Update(ctx, rec, v)
}

// TestFairHandOff: 4 clients on one key, holding 5 ms with no think time,
// polling every 100 ms, on a store that answers in 1 ms. Without a hand-off the releaser takes the key again
// at once every time and waiters starve; with it no waiter waits a second,
// and the least served worker gets at least half the turns of the most
// served.
func TestFairHandOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		counts, longest := contend(t, 4, 5*time.Millisecond, 100*time.Millisecond, 20*time.Second)
		t.Logf("acquisitions per worker %v, longest wait %v", counts, longest)
		require.Less(t, longest, time.Second, "no waiter waits a second")
		require.GreaterOrEqual(t, 2*slices.Min(counts), slices.Max(counts), "shares within a factor of two")
	})
}

// TestSoleClientReacquiresAtOnce: a client that saw no contention takes a
// key it just released again without delay, but for a pause of a few
// store round trips once every few times (a waiter it never saw gets a
// window); on an in-memory store, whose round trip is nothing, never.
func TestSoleClientReacquiresAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		waits := func(s backend.Store) []time.Duration {
			c := newClient(t, s, "alone")
			var out []time.Duration
			for range 9 {
				start := time.Now()
				l, err := c.Acquire(ctx, "k")
				require.NoError(t, err)
				out = append(out, time.Since(start))
				require.NoError(t, l.Release(ctx))
			}
			_, err := c.TryAcquire(ctx, "k")
			require.NoError(t, err, "TryAcquire never yields")
			return out
		}
		require.Equal(t, make([]time.Duration, 9), waits(memstore.New()))
		ms := time.Millisecond
		require.Equal(t, []time.Duration{ms, ms, ms, ms, 3 * ms, ms, ms, ms, 3 * ms},
			waits(slowStore{memstore.New(), ms}), "2 round trips every fourth time")
	})
}
