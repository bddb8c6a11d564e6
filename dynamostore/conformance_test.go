package dynamostore_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/conformance/netfault"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// storeHarness runs the Store contract on a fresh table per case, with two
// stores on two clients (two connection pools) racing on it; opts chooses
// the layout (nil: the Java client's).
func storeHarness(kind testservers.Kind, opts *dynamostore.Options) conformance.StoreHarness {
	h := conformance.StoreHarness{
		NewStores: func(t *testing.T) (backend.Store, backend.Store) {
			e := newEnv(t, kind, opts)
			return e.store, e.another(t, opts)
		},
		MaxKeyBytes:  dynamostore.MaxPartitionKeyBytes,
		MaxDataBytes: 350_000,
		SortKeys:     conformance.SortKeysNone,
		// dynalite ignores ReturnValuesOnConditionCheckFailure: the store
		// reads a refused write's current record afterwards.
		ConflictReadsBack: kind == testservers.Dynalite,
		// The Errors clauses cut connections to the server around single
		// calls: a lost answer must be ambiguous, a cut request unapplied.
		// The SDK's retries are off so each call is one request.
		NewStoresBehindProxy: func(t *testing.T) (backend.Store, backend.Store, *netfault.Proxy) {
			e := newEnv(t, kind, opts)
			p := netfault.Start(t, strings.TrimPrefix(e.srv.Endpoint, "http://"))
			behind, err := dynamostore.New(testservers.NewClient("http://"+p.Addr(), noRetries), e.table, opts)
			require.NoError(t, err)
			return behind, e.store, p
		},
	}
	if opts != nil && opts.Format == dynamostore.FormatPython {
		// Keys with and without a sort value (an empty one is stored "-").
		h.SortKeys, h.Races = conformance.SortKeysOptional, 300
		// A counter item's token is drawn after the lock write (fence.go):
		// larger than every earlier one, but a retried draw skips one.
		h.TokensMaySkip = opts.Fencing != dynamostore.FencingOnItem
		if h.TokensMaySkip {
			// Three requests per acquisition, on a server (moto) that
			// serialises them: fewer races keep the package's run short.
			h.Races = 100
		}
	}
	if kind == testservers.Moto {
		// TransactWriteItems runs on the server: there is no point inside
		// it where a hook could run, so no GuardedOpDuring.
		h.GuardedOp = guardedPut
		h.FailingOp = failingCheck
	}
	return h
}

// lockHarness runs the lock engine over dynamostore in real time with
// short leases; opts chooses the layout (nil: the Java client's).
func lockHarness(kind testservers.Kind, opts *dynamostore.Options) conformance.LockHarness {
	h := conformance.LockHarness{
		NewStores: func(t *testing.T) (backend.Store, backend.Store) {
			e := newEnv(t, kind, opts)
			return e.store, e.another(t, opts)
		},
		Remote: true,
	}
	if kind == testservers.Moto {
		h.GuardedOp = guardedPut
	}
	return h
}

var appItemSeq atomic.Int64

// appItem is the key of an application item in the lock table: the table's
// own key names, and the format's "no sort key" value where it has one.
func appItem(store *dynamostore.Store, key string) map[string]types.AttributeValue {
	o := store.Options()
	item := map[string]types.AttributeValue{o.PartitionKeyName: s(key)}
	if o.SortKeyName != "" {
		item[o.SortKeyName] = s("-")
	}
	return item
}

// failingCheck returns ops whose one item, a condition check on an
// application item that does not exist, fails.
func failingCheck(t *testing.T, st backend.Store) any {
	store := st.(*dynamostore.Store)
	return []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
		TableName:                aws.String(store.Table()),
		Key:                      appItem(store, fmt.Sprint("app-absent-", appItemSeq.Add(1))),
		ConditionExpression:      aws.String("attribute_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": store.Options().PartitionKeyName},
	}}}
}

// guardedPut returns ops that put one application item into the lock's own
// table, and a check that it was written.
func guardedPut(t *testing.T, st backend.Store) (any, func() bool) {
	store := st.(*dynamostore.Store)
	key := fmt.Sprintf("app-item-%d", appItemSeq.Add(1))
	item := appItem(store, key)
	item["payload"] = s("written under the lock")
	ops := []types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(store.Table()), Item: item}}}
	written := func() bool {
		_, err := store.Get(ctx(t), backend.Key{Partition: key})
		if err == nil {
			return true
		}
		require.ErrorIs(t, err, backend.ErrNotFound)
		return false
	}
	return ops, written
}

func TestConformanceStore(t *testing.T) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testservers.Get(t, kind) // skip (or fail) here, not in every case
			conformance.RunStore(t, storeHarness(kind, nil))
		})
	}
}

// TestConformanceStoreSortKey runs the contract on a table with a sort key:
// every key the suite uses then carries a sort value.
func TestConformanceStoreSortKey(t *testing.T) {
	testservers.Get(t, testservers.Dynalite)
	opts := &dynamostore.Options{SortKeyName: "sk"}
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores: func(t *testing.T) (backend.Store, backend.Store) {
			e := newEnv(t, testservers.Dynalite, opts)
			return e.store, e.another(t, opts)
		},
		MaxKeyBytes:       dynamostore.MaxPartitionKeyBytes,
		MaxDataBytes:      350_000,
		SortKeys:          conformance.SortKeysRequired,
		ConflictReadsBack: true, // dynalite
		Races:             200,
	})
}
