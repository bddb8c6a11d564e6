package conformance

import (
	"context"
	"errors"
	"fmt"
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
	ctx    context.Context // ends with the case's time budget
	a, b   backend.Store   // the harness's stores; timed when remote
	rawA   backend.Store   // the harness's stores unwrapped, for GuardedOp
	rawB   backend.Store   //
	lease  time.Duration
	beat   time.Duration
	poll   time.Duration
	prefix string

	pace  *pace        // how slow the machine was during the case (remote only)
	last  bool         // the last attempt: a disturbance is a failure
	rerun func(string) // asks RunLock to run the case again (remote only)
}

// client starts a client with the suite's timings on store s; Close is
// registered for the end of the case.
func (e *lockEnv) client(owner string, s backend.Store, opts ...lock.Option) *lock.Client {
	e.t.Helper()
	base := []lock.Option{lock.WithOwner(owner), lock.WithLeaseDuration(e.lease),
		lock.WithHeartbeatPeriod(e.beat), lock.WithPollPeriod(e.poll)}
	c, err := lock.New(s, append(base, opts...)...)
	require.NoError(e.t, err)
	ctx := e.ctx // the case's budget: Close must not outlive it either
	e.t.Cleanup(func() { _ = c.Close(ctx) })
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
	case <-e.ctx.Done():
		return false
	}
}

// pass lets d go by: virtual in a bubble, real for a remote store.
func (e *lockEnv) pass(d time.Duration) { time.Sleep(d) }

// The helpers below separate what the engine guarantees from what only
// holds when the store answers in time. On a loaded machine a remote store
// can answer a 1-second lease too late, and the engine then does what it
// documents: Acquire refuses a lock whose answer came after its lease (a
// *LostError, ErrExpired), and a lock whose heartbeats are answered too
// late expires. A case that meets this is "disturbed": in real time it
// runs again with leases twice as long (see RunLock); in virtual time, or
// on the last attempt, it fails. Safety checks (no two holders, fencing,
// no resurrection, refused stale writes) never go through these helpers.

// disturbed ends this attempt of the case: the machine was too slow for
// its timings.
func (e *lockEnv) disturbed(format string, args ...any) {
	e.t.Helper()
	why := fmt.Sprintf(format, args...)
	if e.rerun == nil || e.last {
		e.t.Fatalf("%s (lease %v; %s)", why, e.lease, e.pace.String())
	}
	e.rerun(why)
	e.t.Skipf("disturbed by a slow machine, running again with leases of %v: %s (%s)", 2*e.lease, why, e.pace.String())
}

// timely asserts cond, which holds when the store answers in time: if it
// does not hold and the machine was seen to be slow during the case, the
// attempt is disturbed; otherwise the case fails.
func (e *lockEnv) timely(cond bool, format string, args ...any) {
	e.t.Helper()
	if cond {
		return
	}
	if e.pace.slow(e.poll) {
		e.disturbed(format, args...)
	}
	e.t.Fatalf(format+" (the store answered in time: %s)", append(args, e.pace.String())...)
}

// notLate disturbs the attempt if err is an Acquire's or TryAcquire's
// refusal of a late answer: the only *LostError they return.
func (e *lockEnv) notLate(err error) {
	e.t.Helper()
	var lost *lock.LostError
	if errors.As(err, &lost) {
		e.pace.sawLate()
		e.disturbed("the store answered an acquire after its lease: %v", err)
	}
}

// acquire is c.Acquire under the case's context; a late answer disturbs
// the attempt, any other error fails the case.
func (e *lockEnv) acquire(c *lock.Client, key string, opts ...lock.AcquireOption) *lock.Lock {
	e.t.Helper()
	l, err := c.Acquire(e.ctx, key, opts...)
	e.notLate(err)
	require.NoError(e.t, err)
	return l
}

// requireHeld asserts that l is still held. An expiry the case did not
// cause is a late answer (heartbeats answered after the lease) when the
// machine was slow; anything else fails.
func (e *lockEnv) requireHeld(l *lock.Lock, msgAndArgs ...any) {
	e.t.Helper()
	err := l.Err()
	if errors.Is(err, lock.ErrExpired) {
		e.timely(false, "%s expired while the case relied on holding it: %v %s", l.Key(), err, fmt.Sprint(msgAndArgs...))
	}
	require.NoError(e.t, err, msgAndArgs...)
}

// release releases l, which must still be held (see requireHeld).
func (e *lockEnv) release(l *lock.Lock) {
	e.t.Helper()
	err := l.Release(e.ctx)
	if errors.Is(err, lock.ErrExpired) {
		e.timely(false, "%s expired before its release: %v", l.Key(), err)
	}
	require.NoError(e.t, err)
}

// requireToldLost asserts that l's holder knew it had lost the lock when
// another client took it over: its local lease, read off its own clock, is
// over, and Done closes. In virtual time Done is already closed. In real
// time the expiry is reported by a timer, which a loaded machine can run a
// little late; the lease being over is the engine's guarantee.
func (e *lockEnv) requireToldLost(l *lock.Lock, msg string) {
	e.t.Helper()
	if !e.h.Remote {
		require.True(e.t, e.wait(l.Done(), 0), msg)
		return
	}
	require.Zero(e.t, l.LeaseRemaining(), msg)
	e.timely(e.wait(l.Done(), e.beat), "%s: the expiry was not reported within a heartbeat period of the lease's end", msg)
}

// noBackgroundBeats makes a lock that only the case's own calls renew: the
// faults it injects and the calls it counts are then its own, however late
// the store answers. The lock lapses a lease after the case's last write.
func noBackgroundBeats() lock.AcquireOption {
	stopped, stop := context.WithCancel(context.Background())
	stop()
	return lock.HeartbeatWhile(stopped)
}

type lockCase struct {
	name   string
	remote bool // also run against remote stores (some cases are in-memory only)
	run    func(e *lockEnv)
}

// remoteAttempts is how many times a remote case may run, its lease
// doubling each time it is disturbed by a slow machine (1s, 2s, 4s).
const remoteAttempts = 3

// virtualCaseTimeout bounds a case in virtual time: far beyond what any
// case needs, so an engine that waits forever fails the case at once
// instead of spinning through virtual hours.
const virtualCaseTimeout = 24 * time.Hour

// RunLock runs the lock engine's semantics over the stores h supplies:
// mutual exclusion, takeover after expiry, stolen detection, fencing,
// release/heartbeat races, ambiguous writes and injected faults, Close.
//
// With a Remote harness each case runs in real time as a subtest named
// after its lease (lease=1s). A case disturbed by a slow machine, where
// the store answered later than the timings allow (see lockEnv.disturbed),
// is skipped and runs again with leases twice as long, up to three times.
func RunLock(t *testing.T, h LockHarness) {
	t.Helper()
	runLock(t, h, slices.Concat(lockCases(), lossCases(), commitLockCases()))
}

func runLock(t *testing.T, h LockHarness, cases []lockCase) {
	t.Helper()
	require.NotNil(t, h.NewStores, "LockHarness.NewStores is required")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !h.Remote {
				withWatchdog(t, caseTimeout, func(context.Context) {
					synctest.Test(t, func(t *testing.T) {
						// The bubble's own context: its timer runs in virtual time.
						ctx, cancel := context.WithTimeoutCause(context.Background(), virtualCaseTimeout,
							fmt.Errorf("conformance: %s did not finish within %v of virtual time", t.Name(), virtualCaseTimeout))
						defer cancel()
						c.run(newLockEnv(ctx, t, h, 0))
					})
				})
				return
			}
			if !c.remote {
				t.Skip("in-memory only: needs many lease periods of virtual time")
			}
			lease := h.Lease
			if lease == 0 {
				lease = time.Second
			}
			for attempt := 1; ; attempt++ {
				var again string
				t.Run(fmt.Sprint("lease=", lease), func(t *testing.T) {
					withWatchdog(t, caseTimeout, func(ctx context.Context) {
						e := newLockEnv(ctx, t, h, lease)
						e.last = attempt == remoteAttempts
						e.rerun = func(why string) { again = why }
						c.run(e)
					})
				})
				if again == "" {
					return
				}
				lease *= 2
			}
		})
	}
}

func newLockEnv(ctx context.Context, t *testing.T, h LockHarness, lease time.Duration) *lockEnv {
	a, b := h.NewStores(t)
	e := &lockEnv{t: t, h: h, ctx: ctx, a: a, b: b, rawA: a, rawB: b,
		lease: 20 * time.Second, beat: 5 * time.Second, poll: time.Second, prefix: "lock-" + t.Name() + "-",
		pace: &pace{}}
	if h.Remote {
		e.lease = lease
		e.beat, e.poll = e.lease/4, e.lease/10
		e.a, e.b = timed(a, e.pace), timed(b, e.pace)
		e.pace.watchScheduling(t)
	}
	return e
}
