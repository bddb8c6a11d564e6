package dynamostore_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestSDKRetryAfterLandedReleaseIsNotASteal drives the engine over the
// SDK's real retry: alice's release UpdateItem is applied, its response is
// lost, bob acquires the freed key, and then the SDK's own retry of the
// release fails its condition against bob's record. The store must say
// that an earlier attempt may have been applied (ConflictError
// MaybeApplied), and the engine must count the release as landed: alice's
// lock is released, not stolen, and nobody is told otherwise.
func TestSDKRetryAfterLandedReleaseIsNotASteal(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e, ft := faultEnvOn(t, kind, nil)
		c := ctx(t)
		bobStore := e.another(t, nil)
		alice, bob := lockClient(t, e.store, "alice"), lockClient(t, bobStore, "bob")

		var lostReports atomic.Int32
		la, err := alice.Acquire(c, "k", lock.OnLost(func(*lock.Lock, error) { lostReports.Add(1) }))
		require.NoError(t, err)

		var drop atomic.Bool
		var lb *lock.Lock
		ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
			if !drop.CompareAndSwap(true, false) {
				return next.RoundTrip(req)
			}
			resp, err := next.RoundTrip(req) // the release is applied
			if err == nil {
				resp.Body.Close()
			}
			var terr error
			lb, terr = bob.TryAcquire(c, "k")
			require.NoError(t, terr, "the release landed: the key is free")
			return nil, errReset // and its response is lost; the SDK retries
		}
		drop.Store(true)
		require.NoError(t, la.Release(c), "our own release landed")
		require.ErrorIs(t, la.Err(), lock.ErrReleased)
		require.NotNil(t, lb)
		require.Greater(t, lb.Token(), la.Token())
		require.NoError(t, alice.Close(c))
		require.Zero(t, lostReports.Load(), "no loss was reported")

		rec, err := bobStore.Get(c, backend.Key{Partition: "k"})
		require.NoError(t, err)
		require.Equal(t, "bob", rec.Owner, "bob holds the key undisturbed")
	})
}
