package dynamostore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

func TestNewValidatesOptions(t *testing.T) {
	client := testservers.NewClient("http://127.0.0.1:1")
	for name, tc := range map[string]struct {
		table string
		opts  *dynamostore.Options
	}{
		"short table name":           {"ab", nil},
		"bad table name":             {"locks table", nil},
		"sort key is a lock attr":    {"locks", &dynamostore.Options{SortKeyName: "ownerName"}},
		"partition key is lock attr": {"locks", &dynamostore.Options{PartitionKeyName: "fencingToken"}},
		"sort key equals partition":  {"locks", &dynamostore.Options{SortKeyName: "key"}},
		"ttl equals sort key":        {"locks", &dynamostore.Options{SortKeyName: "s", TTLAttribute: "s"}},
		"ttl is a lock attr":         {"locks", &dynamostore.Options{TTLAttribute: "leaseDuration"}},
		"negative retention":         {"locks", &dynamostore.Options{TTLAttribute: "ttl", TTLRetention: -time.Second}},
		"unknown conflict reads":     {"locks", &dynamostore.Options{ConflictReads: 7}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dynamostore.New(client, tc.table, tc.opts)
			require.ErrorIs(t, err, backend.ErrInvalid)
			var oe *dynamostore.OptionsError
			require.ErrorAs(t, err, &oe)
		})
	}
	_, err := dynamostore.New(nil, "locks", nil)
	require.ErrorIs(t, err, backend.ErrInvalid)

	st, err := dynamostore.New(client, "locks", &dynamostore.Options{TTLAttribute: "ttl"})
	require.NoError(t, err)
	require.Equal(t, "key", st.Options().PartitionKeyName)
	require.Equal(t, dynamostore.DefaultTTLRetention, st.Options().TTLRetention)
}

// TestRejectedBeforeSending: requests DynamoDB would refuse are refused
// locally, with ErrInvalid and no request.
func TestRejectedBeforeSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testservers.Dynalite, nil)
	sk := newEnv(t, testservers.Dynalite, &dynamostore.Options{SortKeyName: "sk"})
	c := ctx(t)
	big := lease("k", "alice")
	big.Data = make([]byte, dynamostore.MaxItemBytes)
	reserved := lease("k", "alice")
	reserved.Attributes = map[string]string{"isReleased": "0"}
	empty := lease("k", "alice")
	empty.Attributes = map[string]string{"": "x"}
	subMillisecond := lease("k", "alice")
	subMillisecond.LeaseDuration = 1500 * time.Microsecond

	for name, tc := range map[string]struct {
		store *dynamostore.Store
		rec   backend.Record
		kind  error
	}{
		"partition key over 2048 bytes": {e.store, lease(strings.Repeat("p", 2049), "a"), backend.ErrInvalid},
		"sort key over 1024 bytes": {sk.store, backend.Record{Key: backend.Key{Partition: "p", Sort: strings.Repeat("s", 1025)},
			Version: "v"}, backend.ErrInvalid},
		"sort key on a table without":  {e.store, backend.Record{Key: backend.Key{Partition: "p", Sort: "s"}, Version: "v"}, backend.ErrInvalid},
		"no sort key on a table with":  {sk.store, lease("p", "a"), backend.ErrInvalid},
		"item over 400 KB":             {e.store, big, dynamostore.ErrItemTooLarge},
		"reserved attribute name":      {e.store, reserved, backend.ErrInvalid},
		"empty attribute name":         {e.store, empty, backend.ErrInvalid},
		"lease not whole milliseconds": {e.store, subMillisecond, backend.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			e.counter.Reset()
			sk.counter.Reset()
			_, err := tc.store.Acquire(c, backend.AcquireRequest{Record: tc.rec})
			require.ErrorIs(t, err, tc.kind)
			require.ErrorIs(t, err, backend.ErrInvalid)
			_, err = tc.store.Update(c, tc.rec, "v")
			require.ErrorIs(t, err, tc.kind)
			require.Zero(t, e.counter.Total()+sk.counter.Total(), "nothing may be sent")
			t.Log(err)
		})
	}
	_, err := e.store.Get(c, backend.Key{Partition: strings.Repeat("p", 2049)})
	require.ErrorIs(t, err, backend.ErrInvalid)
	require.ErrorIs(t, e.store.Delete(c, backend.Key{Partition: "p", Sort: "s"}, "v"), backend.ErrInvalid)
	_, err = e.store.List(c, backend.ListRequest{PageToken: "not a token"})
	require.ErrorIs(t, err, backend.ErrInvalid)
	require.Zero(t, e.counter.Total())
}

// TestItemTooLargeOnServer: attributes merge on the server, so an item can
// outgrow 400 KB although each write is small; the server's refusal is
// ErrItemTooLarge.
func TestItemTooLargeOnServer(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		rec := lease("k", "alice")
		rec.Attributes = map[string]string{"a": strings.Repeat("a", 250_000)}
		got, err := e.store.Acquire(c, backend.AcquireRequest{Record: rec})
		require.NoError(t, err)
		next := got.Record
		next.Version = "v2"
		next.Attributes = map[string]string{"b": strings.Repeat("b", 250_000)}
		_, err = e.store.Update(c, next, got.Record.Version)
		require.ErrorIs(t, err, dynamostore.ErrItemTooLarge, "%v", err)
		require.NotErrorIs(t, err, backend.ErrAmbiguous)
		t.Log(err)
	})
}

// TestEmptyValues: an empty owner or attribute value is stored as an empty
// S (DynamoDB allows empty strings outside keys).
func TestEmptyValues(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		rec := lease("k", "")
		rec.Attributes = map[string]string{"note": ""}
		_, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: rec})
		require.NoError(t, err)
		got, err := e.store.Get(ctx(t), rec.Key)
		require.NoError(t, err)
		require.Equal(t, "", got.Owner)
		require.Equal(t, map[string]string{"note": ""}, got.Attributes)
	})
}
