package javainterop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestFencingTokenAcrossJava measures what a Java acquisition does to
// leaselock's fencing counter (the fencingToken N attribute, which Java
// does not know):
//
//   - Java's default acquire is a PutItem that replaces the whole item, so
//     the counter is dropped and the next leaselock token restarts at 1:
//     tokens are NOT increasing across a Java acquisition. The same holds
//     for a Java takeover of an expired lock (see
//     TestGoHolderBlocksJavaUntilItStops) and for Java's default release,
//     which deletes the item.
//   - With withUpdateExistingLockRecord(true) the Java client acquires and
//     takes over with UpdateItem, which keeps the counter (without moving
//     it: a Java holder has no token of its own), and leaselock's tokens
//     keep increasing. Java's heartbeats and marked releases are UpdateItems
//     and always keep it.
func TestFencingTokenAcrossJava(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		g := e.goClient(t, "go-fenced")
		j := e.startJava(t, "java-fenced")
		goAcquireRelease := func(key string) uint64 {
			t.Helper()
			l, err := g.Acquire(c, key)
			require.NoError(t, err)
			require.NoError(t, l.Release(c))
			return l.Token()
		}

		// leaselock alone: 1, 2.
		require.Equal(t, uint64(1), goAcquireRelease("put"))
		require.Equal(t, uint64(2), goAcquireRelease("put"))
		require.Equal(t, n("2"), e.raw(t, "put")[dynamostore.AttrFencingToken])

		// A default Java acquire replaces the item: the counter is gone.
		j.lock(t, "acquire put")
		require.NotContains(t, e.raw(t, "put"), dynamostore.AttrFencingToken)
		require.Equal(t, "released", j.Must(t, "release put mode=mark"))
		require.Equal(t, uint64(1), goAcquireRelease("put"),
			"the limitation: after a Java PutItem acquisition the token restarts at 1 (it was 2)")

		// withUpdateExistingLockRecord(true): the counter survives Java's
		// acquire, heartbeats and marked release, and leaselock goes on.
		require.Equal(t, uint64(1), goAcquireRelease("update"))
		require.Equal(t, uint64(2), goAcquireRelease("update"))
		first := j.lock(t, "acquire update update=true")
		require.Equal(t, n("2"), e.raw(t, "update")[dynamostore.AttrFencingToken], "Java's UpdateItem keeps the counter")
		waitForJavaHeartbeat(t, e, "update", first.RecordVersionNumber)
		require.Equal(t, n("2"), e.raw(t, "update")[dynamostore.AttrFencingToken], "Java's heartbeat keeps the counter")
		require.Equal(t, "released", j.Must(t, "release update mode=mark"))
		require.Equal(t, n("2"), e.raw(t, "update")[dynamostore.AttrFencingToken])
		require.Equal(t, uint64(3), goAcquireRelease("update"), "tokens keep increasing across an UpdateItem Java acquisition")

		// ...but Java's default release deletes the item, counter and all.
		j.lock(t, "acquire update update=true")
		require.Equal(t, "released", j.Must(t, "release update"))
		require.Empty(t, e.raw(t, "update"))
		require.Equal(t, uint64(1), goAcquireRelease("update"), "a deleted record restarts the counter")

		// A Java takeover of an expired leaselock lock with
		// withUpdateExistingLockRecord(true) keeps the counter too.
		require.Equal(t, uint64(1), goAcquireRelease("takeover"))
		work, stop := context.WithCancel(c)
		l, err := g.Acquire(c, "takeover", lock.HeartbeatWhile(work))
		require.NoError(t, err)
		require.Equal(t, uint64(2), l.Token())
		stop()
		took := j.lock(t, fmt.Sprintf("acquire takeover update=true refresh=100 wait=%d", (3*lease).Milliseconds()))
		require.Equal(t, "java-fenced", took.Owner)
		select {
		case <-l.Done():
		case <-time.After(lease):
			t.Fatal("leaselock still reports the lock held after Java took it over")
		}
		require.Equal(t, n("2"), e.raw(t, "takeover")[dynamostore.AttrFencingToken])
		require.Equal(t, "released", j.Must(t, "release takeover mode=mark"))
		require.Equal(t, uint64(3), goAcquireRelease("takeover"))
	})
}

// waitForJavaHeartbeat waits until the Java client has renewed key, i.e.
// its version is no longer from.
func waitForJavaHeartbeat(t *testing.T, e *env, key, from string) {
	t.Helper()
	deadline := time.Now().Add(4 * heartbeat)
	for time.Now().Before(deadline) {
		if v := e.raw(t, key)["recordVersionNumber"]; v != nil && !equalS(v, from) {
			return
		}
		time.Sleep(heartbeat / 5)
	}
	t.Fatalf("the Java client did not heartbeat %q within %v", key, 4*heartbeat)
}
