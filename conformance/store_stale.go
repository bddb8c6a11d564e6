package conformance

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// staleHolderCases: once another acquisition replaced a holder's record,
// no write of that holder may land, whatever it is. Stores get heartbeats
// right and then write release or delete with a weaker condition (the key
// alone, or the owner), which lets a paused holder free a lock someone else
// now holds.
func staleHolderCases() []storeCase {
	return []storeCase{
		{name: "Takeover/StaleHeartbeatRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			forEachSupersession(t, ctx, e, func(t *testing.T, stale, now backend.Record) {
				beat := stale
				beat.Version = newVersion()
				_, err := e.a.Update(ctx, beat, stale.Version)
				requireConflict(t, err, &now)
				requireStored(t, ctx, e.b, now)
			})
		}},
		{name: "Takeover/StaleReleaseRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			forEachSupersession(t, ctx, e, func(t *testing.T, stale, now backend.Record) {
				rel := stale
				rel.Version, rel.Released = newVersion(), true
				_, err := e.a.Update(ctx, rel, stale.Version)
				requireConflict(t, err, &now)
				requireStored(t, ctx, e.b, now)
			})
		}},
		{name: "Takeover/StaleDeleteRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			forEachSupersession(t, ctx, e, func(t *testing.T, stale, now backend.Record) {
				requireConflict(t, e.a.Delete(ctx, stale.Key, stale.Version), &now)
				requireStored(t, ctx, e.b, now)
			})
		}},
	}
}

// forEachSupersession runs check once for each way a record alice holds
// can be superseded, with her stale record and the record stored now.
func forEachSupersession(t *testing.T, ctx context.Context, e *storeEnv, check func(t *testing.T, stale, now backend.Record)) {
	t.Run("takeover", func(t *testing.T) {
		stale := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
		now, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(stale.Key, "bob"), ExpectVersion: stale.Version})
		require.NoError(t, err)
		check(t, stale, now.Record)
	})
	t.Run("takeover-by-same-owner", func(t *testing.T) {
		// Two processes running as one owner: only the version tells
		// the stale one apart.
		stale := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
		now, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(stale.Key, "alice"), ExpectVersion: stale.Version})
		require.NoError(t, err)
		check(t, stale, now.Record)
	})
	t.Run("takeover-after-heartbeat", func(t *testing.T) {
		held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
		stale := held
		stale.Version = newVersion()
		stale, err := e.a.Update(ctx, stale, held.Version)
		require.NoError(t, err)
		now, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(stale.Key, "bob"), ExpectVersion: stale.Version})
		require.NoError(t, err)
		check(t, stale, now.Record)
	})
	t.Run("released-and-reacquired", func(t *testing.T) {
		// A release whose answer was lost, retried after the key changed
		// hands.
		stale := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
		release(t, ctx, e.a, stale)
		now := acquireFree(t, ctx, e.b, lease(stale.Key, "bob")).Record
		check(t, stale, now)
	})
}
