package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
)

func lockCases() []lockCase {
	return []lockCase{
		{name: "AcquireRelease", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			require.Equal(t, uint64(1), l.Token())
			require.NoError(t, l.Err())
			require.NoError(t, l.Release(e.ctx))
			require.ErrorIs(t, l.Err(), lock.ErrReleased)
			require.True(t, e.wait(l.Done(), 0), "Done must be closed after Release")
			require.ErrorIs(t, context.Cause(l.Context()), lock.ErrReleased)
			require.NoError(t, l.Release(e.ctx), "Release is idempotent")
			rec, err := e.b.Get(e.ctx, backend.Key{Partition: e.key("k")})
			require.NoError(t, err)
			require.True(t, rec.Released, "release keeps the record, marked released")
		}},
		{name: "TryAcquireNamesHolder", remote: true, run: func(e *lockEnv) {
			t := e.t
			alice, bob := e.client("alice", e.a), e.client("bob", e.b)
			_, err := alice.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			_, err = bob.TryAcquire(e.ctx, e.key("k"))
			require.ErrorIs(t, err, lock.ErrLocked)
			var held *lock.LockedError
			require.ErrorAs(t, err, &held)
			require.Equal(t, "alice", held.Owner)
		}},
		{name: "AlreadyHeldAndReentrant", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			_, err = c.TryAcquire(e.ctx, e.key("k"))
			require.ErrorIs(t, err, lock.ErrAlreadyHeld)
			again, err := c.Acquire(e.ctx, e.key("k"), lock.Reentrant())
			require.NoError(t, err)
			require.Same(t, l, again)
		}},
		{name: "WaitsForRelease", remote: true, run: func(e *lockEnv) {
			t := e.t
			alice, bob := e.client("alice", e.a), e.client("bob", e.b)
			la, err := alice.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			got := make(chan *lock.Lock, 1)
			go func() {
				lb, err := bob.Acquire(e.ctx, e.key("k"))
				if err == nil {
					got <- lb
				}
				close(got)
			}()
			e.pass(3 * e.poll)
			require.Empty(t, got, "bob must wait while alice holds the lock")
			require.NoError(t, la.Release(e.ctx))
			lb := <-got
			require.NotNil(t, lb, "bob must get the lock once alice released it")
			require.Greater(t, lb.Token(), la.Token())
		}},
		{name: "MutualExclusion", remote: true, run: func(e *lockEnv) {
			mutualExclusion(e)
		}},
		{name: "TakeoverAfterExpiry", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			alice, bob := e.client("alice", fa), e.client("bob", e.b)
			var lost atomic.Int32
			la, err := alice.Acquire(e.ctx, e.key("k"), lock.OnLost(func(*lock.Lock, error) { lost.Add(1) }))
			require.NoError(t, err)
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1) // alice is cut off
			lb, err := bob.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err, "bob must take over a lease that stopped being renewed")
			select {
			case <-la.Done():
			default:
				require.FailNow(t, "alice must know her lease expired before bob takes over")
			}
			require.ErrorIs(t, la.Err(), lock.ErrExpired)
			require.Greater(t, lb.Token(), la.Token(), "takeover advances the fencing token")
			require.NoError(t, bob.Close(e.ctx))
			require.NoError(t, alice.Close(e.ctx))
			require.Equal(t, int32(1), lost.Load(), "OnLost runs exactly once")
		}},
		{name: "RememberedObservations", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			alice, bob := e.client("alice", fa), e.client("bob", e.b)
			_, err := alice.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			var lb *lock.Lock
			start := time.Now()
			for lb == nil {
				lb, err = bob.TryAcquire(e.ctx, e.key("k"))
				if err != nil {
					require.ErrorIs(t, err, lock.ErrLocked)
					e.pass(e.poll)
				}
			}
			waited := time.Since(start)
			require.GreaterOrEqual(t, waited, e.lease, "takeover before a whole lease was observed")
			require.Less(t, waited, e.lease+e.lease/2, "repeated TryAcquire must count earlier observations")
		}},
		{name: "StolenIsDetected", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			var lostErr atomic.Value
			l, err := c.Acquire(e.ctx, e.key("k"), lock.OnLost(func(_ *lock.Lock, err error) { lostErr.Store(err) }))
			require.NoError(t, err)
			// An operator force-takes the record.
			_, err = e.b.Acquire(e.ctx, backend.AcquireRequest{ExpectVersion: e.version(e.key("k")), Record: backend.Record{
				Key: backend.Key{Partition: e.key("k")}, Owner: "mallory", Version: "forced", LeaseDuration: e.lease}})
			require.NoError(t, err)
			require.True(t, e.wait(l.Done(), 2*e.beat), "the next heartbeat must detect the steal")
			require.ErrorIs(t, l.Err(), lock.ErrStolen)
			var le *lock.LostError
			require.ErrorAs(t, l.Err(), &le)
			require.Equal(t, "mallory", le.Holder)
			require.ErrorIs(t, context.Cause(l.Context()), lock.ErrStolen)
			require.NoError(t, c.Close(e.ctx))
			require.ErrorIs(t, lostErr.Load().(error), lock.ErrStolen)
		}},
		{name: "FencingMonotonic", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			clients := []*lock.Client{e.client("c0", fa), e.client("c1", e.b), e.client("c2", e.a)}
			var last uint64
			for i := range 6 {
				l, err := clients[i%3].Acquire(e.ctx, e.key("k"))
				require.NoError(t, err)
				require.Greater(t, l.Token(), last, "token of acquisition %d", i)
				last = l.Token()
				if i == 3 {
					// c0 is cut off holding it: acquisition 4 is a takeover.
					fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
					continue
				}
				require.NoError(t, l.Release(e.ctx))
			}
		}},
		{name: "HeartbeatsRenew", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			v := e.version(e.key("k"))
			e.pass(3 * e.lease)
			require.NoError(t, l.Err(), "heartbeats keep the lock for many leases")
			require.NotEqual(t, v, e.version(e.key("k")), "each heartbeat writes a new version")
			beats := fa.Calls(faultstore.OpUpdate)
			require.GreaterOrEqual(t, beats, int(3*e.lease/e.beat)-2)
			require.LessOrEqual(t, beats, int(3*e.lease/e.beat*10/9)+1, "about one write per heartbeat period")
		}},
		{name: "RoundTripBudget", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			require.Equal(t, 1, fa.Calls(faultstore.OpAcquire)+fa.Calls(faultstore.OpGet), "acquire of an absent key")
			require.NoError(t, l.Heartbeat(e.ctx))
			require.Equal(t, 1, fa.Calls(faultstore.OpUpdate), "heartbeat")
			require.NoError(t, l.Release(e.ctx))
			require.Equal(t, 2, fa.Calls(faultstore.OpUpdate), "release")
			_, err = c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			require.Equal(t, 2, fa.Calls(faultstore.OpAcquire)+fa.Calls(faultstore.OpGet), "acquire of a released key")
		}},
		{name: "NoResurrection", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			require.NoError(t, l.Release(e.ctx))
			calls := fa.Calls(faultstore.OpUpdate)
			require.ErrorIs(t, l.Heartbeat(e.ctx), lock.ErrReleased)
			e.pass(2 * e.beat)
			require.Equal(t, calls, fa.Calls(faultstore.OpUpdate), "no write after release")
			rec, err := e.b.Get(e.ctx, backend.Key{Partition: e.key("k")})
			require.NoError(t, err)
			require.True(t, rec.Released)
		}},
		{name: "ReleaseVersusHeartbeat", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			n := 50
			if e.h.Remote {
				n = 10
			}
			for i := range n {
				l, err := c.Acquire(e.ctx, e.key("k"))
				require.NoError(t, err)
				var hbErr, relErr error
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); hbErr = l.Heartbeat(e.ctx) }()
				go func() { defer wg.Done(); relErr = l.Release(e.ctx) }()
				wg.Wait()
				require.NoError(t, relErr, "round %d", i)
				if hbErr != nil {
					require.ErrorIs(t, hbErr, lock.ErrReleased, "round %d", i)
				}
				rec, err := e.b.Get(e.ctx, backend.Key{Partition: e.key("k")})
				require.NoError(t, err)
				require.True(t, rec.Released, "round %d: a heartbeat resurrected a released lock", i)
			}
		}},
		{name: "AmbiguousHeartbeats", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			for _, k := range []faultstore.Kind{faultstore.DroppedResponse, faultstore.Ambiguous, faultstore.LostBeforeApply, faultstore.Unavailable} {
				fa.Inject(faultstore.OpUpdate, k)
				err := l.Heartbeat(e.ctx)
				require.NoError(t, l.Err(), "%v: a heartbeat fault is not a loss", k)
				if k == faultstore.DroppedResponse || k == faultstore.Ambiguous {
					require.NoError(t, err, "%v: an applied heartbeat is a success", k)
				}
				require.NoError(t, l.Heartbeat(e.ctx), "%v: the next heartbeat must succeed", k)
			}
			require.NoError(t, l.Release(e.ctx))
		}},
		{name: "AmbiguousLandsLater", remote: true, run: func(e *lockEnv) {
			// A heartbeat whose outcome could not be read back landed after
			// all: the next write must recognise it, not report a steal.
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			fa.Inject(faultstore.OpUpdate, faultstore.Ambiguous)
			fa.Inject(faultstore.OpGet, faultstore.Unavailable, faultstore.Unavailable, faultstore.Unavailable,
				faultstore.Unavailable, faultstore.Unavailable, faultstore.Unavailable)
			require.Error(t, l.Heartbeat(e.ctx), "outcome unknown")
			require.NoError(t, l.Err())
			require.NoError(t, l.Heartbeat(e.ctx), "the earlier write is ours")
			require.NoError(t, l.Err())
			require.NoError(t, l.Release(e.ctx))
		}},
		{name: "AmbiguousAcquireAndRelease", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			for i, k := range []faultstore.Kind{faultstore.DroppedResponse, faultstore.Ambiguous} {
				fa.Inject(faultstore.OpAcquire, k)
				l, err := c.Acquire(e.ctx, e.key("k"))
				require.NoError(t, err, "%v acquire", k)
				require.Equal(t, uint64(i+1), l.Token())
				fa.Inject(faultstore.OpUpdate, k)
				require.NoError(t, l.Release(e.ctx), "%v release", k)
				require.ErrorIs(t, l.Err(), lock.ErrReleased)
			}
		}},
		{name: "ReleaseFailureKeepsLock", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			fa.Inject(faultstore.OpUpdate, faultstore.Unavailable)
			require.ErrorIs(t, l.Release(e.ctx), backend.ErrUnavailable)
			require.NoError(t, l.Err(), "a failed release leaves the lock held")
			require.False(t, e.wait(l.Done(), 0))
			e.pass(e.lease)
			require.NoError(t, l.Err(), "and still heartbeated")
			require.NoError(t, l.Release(e.ctx))
		}},
		{name: "DangerThenExpiry", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			var danger, lost atomic.Int32
			dangerFirst := make(chan bool, 1)
			l, err := c.Acquire(e.ctx, e.key("k"),
				lock.OnDanger(e.lease/2, func(l *lock.Lock) { danger.Add(1); dangerFirst <- l.Err() == nil }),
				lock.OnLost(func(*lock.Lock, error) { lost.Add(1) }))
			require.NoError(t, err)
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			require.True(t, e.wait(l.Done(), 2*e.lease))
			require.ErrorIs(t, l.Err(), lock.ErrExpired)
			require.NoError(t, c.Close(e.ctx))
			require.Equal(t, int32(1), danger.Load(), "OnDanger exactly once")
			require.Equal(t, int32(1), lost.Load(), "OnLost exactly once")
			require.True(t, <-dangerFirst, "danger must be signalled while the lock is still held")
		}},
		{name: "HeartbeatsEndWithWork", remote: true, run: func(e *lockEnv) {
			t := e.t
			alice, bob := e.client("alice", e.a), e.client("bob", e.b)
			work, stop := context.WithCancel(e.ctx)
			l, err := alice.Acquire(e.ctx, e.key("k"), lock.HeartbeatWhile(work))
			require.NoError(t, err)
			stop() // the worker hung and its deadline passed
			require.True(t, e.wait(l.Done(), 2*e.lease), "a lock whose work ended must lapse")
			require.ErrorIs(t, l.Err(), lock.ErrExpired)
			lb, err := bob.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			require.Greater(t, lb.Token(), l.Token())
		}},
		{name: "Do", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			var token uint64
			err := c.Do(e.ctx, e.key("k"), func(ctx context.Context, l *lock.Lock) error {
				token = l.Token()
				require.NoError(t, ctx.Err())
				return errors.New("job failed")
			})
			require.EqualError(t, err, "job failed")
			require.Equal(t, uint64(1), token)
			rec, err := e.b.Get(e.ctx, backend.Key{Partition: e.key("k")})
			require.NoError(t, err)
			require.True(t, rec.Released, "Do releases when fn returns")
			require.Empty(t, c.Locks())
		}},
		{name: "DoReportsLoss", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			err := c.Do(e.ctx, e.key("k"), func(ctx context.Context, l *lock.Lock) error {
				fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
				<-ctx.Done()
				return nil
			})
			require.ErrorIs(t, err, lock.ErrLockLost, "Do must report the loss")
		}},
		{name: "GetDoesNotMisreport", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			alice, bob := e.client("alice", fa), e.client("bob", e.b)
			info, err := bob.Get(e.ctx, e.key("k"), "")
			require.NoError(t, err)
			require.Equal(t, lock.StateFree, info.State)
			la, err := alice.Acquire(e.ctx, e.key("k"), lock.WithData([]byte("d")))
			require.NoError(t, err)
			info, err = alice.Get(e.ctx, e.key("k"), "")
			require.NoError(t, err)
			require.Equal(t, lock.StateOwned, info.State)
			info, err = bob.Get(e.ctx, e.key("k"), "")
			require.NoError(t, err)
			require.Equal(t, lock.StateLocked, info.State, "a live lock seen once is held, not expired")
			require.Equal(t, "alice", info.Owner)
			require.Equal(t, []byte("d"), info.Data)
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			<-la.Done()
			for info.State == lock.StateLocked {
				e.pass(e.poll)
				info, err = bob.Get(e.ctx, e.key("k"), "")
				require.NoError(t, err)
			}
			require.Equal(t, lock.StateExpired, info.State)
			require.GreaterOrEqual(t, info.ObservedFor, e.lease)
		}},
		{name: "CloseReleasesAll", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			var locks []*lock.Lock
			for i := range 3 {
				l, err := c.Acquire(e.ctx, e.key(fmt.Sprint(i)))
				require.NoError(t, err)
				locks = append(locks, l)
			}
			require.NoError(t, c.Close(e.ctx))
			for i, l := range locks {
				require.ErrorIs(t, l.Err(), lock.ErrReleased)
				rec, err := e.b.Get(e.ctx, backend.Key{Partition: e.key(fmt.Sprint(i))})
				require.NoError(t, err)
				require.True(t, rec.Released)
			}
			_, err := c.Acquire(e.ctx, e.key("late"))
			require.ErrorIs(t, err, lock.ErrClosed)
			require.ErrorIs(t, c.Close(e.ctx), lock.ErrClosed, "a second Close says the client is closed")
		}},
		{name: "CloseJoinsErrors", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			for _, k := range []string{"x", "y"} {
				_, err := c.Acquire(e.ctx, e.key(k))
				require.NoError(t, err)
			}
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			err := c.Close(e.ctx)
			require.ErrorIs(t, err, backend.ErrUnavailable)
			require.Contains(t, err.Error(), e.key("x"))
			require.Contains(t, err.Error(), e.key("y"))
			require.Empty(t, c.Locks())
		}},
		{name: "GuardedWriteRefusedAfterTakeover", remote: true, run: func(e *lockEnv) {
			guardedAfterTakeover(e)
		}},
	}
}

// mutualExclusion runs several clients contending for two keys and checks
// that no two ever hold one key at once unless the earlier holder had
// already been told it lost the lock.
func mutualExclusion(e *lockEnv) {
	t := e.t
	rounds, hold := 40, 3*time.Second
	if e.h.Remote {
		rounds, hold = 6, e.beat
	}
	var mu sync.Mutex
	holders := map[string]*lock.Lock{}
	tokens := map[string]uint64{}
	var wg sync.WaitGroup
	var acquisitions atomic.Int64
	for i := range 4 {
		store := []backend.Store{e.a, e.b}[i%2]
		c := e.client(fmt.Sprint("client-", i), store)
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					key := e.key(fmt.Sprint("k", (i+g+r)%2))
					l, err := c.Acquire(e.ctx, key)
					if errors.Is(err, lock.ErrAlreadyHeld) {
						continue
					}
					if !assertNoErr(t, err) {
						return
					}
					mu.Lock()
					if prev := holders[key]; prev != nil && prev.Err() == nil {
						mu.Unlock()
						t.Errorf("%s held by %s (token %d) and %s (token %d) at once", key, prev.Owner(), prev.Token(), l.Owner(), l.Token())
						_ = l.Release(e.ctx)
						return
					}
					if l.Token() <= tokens[key] {
						t.Errorf("%s: token %d after %d", key, l.Token(), tokens[key])
					}
					holders[key], tokens[key] = l, l.Token()
					mu.Unlock()
					acquisitions.Add(1)
					time.Sleep(hold / time.Duration(1+r%3))
					mu.Lock() // the hold ends before the release write is sent
					if holders[key] == l {
						holders[key] = nil
					}
					mu.Unlock()
					assertNoErr(t, l.Release(e.ctx))
				}
			}()
		}
	}
	wg.Wait()
	require.Positive(t, acquisitions.Load())
	t.Logf("%d acquisitions, no overlap", acquisitions.Load())
}

func assertNoErr(t interface{ Errorf(string, ...any) }, err error) bool {
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

// guardedAfterTakeover: a holder cut off from the store loses its lock to
// another client; its guarded write is then refused.
func guardedAfterTakeover(e *lockEnv) {
	t := e.t
	if _, ok := e.a.(backend.GuardedWriter); !ok || e.h.GuardedOp == nil {
		t.Skipf("%T has no guarded writes, or the harness gives no GuardedOp", e.a)
	}
	alice, bob := e.client("alice", e.a), e.client("bob", e.b)
	la, err := alice.Acquire(e.ctx, e.key("k"), lock.MaxHold(e.beat/2))
	require.NoError(t, err)
	// MaxHold stops alice's heartbeats, as a long pause would.
	lb, err := bob.Acquire(e.ctx, e.key("k"))
	require.NoError(t, err)
	require.ErrorIs(t, la.Err(), lock.ErrExpired)
	stale := backend.Guard{Key: backend.Key{Partition: e.key("k")}, Owner: "alice", Token: la.Token()}
	ops, written := e.h.GuardedOp(t, e.a)
	err = e.a.(backend.GuardedWriter).WriteGuarded(e.ctx, stale, ops)
	require.ErrorIs(t, err, backend.ErrGuardFailed)
	require.False(t, written(), "the stale holder's write must not commit")
	ops, written = e.h.GuardedOp(t, e.b)
	require.NoError(t, lb.WriteGuarded(e.ctx, ops))
	require.True(t, written(), "the new holder's write commits")
}
