package conformance

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
)

// lossCases check that loss reports are true (invariants 6 and 7): a
// release of ours that landed, its answer lost while another client took
// the key, is never reported as a steal, and a release never outlives its
// lease. They script the order of events exactly, so they run in virtual
// time only; dynamostore proves the same over the SDK's real retry.
func lossCases() []lockCase {
	return []lockCase{
		{name: "LandedReleaseRetriedIsNotASteal", run: func(e *lockEnv) {
			// The release is applied, bob takes the key, and the retry of
			// the release is refused with bob's record (MaybeApplied).
			landedReleaseIsNotASteal(e, faultstore.OpUpdate, faultstore.DroppedResponse, nil)
		}},
		{name: "LandedReleaseUnknownIsNotASteal", run: func(e *lockEnv) {
			// The release is applied, its answer times out, bob takes the
			// key, and the read-back finds bob's record.
			landedReleaseIsNotASteal(e, faultstore.OpUpdate, faultstore.Ambiguous, nil)
		}},
		{name: "LandedDeleteIsNotASteal", run: func(e *lockEnv) {
			// The same for delete-on-release: bob's token restarts at 1.
			landedReleaseIsNotASteal(e, faultstore.OpDelete, faultstore.Ambiguous, []lock.AcquireOption{lock.DeleteOnRelease()})
		}},
		{name: "UnknownReleaseThenHeartbeatIsNotASteal", run: func(e *lockEnv) {
			t := e.t
			fs := e.faulty(e.a)
			alice, bob := e.client("alice", fs), e.client("bob", e.b)
			var lost atomic.Int32
			la, err := alice.Acquire(e.ctx, e.key("k"), lock.OnLost(func(*lock.Lock, error) { lost.Add(1) }))
			require.NoError(t, err)
			fs.Inject(faultstore.OpUpdate, faultstore.Ambiguous)
			for range 10 {
				fs.Inject(faultstore.OpGet, faultstore.Unavailable) // the read-back fails too
			}
			require.Error(t, la.Release(e.ctx), "the release's outcome is unknown")
			require.NoError(t, la.Err(), "a release with an unknown outcome leaves the lock held")
			_, err = bob.TryAcquire(e.ctx, e.key("k"))
			require.NoError(t, err, "alice's release had landed")
			e.pass(2 * e.beat) // alice's next heartbeat meets bob's record
			require.ErrorIs(t, la.Err(), lock.ErrReleased, "our own release landed; nothing was stolen")
			require.Zero(t, lost.Load())
		}},
		{name: "ReleaseEndsWithTheLease", run: func(e *lockEnv) {
			t := e.t
			fs := e.faulty(e.a)
			fs.SetRates(faultstore.Rates{Delay: 10 * e.lease}, 1)
			c := e.client("alice", fs)
			l, err := c.Acquire(e.ctx, e.key("k"))
			require.NoError(t, err)
			fs.Inject(faultstore.OpUpdate, faultstore.Latency) // the release hangs
			start := time.Now()
			err = l.Release(e.ctx)
			require.Less(t, time.Since(start), e.lease, "Release ends when the lease does")
			require.ErrorIs(t, err, lock.ErrExpired, "the lock ended while releasing: Release says so")
			require.Equal(t, l.Err(), err)
		}},
	}
}

// landedReleaseIsNotASteal: alice's release (op) is applied, then bob takes
// the key before alice learns the outcome, which fault k hides.
func landedReleaseIsNotASteal(e *lockEnv, op faultstore.Op, k faultstore.Kind, opts []lock.AcquireOption) {
	t := e.t
	fs := e.faulty(e.a)
	alice, bob := e.client("alice", fs), e.client("bob", e.b)
	// A token above 1, so that after a delete bob's restarted token is lower.
	first, err := alice.Acquire(e.ctx, e.key("k"))
	require.NoError(t, err)
	require.NoError(t, first.Release(e.ctx))

	var lost atomic.Int32
	la, err := alice.Acquire(e.ctx, e.key("k"), append(opts, lock.OnLost(func(*lock.Lock, error) { lost.Add(1) }))...)
	require.NoError(t, err)
	var lb *lock.Lock
	fs.InjectThen(op, k, func() {
		lb, err = bob.TryAcquire(e.ctx, e.key("k"))
		require.NoError(t, err, "alice's release landed: the key is free")
	})
	require.NoError(t, la.Release(e.ctx), "alice's own release landed; bob took the free key; nothing was stolen")
	require.NotNil(t, lb)
	require.ErrorIs(t, la.Err(), lock.ErrReleased)
	e.pass(e.beat)
	require.Zero(t, lost.Load(), "no loss may be reported")
	require.NoError(t, lb.Err(), "bob holds the key undisturbed")
}

// commitLockCases check Lock.CommitAndRelease over the store: a live holder's
// writes and release commit together and the key is free at once; a stale
// holder's are refused together, and the holder is told.
func commitLockCases() []lockCase {
	return []lockCase{
		{name: "CommitAndRelease", remote: true, run: func(e *lockEnv) {
			t := e.t
			if _, ok := e.a.(backend.ReleaseCommitter); !ok || e.h.GuardedOp == nil {
				t.Skipf("%T cannot commit and release, or the harness gives no GuardedOp", e.a)
			}
			alice, bob := e.client("alice", e.a), e.client("bob", e.b)
			l := e.acquire(alice, e.key("k"))
			ops, written := e.h.GuardedOp(t, e.rawA)
			err := l.CommitAndRelease(e.ctx, ops)
			if errors.Is(err, lock.ErrExpired) {
				e.timely(false, "the lease ran out before the commit: %v", err)
			}
			require.NoError(t, err)
			require.True(t, written(), "the writes committed")
			require.ErrorIs(t, l.Err(), lock.ErrReleased)
			lb, err := bob.TryAcquire(e.ctx, e.key("k"))
			e.notLate(err)
			require.NoError(t, err, "released in the same step: the key is free at once")
			require.Equal(t, l.Token()+1, lb.Token())

			// bob is now the stale holder: alice takes the key over at the
			// store, as a waiter does after his lease ended on her clock.
			cur, err := e.a.Get(e.ctx, backend.Key{Partition: e.key("k")})
			require.NoError(t, err)
			_, err = e.a.Acquire(e.ctx, backend.AcquireRequest{ExpectVersion: cur.Version, Record: backend.Record{
				Key: cur.Key, Owner: "alice", Version: "taken-" + cur.Version, LeaseDuration: e.lease}})
			require.NoError(t, err)
			ops, written = e.h.GuardedOp(t, e.rawB)
			err = lb.CommitAndRelease(e.ctx, ops)
			require.ErrorIs(t, err, lock.ErrStolen, "the stale holder's commit is refused, and it is told")
			require.False(t, written(), "none of its writes applied")
		}},
	}
}
