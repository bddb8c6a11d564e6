package dynamostore_test

import (
	"testing"

	"github.com/leaselock/leaselock/backend"
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
			h := conformance.LockHarness{
				NewStores: func(t *testing.T) (backend.Store, backend.Store) {
					e := newEnv(t, kind, nil)
					return e.store, e.another(t, nil)
				},
				Remote: true,
			}
			if kind == testservers.Moto {
				h.GuardedOp = guardedPut
			}
			conformance.RunLock(t, h)
		})
	}
}
