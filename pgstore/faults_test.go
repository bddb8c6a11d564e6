package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/netfault"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/pgstore"
)

// TestContentionWithNetworkFaults runs lock clients, each with its own pool
// behind its own netfault proxy, contending for a few keys while the
// proxies cut connections at random, before requests and after them. Each
// tenure writes to a fence table through WriteGuarded, in a transaction
// that also requires the fence's token never to go backwards: a stale
// holder whose guarded write committed would show up there. At the end
// every key must be free to a fresh client within a lease and a poll, and
// the run must have made progress despite the faults.
func TestContentionWithNetworkFaults(t *testing.T) {
	addr := needCluster(t)
	const (
		clients = 4
		keys    = 3
		run     = 8 * time.Second
		lease   = time.Second
	)
	table := freshTable()
	direct := newStoreOn(t, addr, table, true)
	dh := handleOf(t, direct)
	ctx := testCtx(t)
	fence := "fence_" + table
	_, err := dh.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (k text PRIMARY KEY, token bigint NOT NULL)`, fence))
	require.NoError(t, err)
	for k := range keys {
		_, err := dh.pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s VALUES ($1, 0)`, fence), fmt.Sprintf("key-%d", k))
		require.NoError(t, err)
	}

	var (
		tenures, guarded, refused, stale, losses, failed atomic.Int64
		wg                                               sync.WaitGroup
		errMu                                            sync.Mutex
		errs                                             []string
	)
	runCtx, stop := context.WithTimeout(ctx, run)
	defer stop()
	for c := range clients {
		p := netfault.Start(t, addr)
		s := newStoreOn(t, p.Addr(), table, false, cancelsDirect(addr))

		// The chaos: every few milliseconds, cut whatever this client
		// sends next (before or after the server acts on it), then pass.
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed))
			for runCtx.Err() == nil {
				time.Sleep(time.Duration(20+rng.IntN(40)) * time.Millisecond)
				mode := netfault.CutBeforeRequest
				if rng.IntN(2) == 0 {
					mode = netfault.CutAfterRequest
				}
				p.SetModeAfter(rng.IntN(3), mode)
				time.Sleep(time.Duration(1+rng.IntN(3)) * time.Millisecond)
				p.SetMode(netfault.Pass)
			}
		}(uint64(c) + 1)

		// Two clients share each pool (and proxy), as two services on one
		// host would; a client holds a key at most once, so each worker is
		// its own client.
		for w := range 2 {
			cl, err := lock.New(s, lock.WithOwner(fmt.Sprintf("client-%d-%d", c, w)), lock.WithLeaseDuration(lease),
				lock.WithHeartbeatPeriod(lease/4), lock.WithPollPeriod(lease/10))
			require.NoError(t, err)
			t.Cleanup(func() { _ = cl.Close(context.Background()) })
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, 7))
				for i := 0; runCtx.Err() == nil; i++ {
					key := fmt.Sprintf("key-%d", (c+w+i)%keys)
					// One tenure in eight stalls past its lease (a GC
					// pause, a stuck call: MaxHold stops its heartbeats)
					// and then writes anyway, with a context its loss does
					// not cancel: only the guard stands between it and the
					// data.
					stall := rng.IntN(8) == 0
					var opts []lock.AcquireOption
					if stall {
						opts = append(opts, lock.MaxHold(lease/4))
					}
					err := cl.Do(runCtx, key, func(ctx context.Context, l *lock.Lock) error {
						tenures.Add(1)
						if stall {
							time.Sleep(lease + lease/2)
							ctx = context.WithoutCancel(ctx)
						}
						for range 3 {
							write := func(fn pgstore.TxFunc) error { return pgstore.WriteGuarded(ctx, l, fn) }
							if stall {
								// Past the engine, which knows the lease
								// lapsed: the store's guard alone decides.
								write = func(fn pgstore.TxFunc) error { return s.WriteGuarded(ctx, l.Guard(), fn) }
							}
							err := write(func(ctx context.Context, tx pgx.Tx) error {
								tag, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET token = $2 WHERE k = $1 AND token <= $2`, fence),
									key, int64(l.Token()))
								if err != nil {
									return err
								}
								if tag.RowsAffected() != 1 {
									stale.Add(1)
									return fmt.Errorf("fence of %s is past token %d", key, l.Token())
								}
								return nil
							})
							switch {
							case err == nil:
								guarded.Add(1)
							case errors.Is(err, backend.ErrGuardFailed):
								refused.Add(1)
							}
							time.Sleep(5 * time.Millisecond)
						}
						return nil
					}, opts...)
					var lost *lock.LostError
					switch {
					case err == nil:
					case errors.As(err, &lost):
						losses.Add(1)
					default:
						// A release that failed leaves the lock held
						// (and tracked by the client); give it back
						// before trying again.
						for _, held := range cl.Locks() {
							_ = held.Release(ctx)
						}
						failed.Add(1)
						errMu.Lock()
						if len(errs) < 5 {
							errs = append(errs, err.Error())
						}
						errMu.Unlock()
					}
				}
			}(uint64(10*c + w))
		}
	}
	wg.Wait()
	t.Logf("tenures %d, guarded writes committed %d, refused by the guard %d, locks lost %d, calls failed %d",
		tenures.Load(), guarded.Load(), refused.Load(), losses.Load(), failed.Load())
	for _, e := range errs {
		t.Logf("a failed call: %s", e)
	}
	require.Zero(t, stale.Load(), "a guarded write committed with a token older than the fence's")
	require.Greater(t, tenures.Load(), int64(20), "too little progress under faults")
	require.Greater(t, guarded.Load(), int64(20), "too few guarded writes committed under faults")
	require.Positive(t, refused.Load(), "no stalled holder met its guard: the run tested nothing of it")

	// Everyone is gone: a fresh client gets every key within a lease plus
	// a poll (a holder's last release may have been cut; then its lease
	// runs out).
	fresh, err := lock.New(direct, lock.WithOwner("fresh"), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(lease/4), lock.WithPollPeriod(lease/10))
	require.NoError(t, err)
	defer fresh.Close(context.Background())
	for k := range keys {
		actx, cancel := context.WithTimeout(ctx, lease+lease/10+time.Second)
		l, err := fresh.Acquire(actx, fmt.Sprintf("key-%d", k))
		cancel()
		require.NoError(t, err, "key-%d stayed held after every client left", k)
		rec, err := direct.Get(ctx, backend.Key{Partition: fmt.Sprintf("key-%d", k)})
		require.NoError(t, err)
		require.Equal(t, l.Token(), rec.Token)
		var fenced int64
		require.NoError(t, dh.pool.QueryRow(ctx, fmt.Sprintf(`SELECT token FROM %s WHERE k = $1`, fence),
			fmt.Sprintf("key-%d", k)).Scan(&fenced))
		require.Less(t, fenced, int64(l.Token()), "the fresh tenure's token is above every earlier one")
	}
}
