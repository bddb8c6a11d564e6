package javainterop

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/internal/wallclock"
	"github.com/leaselock/leaselock/lock"
)

// TestWallClockExpiryAndJavaHolders: leaselock's opt-in wall-clock expiry
// (lock.WithWallClockExpiry) never takes a live Java lock. It judges a
// record by the leaselockWrittenAtMillis stamp leaselock puts on every
// write, which the Java client never writes:
//
//   - a Java holder that acquired with its default PutItem leaves no stamp;
//   - one that acquired with withUpdateExistingLockRecord(true) (an
//     UpdateItem) keeps the stamp of the last leaselock write, and its
//     heartbeats never refresh it. The stamp names the version it was
//     written with, so the waiter sees it is stale and ignores it. (Before
//     the stamp carried the version, the waiter took such a lock 5-11 ms
//     after Java acquired it, while Java still held it.)
//
// In both cases the waiter falls back to watching the version for a lease,
// sees Java's heartbeats, and gives up.
func TestWallClockExpiryAndJavaHolders(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		g := e.goClient(t, "go-stamper")
		j := e.startJava(t, "java-holder")
		w, err := lock.New(e.store, lock.WithOwner("go-wall-clock"), lock.WithLeaseDuration(lease),
			lock.WithHeartbeatPeriod(heartbeat), lock.WithPollPeriod(poll),
			lock.WithWallClockExpiry(100*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close(c)) }) // c's own cleanup runs after this one

		// Both keys start as a leaselock record, released: stamped. Wait
		// until the stamps are older than lease plus skew.
		for _, key := range []string{"put", "update"} {
			l, err := g.Acquire(c, key)
			require.NoError(t, err)
			require.NoError(t, l.Release(c))
			require.Contains(t, e.raw(t, key), wallclock.Attribute)
		}
		time.Sleep(lease + 200*time.Millisecond)

		j.lock(t, "acquire put")
		require.NotContains(t, e.raw(t, "put"), wallclock.Attribute, "Java's PutItem drops the stamp")
		j.lock(t, "acquire update update=true")
		require.Contains(t, e.raw(t, "update"), wallclock.Attribute, "Java's UpdateItem keeps the stale stamp")

		errs := make(chan error, 2)
		for _, key := range []string{"put", "update"} {
			go func() {
				_, err := w.Acquire(c, key, lock.AdditionalWait(heartbeat))
				errs <- err
			}()
		}
		for range 2 {
			require.ErrorIs(t, <-errs, lock.ErrLocked, "a wall-clock waiter must not take a live Java lock")
		}
		require.Equal(t, "true", j.must(t, "held put"))
		require.Equal(t, "true", j.must(t, "held update"))
		require.Equal(t, s("java-holder"), e.raw(t, "put")["ownerName"])
		require.Equal(t, s("java-holder"), e.raw(t, "update")["ownerName"])
	})
}
