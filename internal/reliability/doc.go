// Package reliability holds leaselock's reliability and security tests: the
// evidence behind docs/guarantees.md. It has no non-test code besides this
// comment; nothing imports it. The contention workload and its history
// checker live in package contention beneath it, so that the tests of
// other stores (the nested pgstore module) can run the same workload.
//
// The tests drive the public API (packages lock, memstore, dynamostore)
// the way applications do and check the results from outside:
//
//   - A contention workload: many clients and goroutines acquire, hold and
//     release random keys while a history records every hold (from the
//     moment Acquire returned to the moment the holder called Release or
//     was told it lost the lock) with its fencing token. A checker then
//     proves that no two holds of one key overlap unless the earlier holder
//     had already been told, and that tokens strictly increase per key in
//     acquisition order. It runs on memstore in a testing/synctest bubble
//     (virtual time, 20-second leases) and on dynalite and moto in real
//     time with one-second leases; pgstore's tests run it on PostgreSQL
//     with connections cut under it (TestContentionWorkload).
//   - The same workload through conformance/faultstore: unavailable
//     stores, ambiguous and dropped responses, latency spikes longer than
//     the heartbeat period.
//   - Paused holders, clocks running at different rates (within and above
//     the declared drift), a holder process killed with SIGKILL, a table of
//     invalid inputs, fuzz tests of key validation and of the DynamoDB item
//     encoding (in packages backend and dynamostore), and security checks:
//     no operation on another client's lock, no user string inside a
//     DynamoDB expression, no lock data or credentials in the logs.
//
// The default run fits in a few minutes with -race on two cores. Set
// LEASELOCK_LONG=1 (or pass -long to this package's tests) for the long
// variants: more acquisitions per store and longer fault runs. The DynamoDB
// tests need the test servers (scripts/install-test-servers.sh); they skip
// without them, or fail when LEASELOCK_REQUIRE_SERVERS=1.
package reliability
