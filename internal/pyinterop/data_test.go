package pyinterop

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestDataAndAttributesCrossOver: leaselock's data (B) and attributes (S)
// are additional attributes to the Python client, and its additional
// attributes are leaselock's data (a B or S "data") and attributes (the S
// ones; others are kept on the item but not shown). A leaselock takeover
// keeps what the Python client wrote; a Python acquisition writes only its
// own.
func TestDataAndAttributesCrossOver(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		g := e.goClient(t, "go-data")
		p := e.startPython(t, "py-data")

		goData := []byte{0, 1, 2, 0xff}
		l, err := g.Acquire(c, "job", lock.WithData(goData), lock.WithAttributes(map[string]string{"team": "payments"}))
		require.NoError(t, err)
		seen := p.lock(t, "get job")
		require.Equal(t, goData, seen.binary(t, "data"))
		require.Equal(t, map[string]string{"S": "payments"}, seen.Attrs["team"])
		require.NoError(t, l.Release(c))

		pyData := []byte("from python \x00\xfe")
		attrs := map[string]map[string]string{
			"data": {"B": b64(pyData)}, "team": {"S": "search"}, "shard": {"N": "7"}}
		got := p.lock(t, "acquire job "+attrsArg(t, attrs))
		require.Equal(t, map[string]string{"N": "7"}, got.Attrs["shard"])
		item := e.raw(t, "job", "")
		require.NotContains(t, item, "fencing_token", "a Python acquisition writes only its own attributes")
		info, err := g.Get(c, "job", "")
		require.NoError(t, err)
		require.Equal(t, lock.StateLocked, info.State)
		require.Equal(t, pyData, info.Data)
		require.Equal(t, map[string]string{"team": "search"}, info.Attributes)

		// leaselock takes the dead Python holder's lock over, keeping its
		// data and attributes.
		p.Kill(t)
		l, err = g.Acquire(c, "job", lock.KeepData())
		require.NoError(t, err)
		require.Equal(t, pyData, l.Data())
		item = e.raw(t, "job", "")
		require.Equal(t, n("7"), item["shard"])
		require.Equal(t, s("search"), item["team"])
		require.Equal(t, s("go-data"), item["owner_name"])

		// ...and a fresh Python client reads them all back.
		p2 := e.startPython(t, "py-reader")
		seen = p2.lock(t, "get job")
		require.Equal(t, pyData, seen.binary(t, "data"))
		require.Equal(t, map[string]string{"N": "7"}, seen.Attrs["shard"])
		require.Equal(t, map[string]string{"S": "search"}, seen.Attrs["team"])
	})
}

// TestSortKeysShared: a Python lock with a sort key is leaselock's key
// with that sort key (lock.WithSortKey), and the Python client's default
// sort key "-" is leaselock's key without one; each is a lock of its own.
func TestSortKeysShared(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		g := e.goClient(t, "go-sorted")
		p := e.startPython(t, "py-sorted")

		p.lock(t, "acquire job sort=2024-06")
		var held *lock.LockedError
		_, err := g.TryAcquire(c, "job", lock.WithSortKey("2024-06"))
		require.ErrorAs(t, err, &held)
		require.Equal(t, "py-sorted", held.Owner)

		l, err := g.TryAcquire(c, "job")
		require.NoError(t, err, "no sort key is another lock")
		require.Equal(t, "", l.SortKey())
		seen := p.lock(t, "get job") // the driver's default sort key: "-"
		require.Equal(t, "go-sorted", seen.Owner)
		require.Equal(t, "-", seen.SortKey)

		l2, err := g.TryAcquire(c, "job", lock.WithSortKey("2024-07"))
		require.NoError(t, err)
		require.Equal(t, "timeout", p.Must(t, "try job sort=2024-07"))
		require.Equal(t, s("go-sorted"), e.raw(t, "job", "2024-07")["owner_name"])
		require.NoError(t, l2.Release(c))
		got := p.lock(t, fmt.Sprintf("acquire job sort=2024-07 wait=%d", lease.Milliseconds()))
		require.Equal(t, "py-sorted", got.Owner)
	})
}
