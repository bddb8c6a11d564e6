package dynamostore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// pyKey is the primary key of a Python-layout item; sort "" is "-".
func pyKey(partition, sort string) item {
	if sort == "" {
		sort = dynamostore.PythonNoSortKey
	}
	return item{dynamostore.PythonPartitionKeyName: s(partition), dynamostore.PythonSortKeyName: s(sort)}
}

// TestGoldenItemsPython pins the exact items the store writes in the Python
// layout, read back raw: python_dynamodb_lock 0.9.1's attributes with its
// encodings (lease_duration N in seconds, expiry_time N epoch seconds, sort
// key "-" for none) plus data B, fencing_token N and the application's
// attributes as S; and the counter item beside it, which survives the
// release by deleting.
func TestGoldenItemsPython(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		opts := &dynamostore.Options{Format: dynamostore.FormatPython,
			Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
		e := newEnv(t, kind, opts)
		c := ctx(t)
		rec := backend.Record{
			Key: backend.Key{Partition: "orders/42"}, Owner: "host-a:1234", Version: "v1",
			LeaseDuration: 20 * time.Second, Data: []byte{0, 1, 2, 0xff},
			Attributes: map[string]string{"team": "payments"},
		}
		got, err := e.store.Acquire(c, backend.AcquireRequest{Record: rec})
		require.NoError(t, err)
		require.Equal(t, uint64(1), got.Record.Token)
		require.Equal(t, item{
			"lock_key":              s("orders/42"),
			"sort_key":              s("-"),
			"owner_name":            s("host-a:1234"),
			"lease_duration":        n("20"),
			"record_version_number": s("v1"),
			"expiry_time":           n("1700003620"), // now + lease + one hour
			"data":                  b([]byte{0, 1, 2, 0xff}),
			"fencing_token":         n("1"),
			"team":                  s("payments"),
		}, e.rawItem(t, pyKey("orders/42", "")), "acquired")
		require.Equal(t, item{
			"lock_key":      s("orders/42"),
			"sort_key":      s("-" + dynamostore.FenceSuffix),
			"fencing_token": n("1"),
		}, e.rawItem(t, pyKey("orders/42", "-"+dynamostore.FenceSuffix)), "counter item")

		beat := got.Record
		beat.Version, beat.LeaseDuration = "v2", 1500*time.Millisecond
		beat, err = e.store.Update(c, beat, "v1")
		require.NoError(t, err)
		require.Equal(t, uint64(1), beat.Token)
		require.Equal(t, item{
			"lock_key":              s("orders/42"),
			"sort_key":              s("-"),
			"owner_name":            s("host-a:1234"),
			"lease_duration":        n("1.5"),
			"record_version_number": s("v2"),
			"expiry_time":           n("1700003601"),
			"data":                  b([]byte{0, 1, 2, 0xff}),
			"fencing_token":         n("1"),
			"team":                  s("payments"),
		}, e.rawItem(t, pyKey("orders/42", "")), "heartbeat")

		require.NoError(t, e.store.Delete(c, rec.Key, "v2"))
		require.Empty(t, e.rawItem(t, pyKey("orders/42", "")), "released by deleting")

		next := backend.Record{Key: backend.Key{Partition: "orders/42", Sort: "2024"}, Owner: "host-b",
			Version: "v3", LeaseDuration: 20 * time.Millisecond}
		_, err = e.store.Acquire(c, backend.AcquireRequest{Record: next})
		require.NoError(t, err)
		require.Equal(t, item{
			"lock_key":              s("orders/42"),
			"sort_key":              s("2024"),
			"owner_name":            s("host-b"),
			"lease_duration":        n("0.02"),
			"record_version_number": s("v3"),
			"expiry_time":           n("1700003600"),
			"fencing_token":         n("1"),
		}, e.rawItem(t, pyKey("orders/42", "2024")), "a sort key of its own, a counter of its own")

		again := backend.Record{Key: rec.Key, Owner: "host-c", Version: "v4", LeaseDuration: time.Second}
		got, err = e.store.Acquire(c, backend.AcquireRequest{Record: again})
		require.NoError(t, err)
		require.Nil(t, got.Replaced)
		require.Equal(t, uint64(2), got.Record.Token, "the counter item outlived the deleted lock item")
	})
}

// TestDecodePythonItem: an item exactly as python_dynamodb_lock writes it
// (its additional attributes of any type beside the lock's) reads as a
// held record without a token; its S attributes are the record's
// attributes, the others are kept but not shown.
func TestDecodePythonItem(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, pythonOpts)
		c := ctx(t)
		_, err := e.client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: item{
			"lock_key": s("job"), "sort_key": s("-"), "owner_name": s("py-host"), "lease_duration": n("30"),
			"record_version_number": s("b5b5f4b1-7f4f-4c84-9a3e-5c1d0e9f8b11"), "expiry_time": n("1700003600"),
			"team": s("search"), "shard": n("7"),
		}})
		require.NoError(t, err)
		got, err := e.store.Get(c, backend.Key{Partition: "job"})
		require.NoError(t, err)
		require.Equal(t, backend.Record{
			Key: backend.Key{Partition: "job"}, Owner: "py-host", Version: "b5b5f4b1-7f4f-4c84-9a3e-5c1d0e9f8b11",
			LeaseDuration: 30 * time.Second, Attributes: map[string]string{"team": "search"},
		}, got)

		// A takeover merges into it: the Python attributes stay.
		taken, err := e.store.Acquire(c, backend.AcquireRequest{ExpectVersion: got.Version, Record: backend.Record{
			Key: got.Key, Owner: "go", Version: "v-go", LeaseDuration: 3 * time.Second}})
		require.NoError(t, err)
		require.Equal(t, uint64(1), taken.Record.Token)
		raw := e.rawItem(t, pyKey("job", ""))
		require.Equal(t, n("7"), raw["shard"])
		require.Equal(t, s("search"), raw["team"])
		require.Equal(t, n("3"), raw["lease_duration"])
	})
}

// TestPythonOptions pins the format's defaults and the keys it refuses.
func TestPythonOptions(t *testing.T) {
	st, err := dynamostore.New(testservers.NewClient("http://127.0.0.1:1"), "locks", pythonOpts)
	require.NoError(t, err)
	o := st.Options()
	require.Equal(t, "lock_key", o.PartitionKeyName)
	require.Equal(t, "sort_key", o.SortKeyName)
	require.Equal(t, "expiry_time", o.TTLAttribute)
	require.Equal(t, time.Hour, o.TTLRetention)
	require.Equal(t, dynamostore.FencingCounterItem, o.Fencing)
	require.True(t, st.ReleaseByDelete())

	java, err := dynamostore.New(testservers.NewClient("http://127.0.0.1:1"), "locks", nil)
	require.NoError(t, err)
	require.Equal(t, dynamostore.FencingOnItem, java.Options().Fencing)
	require.False(t, java.ReleaseByDelete())

	c := ctx(t)
	for _, key := range []backend.Key{
		{Partition: "job", Sort: "-"},                                                       // stands for no sort key
		{Partition: "job", Sort: "x" + dynamostore.FenceSuffix},                             // a counter item's key
		{Partition: "job", Sort: string(make([]byte, 1024-len(dynamostore.FenceSuffix)+1))}, // no room for the suffix
	} {
		_, err := st.Get(c, key)
		require.ErrorIs(t, err, backend.ErrInvalidKey, "%q", key)
	}

	for _, bad := range []*dynamostore.Options{
		{Format: dynamostore.Format(7)},
		{Fencing: dynamostore.FencingMode(9)},
		{Format: dynamostore.FormatPython, TTLAttribute: "owner_name"},
	} {
		_, err := dynamostore.New(testservers.NewClient("http://127.0.0.1:1"), "locks", bad)
		var oe *dynamostore.OptionsError
		require.True(t, errors.As(err, &oe), "%+v: %v", bad, err)
	}
	f, err := dynamostore.ParseFormat("python")
	require.NoError(t, err)
	require.Equal(t, dynamostore.FormatPython, f)
	_, err = dynamostore.ParseFormat("ruby")
	require.ErrorIs(t, err, backend.ErrInvalid)
}
