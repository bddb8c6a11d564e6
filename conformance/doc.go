// Package conformance holds the exported test suites every leaselock store
// must pass.
//
// A store author's whole test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunStore(t, conformance.StoreHarness{
//			NewStores: func(t *testing.T) (backend.Store, backend.Store) { s := New(); return s, s },
//		})
//	}
//
// RunStore checks every clause of the backend.Store contract; RunLock checks
// the lock engine's semantics (mutual exclusion, takeover, loss detection,
// fencing, faults) running over the store. Optional capabilities are found by
// type assertion, and their subtests are skipped — with a message saying why
// — only when a store does not declare them.
//
// Sequential clauses cannot see a store that checks a condition in one step
// and writes in another, so RunStore also races both handles through many
// acquisitions of one key (fencing tokens, Replaced and a conflict's Current
// must come from the write's own atomic step), opens a guarded write and
// attempts a takeover from inside it (StoreHarness.GuardedOpDuring), and, for
// a network store, cuts its connections with package netfault to check how
// it reports each failure (StoreHarness.NewStoresBehindProxy).
package conformance
