package dynamostore_test

import (
	"fmt"
	"strings"
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

// pythonOpts is the Python client's layout with its defaults.
var pythonOpts = &dynamostore.Options{Format: dynamostore.FormatPython}

// pythonStoreHarness runs the Store contract in the Python format: keys
// with and without a sort value (an empty one is stored as "-").
func pythonStoreHarness(kind testservers.Kind, opts *dynamostore.Options) conformance.StoreHarness {
	h := conformance.StoreHarness{
		NewStores: func(t *testing.T) (backend.Store, backend.Store) {
			e := newEnv(t, kind, opts)
			return e.store, e.another(t, opts)
		},
		MaxKeyBytes:       dynamostore.MaxPartitionKeyBytes,
		MaxDataBytes:      350_000,
		SortKeys:          conformance.SortKeysOptional,
		ConflictReadsBack: kind == testservers.Dynalite,
		Races:             300,
		NewStoresBehindProxy: func(t *testing.T) (backend.Store, backend.Store, *netfault.Proxy) {
			e := newEnv(t, kind, opts)
			p := netfault.Start(t, strings.TrimPrefix(e.srv.Endpoint, "http://"))
			behind, err := dynamostore.New(testservers.NewClient("http://"+p.Addr(), noRetries), e.table, opts)
			require.NoError(t, err)
			return behind, e.store, p
		},
	}
	if kind == testservers.Moto {
		h.GuardedOp = pythonGuardedPut
	}
	return h
}

// pythonGuardedPut is guardedPut for a table with the Python client's keys.
func pythonGuardedPut(t *testing.T, st backend.Store) (any, func() bool) {
	store := st.(*dynamostore.Store)
	key := fmt.Sprintf("app-item-%d", appItemSeq.Add(1))
	ops := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(store.Table()),
		Item: map[string]types.AttributeValue{
			dynamostore.PythonPartitionKeyName: s(key), dynamostore.PythonSortKeyName: s("-"),
			"payload": s("written under the lock"),
		},
	}}}
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

// TestConformanceStorePython runs the Store contract in the Python layout
// with the counter on the lock item. With counter items (the format's
// default) every clause holds but one: Race/ReplacedIsAtomic requires the
// token to be the replaced record's plus one, drawn in the same atomic
// step, while a counter item's token is drawn in a later step and is only
// larger than every earlier token (fence.go; fence_test.go checks that mode
// on its own terms, and TestConformanceLockPython runs the engine on it).
func TestConformanceStorePython(t *testing.T) {
	opts := &dynamostore.Options{Format: dynamostore.FormatPython, Fencing: dynamostore.FencingOnItem}
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testservers.Get(t, kind)
			conformance.RunStore(t, pythonStoreHarness(kind, opts))
		})
	}
}

// TestConformanceLockPython runs the lock engine's semantics over the
// Python layout with its default counter items, on each server.
func TestConformanceLockPython(t *testing.T) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testservers.Get(t, kind)
			h := conformance.LockHarness{
				NewStores: func(t *testing.T) (backend.Store, backend.Store) {
					e := newEnv(t, kind, pythonOpts)
					return e.store, e.another(t, pythonOpts)
				},
				Remote: true,
			}
			if kind == testservers.Moto {
				h.GuardedOp = pythonGuardedPut
			}
			conformance.RunLock(t, h)
		})
	}
}
