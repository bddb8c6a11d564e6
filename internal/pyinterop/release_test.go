package pyinterop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestGoReleaseThenPythonAcquires: a key leaselock released by deleting
// (what the format needs, Store.ReleaseByDelete) is free for the Python
// client at once. A release by marking, which the Python client does not
// know, is safe but slow: it reads the marked item as held and takes it
// over only once its version has stood still for a lease.
func TestGoReleaseThenPythonAcquires(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		g := e.goClient(t, "go-releaser")
		p := e.startPython(t, "py-next")

		l, err := g.Acquire(c, "deleted")
		require.NoError(t, err)
		require.NoError(t, l.Release(c))
		require.Empty(t, e.raw(t, "deleted", ""), "the format releases by deleting")
		require.Equal(t, "none", p.Must(t, "get deleted"))
		start := time.Now()
		got := p.lock(t, "acquire deleted")
		require.Less(t, time.Since(start), lease/2, "the Python client must not wait out a lease for a released key")
		require.Equal(t, "py-next", got.Owner)
		var held *lock.LockedError
		_, err = g.TryAcquire(c, "deleted")
		require.ErrorAs(t, err, &held)
		require.Equal(t, "py-next", held.Owner)

		// A client on a wrapper that hides the store's ReleaseByDelete
		// marks the record instead.
		marker, err := lock.New(struct{ backend.Store }{e.store}, lock.WithOwner("go-marker"), lock.WithLeaseDuration(lease),
			lock.WithHeartbeatPeriod(heartbeat), lock.WithPollPeriod(poll))
		require.NoError(t, err)
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, marker.Close(cctx))
		})
		l, err = marker.Acquire(c, "marked")
		require.NoError(t, err)
		require.NoError(t, l.Release(c))
		require.Equal(t, s("1"), e.raw(t, "marked", "")["is_released"])
		require.Equal(t, "timeout", p.Must(t, "try marked"), "the Python client reads a marked record as held")
		start = time.Now()
		got = p.lock(t, fmt.Sprintf("acquire marked wait=%d", (3*lease).Milliseconds()))
		waited := time.Since(start)
		t.Logf("%s: Python took a marked-released key after %v (lease %v)", kind, waited.Round(time.Millisecond), lease)
		require.Equal(t, "py-next", got.Owner)
		require.GreaterOrEqual(t, waited, lease-2*heartbeat, "a marked record costs the Python client a lease")
	})
}

// TestPythonReleaseThenGoAcquires: the Python client's release deletes the
// item; leaselock acquires the key at once, drawing its token from the
// counter item (three requests).
func TestPythonReleaseThenGoAcquires(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		p := e.startPython(t, "py-releaser")
		g := e.goClient(t, "go-next")

		var last uint64
		for i := range 3 {
			p.lock(t, "acquire job")
			require.Equal(t, "released", p.Must(t, "release job"))
			require.Empty(t, e.raw(t, "job", ""), "the Python client deletes on release")

			e.counter.Reset()
			start := time.Now()
			l, err := g.TryAcquire(c, "job")
			require.NoError(t, err, "round %d", i)
			require.Less(t, time.Since(start), lease/2)
			require.Equal(t, map[string]int64{"UpdateItem": 3}, e.counter.Counts(), "round %d", i)
			require.Greater(t, l.Token(), last, "round %d", i)
			last = l.Token()
			require.Equal(t, "timeout", p.Must(t, "try job"))
			require.NoError(t, l.Release(c))
		}
	})
}
