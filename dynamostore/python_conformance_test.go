package dynamostore_test

import (
	"testing"

	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// pythonOpts is the Python client's layout with its defaults.
var pythonOpts = &dynamostore.Options{Format: dynamostore.FormatPython}

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
			conformance.RunStore(t, storeHarness(kind, opts))
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
			conformance.RunLock(t, lockHarness(kind, pythonOpts))
		})
	}
}
