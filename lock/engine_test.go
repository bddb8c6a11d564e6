package lock_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// newClient returns a client with Java's default timings, closed at the end.
func newClient(t *testing.T, s backend.Store, owner string, opts ...lock.Option) *lock.Client {
	t.Helper()
	c, err := lock.New(s, append([]lock.Option{lock.WithOwner(owner)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestOnlyIfExists(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, s := context.Background(), memstore.New()
		c := newClient(t, s, "alice")
		_, err := c.Acquire(ctx, "k", lock.OnlyIfExists())
		require.ErrorIs(t, err, lock.ErrNoRecord)
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
		l, err = c.Acquire(ctx, "k", lock.OnlyIfExists())
		require.NoError(t, err)
		require.Equal(t, uint64(2), l.Token())
	})
}

func TestDataLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, s := context.Background(), memstore.New()
		c := newClient(t, s, "alice")
		l, err := c.Acquire(ctx, "k", lock.WithData([]byte("v1")))
		require.NoError(t, err)
		require.NoError(t, l.Heartbeat(ctx, lock.WithNewData([]byte("v2"))))
		require.Equal(t, []byte("v2"), l.Data())
		require.NoError(t, l.Release(ctx, lock.ReleaseWithData([]byte("handover"))))
		l, err = c.Acquire(ctx, "k", lock.KeepData())
		require.NoError(t, err)
		require.Equal(t, []byte("handover"), l.Data(), "KeepData keeps the released record's data")
		require.NoError(t, l.Release(ctx))
		l, err = c.Acquire(ctx, "k")
		require.NoError(t, err)
		require.Empty(t, l.Data(), "without KeepData the data is replaced")
	})
}

func TestDeleteOnReleaseRestartsTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, s := context.Background(), memstore.New()
		c := newClient(t, s, "alice")
		l, err := c.Acquire(ctx, "k", lock.DeleteOnRelease())
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
		_, err = s.Get(ctx, backend.Key{Partition: "k"})
		require.ErrorIs(t, err, backend.ErrNotFound)
		l, err = c.Acquire(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, uint64(1), l.Token(), "documented: deleting drops the fencing counter")
		require.NoError(t, l.Release(ctx))
		l, err = c.Acquire(ctx, "k", lock.DeleteOnRelease())
		require.NoError(t, err)
		require.ErrorIs(t, l.Release(ctx, lock.ReleaseWithData([]byte("x"))), lock.ErrInvalidOption,
			"a deleted record keeps no data")
	})
}

func TestAdditionalWaitGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, s := context.Background(), memstore.New()
		alice, bob := newClient(t, s, "alice"), newClient(t, s, "bob")
		_, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		start := time.Now()
		_, err = bob.Acquire(ctx, "k", lock.AdditionalWait(3*time.Second))
		require.ErrorIs(t, err, lock.ErrLocked)
		waited := time.Since(start)
		require.GreaterOrEqual(t, waited, lock.DefaultLeaseDuration+3*time.Second-lock.DefaultPollPeriod)
		require.LessOrEqual(t, waited, lock.DefaultLeaseDuration+3*time.Second+lock.DefaultPollPeriod)
	})
}

func TestAcquireHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New()
		alice, bob := newClient(t, s, "alice"), newClient(t, s, "bob")
		_, err := alice.Acquire(context.Background(), "k")
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = bob.Acquire(ctx, "k")
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestWallClockExpiryTakesOverSooner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fa := faultstore.New(memstore.New(), nil)
		alice := newClient(t, fa, "alice")
		_, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
		time.Sleep(lock.DefaultLeaseDuration + 2*time.Second) // alice's last write is now old
		bob := newClient(t, fa.Inner(), "bob", lock.WithWallClockExpiry(time.Second))
		start := time.Now()
		l, err := bob.TryAcquire(ctx, "k")
		require.NoError(t, err, "a record stamped longer ago than lease+skew is expired at first sight")
		require.Zero(t, time.Since(start))
		require.Equal(t, uint64(2), l.Token())

		carol := newClient(t, fa.Inner(), "carol") // no wall-clock expiry: must watch a lease
		_, err = carol.TryAcquire(ctx, "k")
		require.ErrorIs(t, err, lock.ErrLocked)
	})
}

func TestHeartbeatRateCap(t *testing.T) {
	// 100 locks need 20 writes/s at a 5s period. At 10/s each lock is
	// renewed every 10s, inside its 20s lease: nothing may be lost. At 4/s
	// each is renewed only every 25s: locks must be reported, not dropped.
	for _, tc := range []struct {
		rate     float64
		wantLoss bool
	}{{10, false}, {4, true}} {
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			fa := faultstore.New(memstore.New(), nil)
			c := newClient(t, fa, "alice", lock.WithHeartbeatRate(tc.rate))
			var danger, lost atomic.Int32
			for i := range 100 {
				_, err := c.Acquire(ctx, fmt.Sprint("key-", i),
					lock.OnDanger(15*time.Second, func(*lock.Lock) { danger.Add(1) }),
					lock.OnLost(func(*lock.Lock, error) { lost.Add(1) }))
				require.NoError(t, err)
			}
			before := fa.Calls(faultstore.OpUpdate)
			time.Sleep(60 * time.Second)
			writes := fa.Calls(faultstore.OpUpdate) - before
			require.LessOrEqual(t, float64(writes), tc.rate*60+1, "the cap bounds heartbeat writes")
			synctest.Wait()
			require.Equal(t, int(lost.Load()), 100-len(c.Locks()), "every lock no longer held was reported lost")
			if tc.wantLoss {
				require.Positive(t, danger.Load(), "locks that cannot be renewed in time are in danger")
				require.Positive(t, lost.Load())
			} else {
				require.Zero(t, danger.Load()+lost.Load(), "a sufficient budget loses nothing")
				require.GreaterOrEqual(t, float64(writes), tc.rate*60*0.9, "the whole budget is used")
			}
		})
	}
}

func TestFixedGoroutinesForManyLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newClient(t, memstore.New(), "alice")
		synctest.Wait()
		base := runtime.NumGoroutine()
		for i := range 500 {
			_, err := c.Acquire(ctx, "key-"+string(rune(0x4e00+i)))
			require.NoError(t, err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		require.LessOrEqual(t, runtime.NumGoroutine(), base, "holding locks must not start goroutines")
		require.Len(t, c.Locks(), 500)
	})
}

func TestLeaseRemainingShrinksAndRenews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newClient(t, memstore.New(), "alice")
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		full := l.LeaseRemaining()
		require.Less(t, full, lock.DefaultLeaseDuration, "the holder's lease is shortened by the drift margin")
		require.Greater(t, full, lock.DefaultLeaseDuration*97/100)
		time.Sleep(2 * time.Second)
		require.Equal(t, full-2*time.Second, l.LeaseRemaining())
		require.NoError(t, l.Heartbeat(ctx))
		require.Equal(t, full, l.LeaseRemaining())
	})
}

func TestLapsedLeaseIsReleasedForWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, s := context.Background(), memstore.New()
		alice := newClient(t, s, "alice")
		work, stop := context.WithCancel(ctx)
		l, err := alice.Acquire(ctx, "k", lock.HeartbeatWhile(work))
		require.NoError(t, err)
		stop()
		<-l.Done()
		require.ErrorIs(t, l.Err(), lock.ErrExpired)
		synctest.Wait()
		rec, err := s.Get(ctx, backend.Key{Partition: "k"})
		require.NoError(t, err)
		require.True(t, rec.Released, "a lease that lapsed locally is handed back at once")
		bob := newClient(t, s, "bob")
		_, err = bob.TryAcquire(ctx, "k")
		require.NoError(t, err)
	})
}

func TestCloseEndsWaitingAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, s := context.Background(), memstore.New()
		alice := newClient(t, s, "alice")
		_, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		bob, err := lock.New(s, lock.WithOwner("bob"))
		require.NoError(t, err)
		done := make(chan error)
		go func() { _, err := bob.Acquire(ctx, "k"); done <- err }()
		time.Sleep(3 * time.Second)
		require.NoError(t, bob.Close(ctx))
		require.ErrorIs(t, <-done, lock.ErrClosed)
	})
}

// A record updated by a client that does not know the wall-clock stamp
// (Java's UpdateItem acquisitions and heartbeats) keeps our stale stamp; it
// must not make a live lock look expired.
func TestWallClockExpiryIgnoresStaleStamps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, s := context.Background(), memstore.New()
		alice := newClient(t, s, "alice")
		l, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
		time.Sleep(time.Minute) // our stamp is now a minute old
		rec, err := s.Get(ctx, backend.Key{Partition: "k"})
		require.NoError(t, err)
		// A foreign client takes the released record, keeping attributes.
		foreign := rec
		foreign.Owner, foreign.Version, foreign.Released = "java-host", "java-uuid", false
		foreign.Attributes = nil
		_, err = s.Acquire(ctx, backend.AcquireRequest{Record: foreign})
		require.NoError(t, err)
		bob := newClient(t, s, "bob", lock.WithWallClockExpiry(time.Second))
		_, err = bob.TryAcquire(ctx, "k")
		require.ErrorIs(t, err, lock.ErrLocked, "a stale stamp from another version must be ignored")
	})
}

// deletingStore is a memstore whose records must be deleted on release.
type deletingStore struct{ *memstore.Store }

func (deletingStore) ReleaseByDelete() bool { return true }

// TestStoreThatDeletesOnRelease: a store that says its records must be
// deleted (backend.ReleaseDeleter) gets deletes, with no option to remember.
func TestStoreThatDeletesOnRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, mem := context.Background(), memstore.New()
		c := newClient(t, deletingStore{mem}, "alice")
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
		_, err = mem.Get(ctx, backend.Key{Partition: "k"})
		require.ErrorIs(t, err, backend.ErrNotFound, "released by deleting")
		l, err = c.Acquire(ctx, "k")
		require.NoError(t, err)
		require.ErrorIs(t, l.Release(ctx, lock.ReleaseWithData([]byte("x"))), lock.ErrInvalidOption,
			"no record is left to carry data")
	})
}
