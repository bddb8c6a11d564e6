// Package race races leaselock against cirello.io/dynamolock/v2 and a raw
// aws-sdk-go-v2 floor on one dynalite server, in one run, and against the
// in-memory store on its own.
//
// Every contender talks to DynamoDB through an HTTP client whose transport
// counts the requests it sends (Counter), so "requests per operation" is
// what went over the wire, retries included, whatever the library does
// inside. The floor is the least a lease lock can send: one conditional
// write per acquire, heartbeat and release, and one read per poll while it
// waits.
//
// The scenarios:
//
//   - requests: requests per acquire (absent and released key), heartbeat,
//     release, refused try-acquire, and per second of waiting on a held key;
//   - sequential: acquire+release cycles per second on one key;
//   - contention: workers on one key, each holding it briefly and
//     re-acquiring at once: throughput, requests per acquisition, waits and
//     each worker's share;
//   - takeover: how long a waiter needs to take a key whose holder died;
//   - heartbeat: many locks held at several heartbeat/lease pairs: how many
//     are kept, and whether each lost one was reported to its holder or lost
//     silently (judged from the requests on the wire, see Timeline);
//   - memstore: the engine's acquire+release cost next to the store's own
//     two calls (testing.Benchmark), and the heap each held lock costs.
//
// Run runs them all and returns a Result, which WriteFiles saves as JSON and
// PNG charts. The command in cmd/race starts dynalite (with the guard that
// keeps a client's aborted request from killing it) and calls both.
package race
