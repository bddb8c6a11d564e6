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
			l := e.acquire(c, e.key("k"))
			require.Equal(t, uint64(1), l.Token())
			e.requireHeld(l)
			e.release(l)
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
			la := e.acquire(alice, e.key("k"))
			_, err := bob.TryAcquire(e.ctx, e.key("k"))
			e.requireHeld(la, "bob's TryAcquire ran while alice held the key")
			require.ErrorIs(t, err, lock.ErrLocked)
			var held *lock.LockedError
			require.ErrorAs(t, err, &held)
			require.Equal(t, "alice", held.Owner)
		}},
		{name: "AlreadyHeldAndReentrant", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			l := e.acquire(c, e.key("k"))
			_, err := c.TryAcquire(e.ctx, e.key("k"))
			again, err2 := c.Acquire(e.ctx, e.key("k"), lock.Reentrant())
			e.requireHeld(l, "the calls ran while alice held the key")
			require.ErrorIs(t, err, lock.ErrAlreadyHeld)
			require.NoError(t, err2)
			require.Same(t, l, again)
		}},
		{name: "WaitsForRelease", remote: true, run: func(e *lockEnv) {
			t := e.t
			alice, bob := e.client("alice", e.a), e.client("bob", e.b)
			la := e.acquire(alice, e.key("k"))
			type result struct {
				l   *lock.Lock
				err error
			}
			got := make(chan result, 1)
			go func() {
				lb, err := bob.Acquire(e.ctx, e.key("k"))
				got <- result{lb, err}
			}()
			e.pass(3 * e.poll)
			e.requireHeld(la, "alice held the lock while bob waited")
			require.Empty(t, got, "bob must wait while alice holds the lock")
			e.release(la)
			r := <-got // bob's Acquire ends with e.ctx at the latest
			e.notLate(r.err)
			require.NoError(t, r.err, "bob must get the lock once alice released it")
			require.Greater(t, r.l.Token(), la.Token())
		}},
		{name: "MutualExclusion", remote: true, run: func(e *lockEnv) {
			mutualExclusion(e)
		}},
		{name: "TakeoverAfterExpiry", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			alice, bob := e.client("alice", fa), e.client("bob", e.b)
			var lost atomic.Int32
			la := e.acquire(alice, e.key("k"), lock.OnLost(func(*lock.Lock, error) { lost.Add(1) }))
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1) // alice is cut off
			lb := e.acquire(bob, e.key("k"))
			e.requireToldLost(la, "alice must know her lease expired before bob takes over")
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
			e.acquire(alice, e.key("k"))
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			var lb *lock.Lock
			var err error
			start := time.Now()
			for lb == nil {
				lb, err = bob.TryAcquire(e.ctx, e.key("k"))
				if err != nil {
					e.notLate(err)
					require.ErrorIs(t, err, lock.ErrLocked)
					e.pass(e.poll)
				}
			}
			waited := time.Since(start)
			require.GreaterOrEqual(t, waited, e.lease, "takeover before a whole lease was observed")
			e.timely(waited < e.lease+e.lease/2, "repeated TryAcquire must count earlier observations: took over after %v", waited)
		}},
		{name: "StolenIsDetected", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			var lostErr atomic.Value
			l := e.acquire(c, e.key("k"), lock.OnLost(func(_ *lock.Lock, err error) { lostErr.Store(err) }))
			// An operator force-takes the record. In real time a heartbeat
			// can renew it between reading its version and the write: the
			// operator then takes the newer version.
			for try := 1; ; try++ {
				_, err := e.b.Acquire(e.ctx, backend.AcquireRequest{ExpectVersion: e.version(e.key("k")), Record: backend.Record{
					Key: backend.Key{Partition: e.key("k")}, Owner: "mallory", Version: "forced", LeaseDuration: e.lease}})
				if err == nil {
					break
				}
				require.ErrorIs(t, err, backend.ErrConflict)
				e.requireHeld(l, "the record changed under the operator: only alice's heartbeats write it")
				require.Less(t, try, 10, "a heartbeat won every race with the operator")
			}
			e.timely(e.wait(l.Done(), 2*e.beat), "the next heartbeat must detect the steal")
			if errors.Is(l.Err(), lock.ErrExpired) {
				e.timely(false, "the lock expired before a heartbeat saw the steal: %v", l.Err())
			}
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
				l := e.acquire(clients[i%3], e.key("k"))
				require.Greater(t, l.Token(), last, "token of acquisition %d", i)
				last = l.Token()
				if i == 3 {
					// c0 is cut off holding it: acquisition 4 is a takeover.
					fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
					continue
				}
				e.release(l)
			}
		}},
		{name: "HeartbeatsRenew", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l := e.acquire(c, e.key("k"))
			v := e.version(e.key("k"))
			spent := e.pace.updates()
			window := 3 * e.lease
			e.pass(window)
			e.requireHeld(l, "heartbeats keep the lock for many leases")
			require.NotEqual(t, v, e.version(e.key("k")), "each heartbeat writes a new version")
			beats := fa.Calls(faultstore.OpUpdate)
			// The next beat is due a jittered period (0.9 to 1.1 of it) after
			// the previous one started, or at once if its write took longer;
			// counting writing time against the window errs low, which is
			// the safe side for a lower bound. (In virtual time writes take
			// none.)
			writing := e.pace.updates() - spent
			fewest := int((window-writing)*10/(11*e.beat)) - 1
			e.timely(beats >= fewest, "%d heartbeats in %v (%v of them writing), want at least %d", beats, window, writing, fewest)
			require.LessOrEqual(t, beats, int(window*10/(9*e.beat))+1, "about one write per heartbeat period")
		}},
		{name: "RoundTripBudget", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			// No background heartbeats: every call counted is one of the
			// case's own, however late the store answers.
			l := e.acquire(c, e.key("k"), noBackgroundBeats())
			require.Equal(t, 1, fa.Calls(faultstore.OpAcquire)+fa.Calls(faultstore.OpGet), "acquire of an absent key")
			err := l.Heartbeat(e.ctx)
			e.requireHeld(l)
			require.NoError(t, err)
			require.Equal(t, 1, fa.Calls(faultstore.OpUpdate), "heartbeat")
			e.release(l)
			require.Equal(t, 2, fa.Calls(faultstore.OpUpdate), "release")
			e.acquire(c, e.key("k"), noBackgroundBeats())
			require.Equal(t, 2, fa.Calls(faultstore.OpAcquire)+fa.Calls(faultstore.OpGet), "acquire of a released key")
		}},
		{name: "NoResurrection", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l := e.acquire(c, e.key("k"))
			e.release(l)
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
				l := e.acquire(c, e.key("k"))
				var hbErr, relErr error
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); hbErr = l.Heartbeat(e.ctx) }()
				go func() { defer wg.Done(); relErr = l.Release(e.ctx) }()
				wg.Wait()
				if errors.Is(relErr, lock.ErrExpired) {
					e.timely(false, "round %d: the lock expired before its release: %v", i, relErr)
				}
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
			// No background heartbeats: each injected fault meets the
			// case's own heartbeat.
			l := e.acquire(c, e.key("k"), noBackgroundBeats())
			for _, k := range []faultstore.Kind{faultstore.DroppedResponse, faultstore.Ambiguous, faultstore.LostBeforeApply, faultstore.Unavailable} {
				fa.Inject(faultstore.OpUpdate, k)
				err := l.Heartbeat(e.ctx)
				e.requireHeld(l, fmt.Sprintf("%v: a heartbeat fault is not a loss", k))
				if k == faultstore.DroppedResponse || k == faultstore.Ambiguous {
					require.NoError(t, err, "%v: an applied heartbeat is a success", k)
				}
				err = l.Heartbeat(e.ctx)
				e.requireHeld(l)
				require.NoError(t, err, "%v: the next heartbeat must succeed", k)
			}
			e.release(l)
		}},
		{name: "AmbiguousLandsLater", remote: true, run: func(e *lockEnv) {
			// A heartbeat whose outcome could not be read back landed after
			// all: the next write must recognise it, not report a steal.
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			l := e.acquire(c, e.key("k"), noBackgroundBeats()) // the faults are for the case's heartbeat
			fa.Inject(faultstore.OpUpdate, faultstore.Ambiguous)
			fa.Inject(faultstore.OpGet, faultstore.Unavailable, faultstore.Unavailable, faultstore.Unavailable,
				faultstore.Unavailable, faultstore.Unavailable, faultstore.Unavailable)
			err := l.Heartbeat(e.ctx)
			e.requireHeld(l)
			require.Error(t, err, "outcome unknown")
			err = l.Heartbeat(e.ctx)
			e.requireHeld(l)
			require.NoError(t, err, "the earlier write is ours")
			e.release(l)
		}},
		{name: "AmbiguousAcquireAndRelease", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			for i, k := range []faultstore.Kind{faultstore.DroppedResponse, faultstore.Ambiguous} {
				fa.Inject(faultstore.OpAcquire, k)
				l := e.acquire(c, e.key("k"), noBackgroundBeats()) // the Update fault is for the release
				require.Equal(t, uint64(i+1), l.Token())
				fa.Inject(faultstore.OpUpdate, k)
				e.release(l)
				require.ErrorIs(t, l.Err(), lock.ErrReleased)
			}
		}},
		{name: "ReleaseFailureKeepsLock", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			var l *lock.Lock
			for try := 0; ; try++ {
				l = e.acquire(c, e.key(fmt.Sprint("k", try)))
				before := fa.Calls(faultstore.OpUpdate)
				fa.Inject(faultstore.OpUpdate, faultstore.Unavailable)
				err := l.Release(e.ctx)
				if err == nil && fa.Calls(faultstore.OpUpdate)-before > 1 && try < 5 {
					// In real time a background heartbeat, sent between the
					// injection and the release, met the fault instead.
					continue
				}
				require.ErrorIs(t, err, backend.ErrUnavailable)
				break
			}
			e.requireHeld(l, "a failed release leaves the lock held")
			require.False(t, e.wait(l.Done(), 0))
			e.pass(e.lease)
			e.requireHeld(l, "and still heartbeated")
			e.release(l)
		}},
		{name: "DangerThenExpiry", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			c := e.client("alice", fa)
			var danger, lost atomic.Int32
			dangerFirst := make(chan bool, 1)
			l := e.acquire(c, e.key("k"),
				lock.OnDanger(e.lease/2, func(l *lock.Lock) { danger.Add(1); dangerFirst <- l.Err() == nil }),
				lock.OnLost(func(*lock.Lock, error) { lost.Add(1) }))
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			e.timely(e.wait(l.Done(), 2*e.lease), "a lock cut off from its store must expire")
			require.ErrorIs(t, l.Err(), lock.ErrExpired)
			require.NoError(t, c.Close(e.ctx))
			require.Equal(t, int32(1), danger.Load(), "OnDanger exactly once")
			require.Equal(t, int32(1), lost.Load(), "OnLost exactly once")
			// The danger event comes half a lease before the expiry; its
			// callback runs on its own goroutine, which a loaded machine
			// may start late.
			e.timely(<-dangerFirst, "danger must be signalled while the lock is still held")
		}},
		{name: "HeartbeatsEndWithWork", remote: true, run: func(e *lockEnv) {
			t := e.t
			alice, bob := e.client("alice", e.a), e.client("bob", e.b)
			work, stop := context.WithCancel(e.ctx)
			l := e.acquire(alice, e.key("k"), lock.HeartbeatWhile(work))
			stop() // the worker hung and its deadline passed
			e.timely(e.wait(l.Done(), 2*e.lease), "a lock whose work ended must lapse")
			require.ErrorIs(t, l.Err(), lock.ErrExpired)
			lb := e.acquire(bob, e.key("k"))
			require.Greater(t, lb.Token(), l.Token())
		}},
		{name: "Do", remote: true, run: func(e *lockEnv) {
			t, c := e.t, e.client("alice", e.a)
			var token uint64
			var ran bool
			var ctxErr error
			err := c.Do(e.ctx, e.key("k"), func(ctx context.Context, l *lock.Lock) error {
				ran, token, ctxErr = true, l.Token(), ctx.Err()
				return errors.New("job failed")
			})
			if !ran {
				e.notLate(err)
			}
			if errors.Is(err, lock.ErrExpired) {
				e.timely(false, "the lock expired during Do: %v", err)
			}
			require.NoError(t, ctxErr, "fn's context is live while the lock is held")
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
			var ran bool
			err := c.Do(e.ctx, e.key("k"), func(ctx context.Context, l *lock.Lock) error {
				ran = true
				fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
				select {
				case <-ctx.Done():
				case <-e.ctx.Done(): // the case's budget: fails below
				}
				return nil
			})
			if !ran {
				e.notLate(err) // also an ErrLockLost: do not let it pass for the loss
			}
			require.True(t, ran, "Do did not run fn: %v", err)
			require.ErrorIs(t, err, lock.ErrLockLost, "Do must report the loss")
		}},
		{name: "GetDoesNotMisreport", remote: true, run: func(e *lockEnv) {
			t := e.t
			fa := e.faulty(e.a)
			alice, bob := e.client("alice", fa), e.client("bob", e.b)
			info, err := bob.Get(e.ctx, e.key("k"), "")
			require.NoError(t, err)
			require.Equal(t, lock.StateFree, info.State)
			la := e.acquire(alice, e.key("k"), lock.WithData([]byte("d")))
			mine, err := alice.Get(e.ctx, e.key("k"), "")
			require.NoError(t, err)
			info, err = bob.Get(e.ctx, e.key("k"), "")
			require.NoError(t, err)
			e.requireHeld(la, "alice held the lock while both read it")
			require.Equal(t, lock.StateOwned, mine.State)
			require.Equal(t, lock.StateLocked, info.State, "a live lock seen once is held, not expired")
			require.Equal(t, "alice", info.Owner)
			require.Equal(t, []byte("d"), info.Data)
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			e.timely(e.wait(la.Done(), 2*e.lease), "a lock cut off from its store must expire")
			for info.State == lock.StateLocked { // ends with e.ctx at the latest
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
				locks = append(locks, e.acquire(c, e.key(fmt.Sprint(i))))
			}
			require.NoError(t, c.Close(e.ctx))
			for _, l := range locks {
				if errors.Is(l.Err(), lock.ErrExpired) {
					e.timely(false, "%s expired before Close released it: %v", l.Key(), l.Err())
				}
			}
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
			var locks []*lock.Lock
			for _, k := range []string{"x", "y"} {
				locks = append(locks, e.acquire(c, e.key(k)))
			}
			fa.SetRates(faultstore.Rates{Unavailable: 1}, 1)
			err := c.Close(e.ctx)
			for _, l := range locks {
				// Close ends a lock whose release failed as expired, with
				// ErrClosed in its cause; one without it lapsed before.
				if !errors.Is(l.Err(), lock.ErrClosed) {
					e.timely(false, "%s lapsed before Close: %v", l.Key(), l.Err())
				}
			}
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
// already been told it lost the lock. An acquire answered after its lease,
// or a lock that lapses during its short hold, is what a slow store does
// (see lockEnv.timely); they are counted and judged once the clients stop.
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
	var acquisitions, late, lapsed atomic.Int64
	var lastLate, lastLapse atomic.Value
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
					if errors.As(err, new(*lock.LostError)) { // answered after its lease: not held
						late.Add(1)
						lastLate.Store(err)
						continue
					}
					if !assertNoErr(t, err) {
						return
					}
					mu.Lock()
					// Invariant 1 is about unexpired local leases: the earlier
					// holder may still be waiting for its expiry timer (which
					// a loaded machine runs late), but its lease, read off
					// its own clock, must be over.
					if prev := holders[key]; prev != nil && prev.LeaseRemaining() > 0 {
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
					if err := l.Release(e.ctx); errors.Is(err, lock.ErrExpired) {
						lapsed.Add(1)
						lastLapse.Store(err)
					} else {
						assertNoErr(t, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := late.Load(); n > 0 {
		e.pace.sawLate()
		e.disturbed("%d acquires answered after their lease; the last: %v", n, lastLate.Load())
	}
	e.timely(lapsed.Load() == 0, "%d locks lapsed during a hold of at most a heartbeat period; the last: %v", lapsed.Load(), lastLapse.Load())
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
	la := e.acquire(alice, e.key("k"), lock.MaxHold(e.beat/2))
	// MaxHold stops alice's heartbeats, as a long pause would.
	lb := e.acquire(bob, e.key("k"))
	e.requireToldLost(la, "alice must know her lease expired before bob takes over")
	require.ErrorIs(t, la.Err(), lock.ErrExpired)
	stale := backend.Guard{Key: backend.Key{Partition: e.key("k")}, Owner: "alice", Token: la.Token()}
	ops, written := e.h.GuardedOp(t, e.rawA)
	err := e.a.(backend.GuardedWriter).WriteGuarded(e.ctx, stale, ops)
	require.ErrorIs(t, err, backend.ErrGuardFailed)
	require.False(t, written(), "the stale holder's write must not commit")
	ops, written = e.h.GuardedOp(t, e.rawB)
	err = lb.WriteGuarded(e.ctx, ops)
	e.requireHeld(lb, "bob held the lock while he wrote")
	require.NoError(t, err)
	require.True(t, written(), "the new holder's write commits")
}
