package pyinterop

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestPythonHolderBlocksGoUntilKilled: while the Python client holds a key
// and heartbeats, leaselock reports it held by the Python owner, with the
// lease the Python client wrote in seconds, and will not take it; once the
// Python process is killed, a waiting leaselock Acquire takes the key over
// after watching its last version for a whole lease.
func TestPythonHolderBlocksGoUntilKilled(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		p := e.startPython(t, "py-holder")
		first := p.lock(t, "acquire job")
		require.Equal(t, "py-holder", first.Owner)
		require.Equal(t, "LOCKED", first.Status)
		item := e.raw(t, "job", "")
		require.Equal(t, n("3"), item["lease_duration"], "the Python client writes its lease as N seconds")
		require.IsType(t, n(""), item["expiry_time"])

		g := e.goClient(t, "go-waiter")
		_, err := g.TryAcquire(c, "job")
		var held *lock.LockedError
		require.ErrorAs(t, err, &held)
		require.Equal(t, "py-holder", held.Owner)
		require.Equal(t, lease, held.LeaseDuration, "leaselock reads the Python client's lease_duration")
		info, err := g.Get(c, "job", "")
		require.NoError(t, err)
		require.Equal(t, lock.StateLocked, info.State)

		// A bounded Acquire watches the Python heartbeats change the
		// version and gives up after the lease plus its extra wait.
		start := time.Now()
		_, err = g.Acquire(c, "job", lock.AdditionalWait(heartbeat))
		require.ErrorIs(t, err, lock.ErrLocked)
		require.GreaterOrEqual(t, time.Since(start), lease)
		require.NotEqual(t, s(first.RVN), e.raw(t, "job", "")["record_version_number"], "the Python client heartbeats")

		p.Kill(t)
		killed := time.Now()
		l, err := g.Acquire(c, "job")
		require.NoError(t, err)
		took := time.Since(killed)
		t.Logf("%s: leaselock took over %v after the Python process was killed (lease %v)", kind, took.Round(time.Millisecond), lease)
		// The last heartbeat landed up to one period before the kill.
		require.GreaterOrEqual(t, took, lease-2*heartbeat, "took over before the lease could have lapsed")
		require.Less(t, took, lease+3*time.Second, "took too long to take over a dead holder")
		require.Equal(t, uint64(1), l.Token())
		require.Equal(t, s("go-waiter"), e.raw(t, "job", "")["owner_name"])

		// A fresh Python client reads leaselock's item as held.
		p2 := e.startPython(t, "py-second")
		seen := p2.lock(t, "get job")
		require.Equal(t, "go-waiter", seen.Owner)
		require.Equal(t, lease.Seconds(), seen.LeaseSeconds)
		require.Greater(t, seen.ExpiryTime, time.Now().Unix(), "leaselock writes the expiry_time the Python client needs")
		require.Equal(t, "timeout", p2.Must(t, "try job"))
		require.NoError(t, l.Err())
	})
}

// TestGoHolderBlocksPythonUntilKilled: while a leaselock process holds a key
// and heartbeats, the Python client cannot acquire it, at once or by
// waiting; once that process is killed (SIGKILL), the Python client takes
// the key over after a lease.
func TestGoHolderBlocksPythonUntilKilled(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		p := e.startPython(t, "py-waiter")
		h := e.startGoHolder(t, "job", "go-holder")
		require.Equal(t, uint64(1), h.token)

		require.Equal(t, "timeout", p.Must(t, "try job"))
		seen := p.lock(t, "get job")
		require.Equal(t, "go-holder", seen.Owner)
		require.Equal(t, lease.Seconds(), seen.LeaseSeconds)
		require.Equal(t, map[string]string{"N": "1"}, seen.Attrs[dynamostore.PythonAttrFencingToken],
			"the Python client carries leaselock's token as an additional attribute")

		// acquire_lock watches the version; leaselock's heartbeats keep
		// changing it, so it times out.
		start := time.Now()
		require.Equal(t, "timeout", p.Must(t, fmt.Sprintf("acquire job wait=%d", (lease+2*heartbeat).Milliseconds())))
		require.GreaterOrEqual(t, time.Since(start), lease)

		h.kill(t)
		killed := time.Now()
		got := p.lock(t, fmt.Sprintf("acquire job wait=%d", (3*lease).Milliseconds()))
		took := time.Since(killed)
		t.Logf("%s: Python took over %v after the leaselock process was killed (lease %v)", kind, took.Round(time.Millisecond), lease)
		require.Equal(t, "py-waiter", got.Owner)
		require.GreaterOrEqual(t, took, lease-2*heartbeat, "Python took over before the lease could have lapsed")
		require.Less(t, took, lease+3*time.Second)

		item := e.raw(t, "job", "")
		require.Equal(t, s("py-waiter"), item["owner_name"])
		require.NotContains(t, item, dynamostore.PythonAttrFencingToken, "a Python takeover puts a whole new item")
		g := e.goClient(t, "go-second")
		var held *lock.LockedError
		_, err := g.TryAcquire(ctx(t), "job")
		require.ErrorAs(t, err, &held)
		require.Equal(t, "py-waiter", held.Owner)
	})
}

// TestPausedPythonCannotResurrect: a Python client frozen past its lease
// (SIGSTOP) loses the key to leaselock; when it resumes it can neither renew
// nor release leaselock's lock.
func TestPausedPythonCannotResurrect(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		p := e.startPython(t, "py-paused")
		p.lock(t, "acquire job")
		g := e.goClient(t, "go-taker")

		require.NoError(t, p.Cmd().Process.Signal(syscall.SIGSTOP))
		t.Cleanup(func() { _ = p.Cmd().Process.Signal(syscall.SIGCONT) })
		l, err := g.Acquire(c, "job")
		require.NoError(t, err)
		require.NoError(t, p.Cmd().Process.Signal(syscall.SIGCONT))

		time.Sleep(4 * heartbeat) // the resumed background threads run
		require.NoError(t, l.Err(), "leaselock's lock survives the Python client waking up")
		// Two threads wake: the checker marks the lock IN_DANGER (its safe
		// period passed during the pause), after which the sender never
		// heartbeats it again; or the sender runs first, its heartbeat is
		// refused, and the lock is INVALID (stolen). Either way nothing is
		// written.
		status := p.Must(t, "status job")
		t.Logf("%s: the resumed Python lock is %s; events %s", kind, status, p.Must(t, "events"))
		switch status {
		case "IN_DANGER":
			require.Contains(t, p.Must(t, "events"), "LOCK_IN_DANGER job -")
			require.True(t, strings.HasPrefix(p.Must(t, "release job"), "error LOCK_STOLEN"),
				"its release is a delete refused on the version")
		case "INVALID":
			require.Contains(t, p.Must(t, "events"), "LOCK_STOLEN job -")
			require.Equal(t, "skipped INVALID", p.Must(t, "release job"))
		default:
			t.Fatalf("resumed Python lock is %s", status)
		}
		require.Equal(t, s("go-taker"), e.raw(t, "job", "")["owner_name"])
		require.NoError(t, l.Err())
	})
}
