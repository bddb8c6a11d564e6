package dynamostore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

type item = map[string]types.AttributeValue

// TestGoldenItems pins the exact items the store writes, read back raw: the
// Java AmazonDynamoDBLockClient 1.4.0 attributes with their Java encodings
// (leaseDuration S in milliseconds, data B only when present, isReleased S
// "1" only when released) plus fencingToken N and the application's
// attributes as S.
func TestGoldenItems(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		key := item{"key": s("orders/42")}
		rec := backend.Record{
			Key: backend.Key{Partition: "orders/42"}, Owner: "host-a:1234", Version: "v1",
			LeaseDuration: 20 * time.Second, Data: []byte{0, 1, 2, 0xff},
			Attributes: map[string]string{"team": "payments"},
		}
		got, err := e.store.Acquire(c, backend.AcquireRequest{Record: rec})
		require.NoError(t, err)
		require.Equal(t, item{
			"key":                 s("orders/42"),
			"ownerName":           s("host-a:1234"),
			"leaseDuration":       s("20000"),
			"recordVersionNumber": s("v1"),
			"data":                b([]byte{0, 1, 2, 0xff}),
			"fencingToken":        n("1"),
			"team":                s("payments"),
		}, e.rawItem(t, key), "acquired")

		beat := got.Record
		beat.Version, beat.LeaseDuration = "v2", 1500*time.Millisecond
		beat, err = e.store.Update(c, beat, "v1")
		require.NoError(t, err)
		require.Equal(t, item{
			"key":                 s("orders/42"),
			"ownerName":           s("host-a:1234"),
			"leaseDuration":       s("1500"),
			"recordVersionNumber": s("v2"),
			"data":                b([]byte{0, 1, 2, 0xff}),
			"fencingToken":        n("1"),
			"team":                s("payments"),
		}, e.rawItem(t, key), "heartbeat")

		rel := beat
		rel.Version, rel.Released, rel.Data = "v3", true, nil
		_, err = e.store.Update(c, rel, "v2")
		require.NoError(t, err)
		require.Equal(t, item{
			"key":                 s("orders/42"),
			"ownerName":           s("host-a:1234"),
			"leaseDuration":       s("1500"),
			"recordVersionNumber": s("v3"),
			"isReleased":          s("1"),
			"fencingToken":        n("1"),
			"team":                s("payments"),
		}, e.rawItem(t, key), "released, data dropped")

		next := backend.Record{Key: rec.Key, Owner: "host-b", Version: "v4", LeaseDuration: 10 * time.Second}
		_, err = e.store.Acquire(c, backend.AcquireRequest{Record: next})
		require.NoError(t, err)
		require.Equal(t, item{
			"key":                 s("orders/42"),
			"ownerName":           s("host-b"),
			"leaseDuration":       s("10000"),
			"recordVersionNumber": s("v4"),
			"fencingToken":        n("2"),
			"team":                s("payments"), // attributes merge
		}, e.rawItem(t, key), "re-acquired")
	})
}

// TestGoldenItemsCustomLayout pins the item under a custom key layout with
// a sort key and a TTL attribute.
func TestGoldenItemsCustomLayout(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	opts := &dynamostore.Options{
		PartitionKeyName: "lockName", SortKeyName: "shard",
		TTLAttribute: "expiresAt", TTLRetention: time.Hour,
		Now: func() time.Time { return now },
	}
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, opts)
		require.NoError(t, e.store.AssertTable(ctx(t)))
		rec := backend.Record{Key: backend.Key{Partition: "jobs", Sort: "nightly"}, Owner: "w1", Version: "v1",
			LeaseDuration: 30 * time.Second}
		_, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: rec})
		require.NoError(t, err)
		require.Equal(t, item{
			"lockName":            s("jobs"),
			"shard":               s("nightly"),
			"ownerName":           s("w1"),
			"leaseDuration":       s("30000"),
			"recordVersionNumber": s("v1"),
			"fencingToken":        n("1"),
			"expiresAt":           n(strconv.FormatInt(now.Add(30*time.Second+time.Hour).Unix(), 10)),
		}, e.rawItem(t, item{"lockName": s("jobs"), "shard": s("nightly")}))
		got, err := e.store.Get(ctx(t), rec.Key)
		require.NoError(t, err)
		rec.Token = 1
		require.True(t, rec.Equal(got), "%+v", got)
	})
}

// TestReadsJavaItems checks the store reads and takes over items exactly as
// the Java client writes them: no fencingToken, and a release that the
// Java client marks with isReleased "1".
func TestReadsJavaItems(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		put := func(it item) {
			t.Helper()
			_, err := e.client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: it})
			require.NoError(t, err)
		}
		put(item{
			"key": s("java-held"), "ownerName": s("java-host"), "leaseDuration": s("10000"),
			"recordVersionNumber": s("0b0c-uuid"), "data": b([]byte("java data")),
		})
		put(item{
			"key": s("java-released"), "ownerName": s("java-host"), "leaseDuration": s("10000"),
			"recordVersionNumber": s("1c1d-uuid"), "isReleased": s("1"),
		})

		held, err := e.store.Get(c, backend.Key{Partition: "java-held"})
		require.NoError(t, err)
		require.True(t, backend.Record{Key: backend.Key{Partition: "java-held"}, Owner: "java-host",
			Version: "0b0c-uuid", LeaseDuration: 10 * time.Second, Data: []byte("java data")}.Equal(held), "%+v", held)

		_, err = e.store.Acquire(c, backend.AcquireRequest{Record: lease("java-held", "go")})
		var ce *backend.ConflictError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "0b0c-uuid", ce.Current.Version)

		got, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("java-released", "go")})
		require.NoError(t, err)
		require.Equal(t, uint64(1), got.Record.Token, "a Java item has no counter: the first leaselock token is 1")
		require.True(t, got.Replaced.Released)
		require.Equal(t, "1c1d-uuid", got.Replaced.Version)

		took, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("java-held", "go"), ExpectVersion: "0b0c-uuid", KeepData: true})
		require.NoError(t, err)
		require.Equal(t, []byte("java data"), took.Record.Data)
		require.Equal(t, uint64(1), took.Record.Token)
	})
}
