package dynamostore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
)

// TestRoundTrips pins the request budget: one request per acquire of a free
// key (absent or released), per heartbeat, per release, per delete, per get.
func TestRoundTrips(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		step := func(what string, op string, fn func()) {
			t.Helper()
			e.counter.Reset()
			fn()
			require.Equal(t, map[string]int64{op: 1}, e.counter.Counts(), what)
		}
		var held backend.Record
		step("acquire an absent key", "UpdateItem", func() {
			got, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("k", "alice")})
			require.NoError(t, err)
			held = got.Record
		})
		step("heartbeat", "UpdateItem", func() {
			next := held
			next.Version = "v2"
			var err error
			held, err = e.store.Update(c, next, held.Version)
			require.NoError(t, err)
		})
		step("release by marking", "UpdateItem", func() {
			next := held
			next.Version, next.Released = "v3", true
			var err error
			held, err = e.store.Update(c, next, held.Version)
			require.NoError(t, err)
		})
		step("acquire a released key", "UpdateItem", func() {
			got, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("k", "bob")})
			require.NoError(t, err)
			require.NotNil(t, got.Replaced)
			require.Equal(t, uint64(2), got.Record.Token)
			held = got.Record
		})
		step("get", "GetItem", func() {
			_, err := e.store.Get(c, held.Key)
			require.NoError(t, err)
		})
		step("delete", "DeleteItem", func() {
			require.NoError(t, e.store.Delete(c, held.Key, held.Version))
		})
		step("list", "Scan", func() {
			_, err := e.store.List(c, backend.ListRequest{})
			require.NoError(t, err)
		})
	})
}

// TestConflictCarriesCurrent checks that a refused write reports the
// current record, and what it costs on each server: DynamoDB and moto
// return the old item with the refusal (one request); dynalite ignores
// ReturnValuesOnConditionCheckFailure, so the store reads it (two).
func TestConflictCarriesCurrent(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		other := e.another(t, nil)
		c := ctx(t)
		held, err := other.Acquire(c, backend.AcquireRequest{Record: lease("k", "alice")})
		require.NoError(t, err)

		wantRequests := int64(1)
		if kind == testservers.Dynalite {
			wantRequests = 2
		}
		check := func(what string, err error, want *backend.Record) {
			t.Helper()
			var ce *backend.ConflictError
			require.ErrorAs(t, err, &ce, what)
			if want == nil {
				require.Nil(t, ce.Current, what)
			} else {
				require.NotNil(t, ce.Current, what)
				require.True(t, want.Equal(*ce.Current), "%s: got %+v want %+v", what, *ce.Current, *want)
			}
		}
		for range 2 { // the first conflict may teach the store about the server
			e.counter.Reset()
			_, err = e.store.Acquire(c, backend.AcquireRequest{Record: lease("k", "bob")})
			check("acquire of a held key", err, &held.Record)
			require.Equal(t, wantRequests, e.counter.Total(), "acquire of a held key: %v", e.counter.Counts())
		}

		e.counter.Reset()
		_, err = e.store.Update(c, lease("k", "bob"), "stale")
		check("update with a stale version", err, &held.Record)
		require.Equal(t, wantRequests, e.counter.Total(), "update conflict: %v", e.counter.Counts())

		e.counter.Reset()
		err = e.store.Delete(c, held.Record.Key, "stale")
		check("delete with a stale version", err, &held.Record)
		require.Equal(t, wantRequests, e.counter.Total(), "delete conflict: %v", e.counter.Counts())

		e.counter.Reset()
		_, err = e.store.Update(c, lease("absent", "bob"), "v")
		check("update of an absent key", err, nil)
		require.Equal(t, wantRequests, e.counter.Total(), "absent conflict: %v", e.counter.Counts())
	})
}
