package pgstore_test

import (
	"testing"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/conformance/netfault"
	"github.com/leaselock/leaselock/pgstore"
)

func TestConformance(t *testing.T) {
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores:       newPair,
		MaxKeyBytes:     pgstore.MaxKeyBytes,
		SortKeys:        conformance.SortKeysOptional,
		GuardedOpDuring: guardedOpDuring,
		FailingOp:       failingOp,
		NewStoresBehindProxy: func(t *testing.T) (backend.Store, backend.Store, *netfault.Proxy) {
			addr := needCluster(t)
			p := netfault.Start(t, addr)
			table := freshTable()
			direct := newStoreOn(t, addr, table, true)
			return newStoreOn(t, p.Addr(), table, false, cancelsDirect(addr)), direct, p
		},
	})
}

func TestLockConformance(t *testing.T) {
	conformance.RunLock(t, conformance.LockHarness{
		NewStores: newPair,
		Remote:    true,
		GuardedOp: func(t *testing.T, s backend.Store) (any, func() bool) {
			return guardedOpDuring(t, s, func() {})
		},
	})
}
