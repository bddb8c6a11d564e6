package javainterop

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/internal/wallclock"
	"github.com/leaselock/leaselock/lock"
)

// TestWallClockExpiryAndJavaHolders: leaselock's opt-in wall-clock expiry
// (lock.WithWallClockExpiry) never takes a live Java lock. It judges a
// record by the time in its version: leaselock writes every version as a
// UUIDv7 carrying the write's wall-clock time, while the Java client writes
// random v4 UUIDs, which carry none:
//
//   - a Java holder that acquired with its default PutItem, and
//   - one that acquired with withUpdateExistingLockRecord(true) (an
//     UpdateItem, which keeps leaselock's other attributes)
//
// both leave a version with no time in it. (When the time was an attribute
// of its own, Java's UpdateItem left leaselock's stale stamp behind, and a
// waiter took such a lock 5-11 ms after Java acquired it, while Java still
// held it; the stamp then had to name its version to be safe.)
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

		// Both keys start as a leaselock record, released: timed. Wait
		// until the times are older than lease plus skew.
		writtenAt := func(key string) bool {
			rec, err := e.store.Get(c, backend.Key{Partition: key})
			require.NoError(t, err)
			_, ok := wallclock.WrittenAt(rec)
			return ok
		}
		for _, key := range []string{"put", "update"} {
			l, err := g.Acquire(c, key)
			require.NoError(t, err)
			require.NoError(t, l.Release(c))
			require.True(t, writtenAt(key), "leaselock's version carries its time")
		}
		time.Sleep(lease + 200*time.Millisecond)

		j.lock(t, "acquire put")
		require.False(t, writtenAt("put"), "Java's PutItem writes a version with no time")
		j.lock(t, "acquire update update=true")
		require.False(t, writtenAt("update"), "Java's UpdateItem writes a version with no time")

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
		require.Equal(t, "true", j.Must(t, "held put"))
		require.Equal(t, "true", j.Must(t, "held update"))
		require.Equal(t, s("java-holder"), e.raw(t, "put")["ownerName"])
		require.Equal(t, s("java-holder"), e.raw(t, "update")["ownerName"])
	})
}
