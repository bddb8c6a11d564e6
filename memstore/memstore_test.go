package memstore_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/memstore"
)

func TestConformance(t *testing.T) {
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores:       func(*testing.T) (backend.Store, backend.Store) { s := memstore.New(); return s, s },
		SortKeys:        conformance.SortKeysOptional,
		GuardedOpDuring: guardedOpDuring,
		FailingOp:       func(*testing.T, backend.Store) any { return func() error { return errAppFailed } },
	})
}

var errAppFailed = errors.New("memstore_test: the application's write failed")

func TestLockConformance(t *testing.T) {
	conformance.RunLock(t, conformance.LockHarness{
		NewStores: func(*testing.T) (backend.Store, backend.Store) { s := memstore.New(); return s, s },
		GuardedOp: guardedOp,
	})
}

func guardedOp(t *testing.T, s backend.Store) (any, func() bool) {
	return guardedOpDuring(t, s, func() {})
}

// guardedOpDuring's ops run under the store's lock, after the guard was
// checked: the place where during belongs.
func guardedOpDuring(_ *testing.T, _ backend.Store, during func()) (any, func() bool) {
	var wrote atomic.Bool
	return func() error { during(); wrote.Store(true); return nil }, wrote.Load
}
