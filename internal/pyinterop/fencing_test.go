package pyinterop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestFencingAcrossPython measures what the Python client does to
// leaselock's fencing tokens in the format's default mode (counter items).
// A Python acquisition puts a whole item, and a Python release deletes it,
// so the lock item's own fencing_token is gone whenever the Python client
// had the key; leaselock's releases delete it too. The count lives on in
// the counter item, which the Python client never touches, so every
// leaselock token is larger than every earlier one, whoever held the key in
// between. A Python holder itself has no token; a guard taken by an earlier
// leaselock holder fails against it.
func TestFencingAcrossPython(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		g := e.goClient(t, "go-fenced")
		p := e.startPython(t, "py-fenced")
		goAcquireRelease := func() uint64 {
			t.Helper()
			l, err := g.Acquire(c, "job")
			require.NoError(t, err)
			require.NoError(t, l.Release(c))
			return l.Token()
		}

		require.Equal(t, uint64(1), goAcquireRelease())
		require.Equal(t, uint64(2), goAcquireRelease(), "a release by deleting keeps the count")
		require.Equal(t, n("2"), e.raw(t, "job", "-"+dynamostore.FenceSuffix)[dynamostore.PythonAttrFencingToken])

		p.lock(t, "acquire job")
		require.Equal(t, "released", p.Must(t, "release job"))
		require.Equal(t, uint64(3), goAcquireRelease(), "after a Python acquire and release")

		// A Python takeover of an expired leaselock lock.
		work, stop := context.WithCancel(c)
		l, err := g.Acquire(c, "job", lock.HeartbeatWhile(work))
		require.NoError(t, err)
		require.Equal(t, uint64(4), l.Token())
		guard := l.Guard()
		stop()
		took := p.lock(t, fmt.Sprintf("acquire job wait=%d", (3*lease).Milliseconds()))
		require.Equal(t, "py-fenced", took.Owner)
		require.NotContains(t, e.raw(t, "job", ""), dynamostore.PythonAttrFencingToken)
		if kind == testservers.Moto { // dynalite has no transactions
			err := e.store.WriteGuarded(c, guard, []types.TransactWriteItem{{Put: &types.Put{
				TableName: aws.String(e.table),
				Item:      map[string]types.AttributeValue{"lock_key": s("app"), "sort_key": s("-"), "v": s("stale")},
			}}})
			require.ErrorIs(t, err, backend.ErrGuardFailed, "a guard of the leaselock holder fails against the Python holder")
		}
		require.Equal(t, "released", p.Must(t, "release job"))
		require.Equal(t, uint64(5), goAcquireRelease(), "after a Python takeover")

		// leaselock takes over from a killed Python holder.
		p.lock(t, "acquire job")
		p.Kill(t)
		start := time.Now()
		l, err = g.Acquire(c, "job")
		require.NoError(t, err)
		t.Logf("%s: took over from the killed Python holder in %v", kind, time.Since(start).Round(time.Millisecond))
		require.Equal(t, uint64(6), l.Token(), "a takeover of a Python holder")
		require.Equal(t, n("6"), e.raw(t, "job", "")[dynamostore.PythonAttrFencingToken])
	})
}
