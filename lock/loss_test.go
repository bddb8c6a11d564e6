package lock_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// Loss reports must be true: a client never reports its own landed write
// as a steal (invariant 6), and a lock that ended says why in terms a
// person can act on (invariant 7). Each test below failed before its fix.

// hookStore wraps a memstore and lets a test act between a write being
// applied and its answer reaching the engine, or hang a write.
type hookStore struct {
	*memstore.Store
	// afterRelease, when set, runs once after a release (Update with
	// Released, or Delete) was applied; the answer is then lost.
	afterRelease func()
	// readsFail makes every Get fail as unavailable while it is true.
	readsFail atomic.Bool
	// hangReleases makes release writes block until their ctx ends (for an
	// hour at most); hungWith is then the ctxTag value of the write's
	// context.
	hangReleases atomic.Bool
	hungWith     atomic.Value
}

var errAnswerLost = errors.New("test: answer lost")

func (h *hookStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	if h.readsFail.Load() {
		return backend.Record{}, backend.ErrUnavailable
	}
	return h.Store.Get(ctx, key)
}

func (h *hookStore) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	if rec.Released && h.hangReleases.Load() {
		if v := ctx.Value(ctxTag{}); v != nil {
			h.hungWith.Store(v)
		}
		// Wait as a network store does, on a context of its own made from
		// the write's.
		call, cancel := context.WithCancel(ctx)
		defer cancel()
		select {
		case <-call.Done():
		case <-time.After(time.Hour): // the engine failed to end the write
		}
		return backend.Record{}, &backend.AmbiguousError{Err: errors.Join(errAnswerLost, ctx.Err())}
	}
	got, err := h.Store.Update(ctx, rec, expect)
	if err != nil || !rec.Released || h.afterRelease == nil {
		return got, err
	}
	h.takeHook()()
	return backend.Record{}, &backend.AmbiguousError{Err: errAnswerLost}
}

func (h *hookStore) Delete(ctx context.Context, key backend.Key, expect string) error {
	if err := h.Store.Delete(ctx, key, expect); err != nil || h.afterRelease == nil {
		return err
	}
	h.takeHook()()
	return &backend.AmbiguousError{Err: errAnswerLost}
}

func (h *hookStore) takeHook() func() {
	fn := h.afterRelease
	h.afterRelease = nil
	return fn
}

// lossWatch counts OnLost calls for one lock.
type lossWatch struct {
	mu   sync.Mutex
	errs []error
}

func (w *lossWatch) option() lock.AcquireOption {
	return lock.OnLost(func(_ *lock.Lock, err error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.errs = append(w.errs, err)
	})
}

func (w *lossWatch) reports() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// TestUnknownReleaseThenHeartbeatIsNotASteal: a release whose outcome could
// not be learned leaves the lock held; it had landed, another client took
// the free key, and the next heartbeat met that client's record. With most
// of the lease left no waiter can have taken the key over, so the record
// changed hands through our own release: released, not stolen.
func TestUnknownReleaseThenHeartbeatIsNotASteal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := memstore.New()
		hook := &hookStore{Store: mem}
		alice := newClient(t, hook, "alice")
		bob := newClient(t, mem, "bob")
		var lost lossWatch
		la, err := alice.Acquire(ctx, "k", lost.option())
		require.NoError(t, err)

		hook.afterRelease = func() {}
		hook.readsFail.Store(true)
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err = la.Release(rctx)
		cancel()
		require.Error(t, err, "the outcome could not be read back")
		require.NoError(t, la.Err(), "an unknown release leaves the lock held")
		hook.readsFail.Store(false)

		lb, err := bob.TryAcquire(ctx, "k")
		require.NoError(t, err, "alice's release had landed: the key is free")
		require.Equal(t, uint64(2), lb.Token())

		err = la.Heartbeat(ctx)
		require.ErrorIs(t, err, lock.ErrReleased, "the heartbeat finds our release landed")
		require.ErrorIs(t, la.Err(), lock.ErrReleased)
		synctest.Wait()
		require.Empty(t, lost.reports(), "no loss to report: the lock was released")
	})
}

// TestUnknownDeleteThenTakenIsNotASteal: a delete-on-release whose answer
// was lost; another client acquires the absent key before the read-back
// (its token restarts at 1, below ours), and the read-back finds its
// record. Our delete landed: released, not stolen.
func TestUnknownDeleteThenTakenIsNotASteal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := memstore.New()
		hook := &hookStore{Store: mem}
		alice := newClient(t, hook, "alice")
		bob := newClient(t, mem, "bob")
		// Raise alice's token above 1, so bob's restarted token is lower.
		for range 2 {
			l, err := alice.Acquire(ctx, "k")
			require.NoError(t, err)
			require.NoError(t, l.Release(ctx))
		}
		var lost lossWatch
		la, err := alice.Acquire(ctx, "k", lock.DeleteOnRelease(), lost.option())
		require.NoError(t, err)
		require.Equal(t, uint64(3), la.Token())

		var lb *lock.Lock
		hook.afterRelease = func() {
			lb, err = bob.TryAcquire(ctx, "k")
			require.NoError(t, err, "alice's delete landed: the key is free")
		}
		require.NoError(t, la.Release(ctx), "our own delete landed")
		require.Equal(t, uint64(1), lb.Token(), "the delete dropped the counter")
		require.ErrorIs(t, la.Err(), lock.ErrReleased)
		synctest.Wait()
		require.Empty(t, lost.reports())
	})
}

// TestReleaseEndsWithItsLease: a release whose write hangs cannot outlive
// the lease it is releasing. When the lease ends locally the write is
// abandoned and Release returns the lock's *LostError, not "still held";
// also under a context that is never cancelled, whose values the write
// still carries.
func TestReleaseEndsWithItsLease(t *testing.T) {
	tagged := context.WithValue(context.Background(), ctxTag{}, "request-9")
	cases := map[string]struct {
		acquire, release context.Context
		deadline         bool
	}{
		"deadline":      {acquire: tagged, release: tagged, deadline: true},
		"never-cancels": {acquire: context.Background(), release: tagged},
		"background":    {acquire: context.Background(), release: context.Background()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hook := &hookStore{Store: memstore.New()}
				c := newClient(t, hook, "alice")
				l, err := c.Acquire(tc.acquire, "k")
				require.NoError(t, err)

				hook.hangReleases.Store(true)
				start := time.Now()
				rctx := tc.release
				if tc.deadline {
					var cancel context.CancelFunc
					rctx, cancel = context.WithTimeout(rctx, time.Hour)
					defer cancel()
				}
				err = l.Release(rctx)
				require.Less(t, time.Since(start), lock.DefaultLeaseDuration, "Release ended with the lease")
				require.ErrorIs(t, err, lock.ErrExpired, "the lock ended; Release says how")
				var lost *lock.LostError
				require.ErrorAs(t, err, &lost)
				require.Equal(t, err, l.Err(), "Release returns the lock's own error")
				require.Equal(t, tc.release.Value(ctxTag{}), hook.hungWith.Load(), "the write carried the caller's values")
				hook.hangReleases.Store(false)
			})
		})
	}
}

// hangingBeats makes heartbeat writes (Update without Released) block until
// their ctx ends, or fail as unavailable.
type hangingBeats struct {
	*memstore.Store
	hang, unavailable atomic.Bool
}

func (h *hangingBeats) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	switch {
	case rec.Released:
	case h.hang.Load():
		<-ctx.Done()
		return backend.Record{}, &backend.AmbiguousError{Err: ctx.Err()}
	case h.unavailable.Load():
		return backend.Record{}, backend.ErrUnavailable
	}
	return h.Store.Update(ctx, rec, expect)
}

// TestExpiryCauseSaysWhy: a lock that expired says why no heartbeat renewed
// it, so a person can tell a slow store from an unreachable one from a
// client with more locks than it can renew.
func TestExpiryCauseSaysWhy(t *testing.T) {
	cases := map[string]struct {
		setup func(h *hangingBeats) []lock.Option
		want  error
		text  string
	}{
		"store slow": {
			setup: func(h *hangingBeats) []lock.Option { h.hang.Store(true); return nil },
			want:  lock.ErrStoreSlow, text: "got no answer",
		},
		"store unreachable": {
			setup: func(h *hangingBeats) []lock.Option { h.unavailable.Store(true); return nil },
			want:  backend.ErrUnavailable, text: "heartbeat",
		},
		"heartbeats behind": {
			// One heartbeat per 100 s: the second one waits past the lease.
			setup: func(*hangingBeats) []lock.Option { return []lock.Option{lock.WithHeartbeatRate(0.01)} },
			want:  lock.ErrHeartbeatsBehind, text: "waiting for a worker",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				h := &hangingBeats{Store: memstore.New()}
				c := newClient(t, h, "alice", tc.setup(h)...)
				l, err := c.Acquire(ctx, "k", lock.WithSortKey("s"))
				require.NoError(t, err)
				<-l.Done()
				var lost *lock.LostError
				require.ErrorAs(t, l.Err(), &lost)
				require.Equal(t, lock.Expired, lost.Reason)
				require.Equal(t, "s", lost.SortKey)
				require.Contains(t, lost.Error(), `"k/s" lost: expired`)
				require.ErrorIs(t, lost, tc.want)
				require.Contains(t, lost.Error(), tc.text)
			})
		})
	}
}

// refusingStore refuses every acquire with err.
type refusingStore struct {
	*memstore.Store
	err error
}

func (r refusingStore) Acquire(context.Context, backend.AcquireRequest) (backend.Acquired, error) {
	return backend.Acquired{}, r.err
}

// TestStoreRefusalsKeepTheirKind: a store's refusal of the key is
// ErrInvalidKey; any other refusal (data too large, table missing,
// unsupported) is ErrInvalidRequest, not a key error.
func TestStoreRefusalsKeepTheirKind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tooBig := fmt.Errorf("%w: data too large", backend.ErrInvalid)
		c := newClient(t, refusingStore{memstore.New(), tooBig}, "alice")
		_, err := c.Acquire(ctx, "k")
		require.ErrorIs(t, err, lock.ErrInvalidRequest)
		require.NotErrorIs(t, err, lock.ErrInvalidKey)
		require.ErrorIs(t, err, tooBig, "the store's own error stays in the chain")

		badKey := fmt.Errorf("%w: key too long", backend.ErrInvalidKey)
		c = newClient(t, refusingStore{memstore.New(), badKey}, "bob")
		_, err = c.Acquire(ctx, "k")
		require.ErrorIs(t, err, lock.ErrInvalidKey)
		require.NotErrorIs(t, err, lock.ErrInvalidRequest)
	})
}

// TestDoLeavesCallerOptionsAlone: Do must not write into the caller's
// options slice, which concurrent Do calls may share.
func TestDoLeavesCallerOptionsAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newClient(t, memstore.New(), "alice")
		opts := make([]lock.AcquireOption, 1, 4)
		opts[0] = lock.WithData([]byte("x"))
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				require.NoError(t, c.Do(ctx, fmt.Sprint("k", i), func(context.Context, *lock.Lock) error { return nil }, opts...))
			})
		}
		wg.Wait()
		require.Nil(t, opts[:2][1], "Do appended into the caller's array")
	})
}

// TestSecondCloseSaysClosed: Close is documented to return ErrClosed after
// the first call.
func TestSecondCloseSaysClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, err := lock.New(memstore.New(), lock.WithOwner("alice"))
		require.NoError(t, err)
		require.NoError(t, c.Close(ctx))
		require.ErrorIs(t, c.Close(ctx), lock.ErrClosed)
	})
}
