package memstore_test

import (
	"sync/atomic"
	"testing"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/memstore"
)

func TestConformance(t *testing.T) {
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores: func(*testing.T) (backend.Store, backend.Store) { s := memstore.New(); return s, s },
		SortKeys:  true,
		GuardedOp: guardedOp,
	})
}

func TestLockConformance(t *testing.T) {
	conformance.RunLock(t, conformance.LockHarness{
		NewStores: func(*testing.T) (backend.Store, backend.Store) { s := memstore.New(); return s, s },
		GuardedOp: guardedOp,
	})
}

func guardedOp(*testing.T, backend.Store) (any, func() bool) {
	var wrote atomic.Bool
	return func() error { wrote.Store(true); return nil }, wrote.Load
}
