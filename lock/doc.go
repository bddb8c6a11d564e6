// Package lock is the leaselock engine: distributed locks built on leases
// over any backend.Store.
//
// A Client acquires a key by writing a lease record conditionally; it then
// keeps the lease alive with heartbeats (each one a compare-and-swap that
// changes the record's version) until the lock is released. Another client
// that finds the key held polls it and takes it over only after it has seen
// the SAME version for a whole lease on its own monotonic clock: a holder
// that stops heartbeating (crashed, partitioned, paused) loses the key, and
// no two clocks ever need to agree.
//
// Every acquisition gets a fencing token that strictly increases per key
// (see Lock.Token for the exact condition). Pass it to the resources the
// lock protects, or let the store check the lock for you: WriteGuarded
// commits the application's writes only while the lock is held, and
// CommitAndRelease commits them and releases the lock in one atomic step,
// so a holder that was paused past its lease can neither corrupt them nor
// have committed work that outlived its lock. Each store offers typed
// forms of both (dynamostore.WriteGuarded, memstore.CommitAndRelease, ...)
// and dynamostore.Store.GuardCheck puts the lock check into your own
// DynamoDB transactions.
//
// A held Lock reports its end exactly once: Done is closed, Context is
// cancelled, Err says why (stolen, expired or released) and the OnLost
// callback runs. OnDanger warns before the lease runs out locally.
//
// WithObserver installs an Observer, told of every operation, store call
// and change in a lock's life: the seam for metrics and traces (package
// otelock implements it with OpenTelemetry; docs/observability.md). Logs
// (WithLogger) carry the caller's context, and a Lock's Context keeps the
// values of the context it was acquired with.
//
// See docs/safety.md for the algorithm and the argument for each invariant.
package lock
