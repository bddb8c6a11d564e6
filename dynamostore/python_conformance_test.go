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
// in both fencing modes: the counter on the lock item, whose tokens
// advance by one in the write itself, and counter items (the format's
// default), whose tokens are drawn in a later step (fence.go) and so are
// checked as TokensMaySkip: larger than the token they follow, unique and
// in real-time order, but not always exactly one more.
func TestConformanceStorePython(t *testing.T) {
	for _, fencing := range []dynamostore.FencingMode{dynamostore.FencingCounterItem, dynamostore.FencingOnItem} {
		opts := &dynamostore.Options{Format: dynamostore.FormatPython, Fencing: fencing}
		for _, kind := range servers {
			t.Run(fencingName(fencing)+"/"+string(kind), func(t *testing.T) {
				t.Parallel()
				testservers.Get(t, kind)
				conformance.RunStore(t, storeHarness(kind, opts))
			})
		}
	}
}

// fencingName names a fencing mode in test names.
func fencingName(f dynamostore.FencingMode) string {
	if f == dynamostore.FencingOnItem {
		return "on-item"
	}
	return "counter-item"
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
