package dynamostore_test

import (
	"testing"

	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/internal/testservers"
)

// TestConformanceLock runs the lock engine's semantics over dynamostore, in
// real time with short leases, on each server.
func TestConformanceLock(t *testing.T) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testservers.Get(t, kind)
			conformance.RunLock(t, lockHarness(kind, nil))
		})
	}
}
