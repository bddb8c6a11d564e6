// Package backend is the contract between the leaselock engine and a storage
// backend.
//
// Store authors import only this package: they implement [Store] (four
// context-first methods with compare-and-swap semantics), optionally the
// capability interfaces [Lister] and [GuardedWriter], and validate the result
// with conformance.RunStore. Applications do not use this package directly;
// they use package lock together with one store (memstore, dynamostore or
// their own).
//
// The engine owns all policy: lease timing, retries, validation of user
// input, logging and metrics. A store only has to apply each write
// atomically, and only when its condition holds, and to say precisely what
// happened when it did not (see the error kinds in errors.go).
package backend
