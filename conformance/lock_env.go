package conformance

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
)

// lockEnv is what one RunLock case works with.
type lockEnv struct {
	t      *testing.T
	h      LockHarness
	ctx    context.Context
	a, b   backend.Store
	lease  time.Duration
	beat   time.Duration
	poll   time.Duration
	prefix string
}

// client starts a client with the suite's timings on store s; Close is
// registered for the end of the case.
func (e *lockEnv) client(owner string, s backend.Store, opts ...lock.Option) *lock.Client {
	e.t.Helper()
	base := []lock.Option{lock.WithOwner(owner), lock.WithLeaseDuration(e.lease),
		lock.WithHeartbeatPeriod(e.beat), lock.WithPollPeriod(e.poll)}
	c, err := lock.New(s, append(base, opts...)...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// faulty wraps store s so a case can inject faults into one client.
func (e *lockEnv) faulty(s backend.Store) *faultstore.Store { return faultstore.New(s, nil) }

// version reads the version of key's record from the second handle.
func (e *lockEnv) version(key string) string {
	e.t.Helper()
	rec, err := e.b.Get(e.ctx, backend.Key{Partition: key})
	require.NoError(e.t, err)
	return rec.Version
}

// key returns a key unique to this case.
func (e *lockEnv) key(name string) string { return e.prefix + name }

// wait blocks until ch is closed or d passes, and reports which.
func (e *lockEnv) wait(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// pass lets d go by: virtual in a bubble, real for a remote store.
func (e *lockEnv) pass(d time.Duration) { time.Sleep(d) }

type lockCase struct {
	name   string
	remote bool // also run against remote stores (some cases are in-memory only)
	run    func(e *lockEnv)
}

// RunLock runs the lock engine's semantics over the stores h supplies:
// mutual exclusion, takeover after expiry, stolen detection, fencing,
// release/heartbeat races, ambiguous writes and injected faults, Close.
func RunLock(t *testing.T, h LockHarness) {
	t.Helper()
	require.NotNil(t, h.NewStores, "LockHarness.NewStores is required")
	for _, c := range slices.Concat(lockCases(), lossCases(), commitLockCases()) {
		t.Run(c.name, func(t *testing.T) {
			if h.Remote && !c.remote {
				t.Skip("in-memory only: needs many lease periods of virtual time")
			}
			withWatchdog(t, caseTimeout, func(context.Context) {
				if h.Remote {
					c.run(newLockEnv(t, h))
					return
				}
				synctest.Test(t, func(t *testing.T) { c.run(newLockEnv(t, h)) })
			})
		})
	}
}

func newLockEnv(t *testing.T, h LockHarness) *lockEnv {
	a, b := h.NewStores(t)
	e := &lockEnv{t: t, h: h, ctx: context.Background(), a: a, b: b,
		lease: 20 * time.Second, beat: 5 * time.Second, poll: time.Second, prefix: "lock-" + t.Name() + "-"}
	if h.Remote {
		e.lease = h.Lease
		if e.lease == 0 {
			e.lease = time.Second
		}
		e.beat, e.poll = e.lease/4, e.lease/10
	}
	return e
}
