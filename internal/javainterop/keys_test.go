package javainterop

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestCompositeKeyAndCustomNames: on a table with a custom partition key
// name and a sort key, both sides address the same lock by (partition,
// sort), and different sort keys are different locks.
func TestCompositeKeyAndCustomNames(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, &dynamostore.Options{PartitionKeyName: "lockName", SortKeyName: "shard"})
		c := ctx(t)
		j := e.startJava(t, "java-shards", javaOpts{partitionKey: "lockName", sortKey: "shard"})
		g := e.goClient(t, "go-shards")

		got := j.lock(t, "acquire orders sort=eu")
		require.NotNil(t, got.SortKey)
		require.Equal(t, "eu", *got.SortKey)
		item := e.rawKey(t, "orders", "eu")
		require.Equal(t, s("orders"), item["lockName"])
		require.Equal(t, s("eu"), item["shard"])
		require.Equal(t, s("java-shards"), item["ownerName"])

		var held *lock.LockedError
		_, err := g.TryAcquire(c, "orders", lock.WithSortKey("eu"))
		require.ErrorAs(t, err, &held)
		require.Equal(t, "java-shards", held.Owner)

		l, err := g.TryAcquire(c, "orders", lock.WithSortKey("us"))
		require.NoError(t, err, "another sort key is another lock")
		j.expect(t, "try orders sort=us skipwait", "unavailable")
		require.Equal(t, "go-shards", j.lock(t, "get orders sort=us").Owner)

		require.NoError(t, l.Release(c))
		start := time.Now()
		require.Equal(t, "java-shards", j.lock(t, "acquire orders sort=us").Owner)
		require.Less(t, time.Since(start), lease/2)

		require.Equal(t, "released", j.Must(t, "release orders sort=eu mode=mark"))
		e.counter.Reset()
		l, err = g.TryAcquire(c, "orders", lock.WithSortKey("eu"))
		require.NoError(t, err)
		require.Equal(t, int64(1), e.counter.Total())
		require.Equal(t, "eu", l.SortKey())
		require.Equal(t, s("go-shards"), e.rawKey(t, "orders", "eu")["ownerName"])
	})
}

// TestTableCreatedByJava: a table made by the Java client's
// createLockTableInDynamoDB has the schema dynamostore expects (AssertTable
// passes), with and without a sort key, and both sides lock on it. (The
// other tests show the converse: the Java client accepts dynamostore's
// tables.)
func TestTableCreatedByJava(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts dynamostore.Options
		sort string
	}{
		{"key", dynamostore.Options{}, ""},
		{"sort-key", dynamostore.Options{SortKeyName: "sortKey"}, "s1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onServers(t, func(t *testing.T, kind testservers.Kind) {
				e := newEnvNoTable(t, kind, &tc.opts)
				c := ctx(t)
				j := e.startJava(t, "java-creator", javaOpts{sortKey: tc.opts.SortKeyName, createTable: true})
				require.NoError(t, e.store.AssertTable(c))

				acquire := "acquire k"
				var opts []lock.AcquireOption
				if tc.sort != "" {
					acquire += " sort=" + tc.sort
					opts = append(opts, lock.WithSortKey(tc.sort))
				}
				j.lock(t, acquire)
				var held *lock.LockedError
				_, err := e.goClient(t, "go-user").TryAcquire(c, "k", opts...)
				require.ErrorAs(t, err, &held)
				require.Equal(t, "java-creator", held.Owner)
			})
		})
	}
}
