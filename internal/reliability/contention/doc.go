// Package contention is the reliability suite's contention workload, in a
// package of its own so that every store's tests can run it: package
// reliability runs it on memstore, dynalite and moto, and the nested
// pgstore module on PostgreSQL. Go's internal rule is path-based, so
// pgstore's tests may import it; nothing outside the repository can.
//
// A Workload drives many lock.Clients: every goroutine picks a random key,
// takes it (Acquire, TryAcquire or Do), holds it for a while and releases
// it. Some holds stall: their heartbeats stop (MaxHold), or a CutStore cuts
// the holder off from the store, while the holder goes on holding until it
// is told it lost the lock. A History records every hold with its fencing
// token, and its checker proves that no two holds of one key overlap unless
// the earlier holder had already been told, and that tokens strictly
// increase per key in acquisition order. Optional parts: a Resource every
// hold writes to through the lock's guarded write (a fenced resource that
// refuses older tokens), late writes of stalled holders past the engine,
// and a StealJudge that tells true steals from false ones.
//
// It is test support: it reports through testing.TB and is imported only
// by _test.go files.
package contention
