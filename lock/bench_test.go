package lock_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// BenchmarkAcquireRelease measures the engine's own cost per lock cycle on
// the in-memory store, and the store calls it makes.
func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	fs := faultstore.New(memstore.New(), nil)
	c, err := lock.New(fs, lock.WithOwner("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		l, err := c.Acquire(ctx, "k")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
	calls := fs.Calls(faultstore.OpAcquire) + fs.Calls(faultstore.OpGet) + fs.Calls(faultstore.OpUpdate)
	b.ReportMetric(float64(calls)/float64(b.N), "store-calls/op")
}

// BenchmarkHold10k holds 10,000 locks in one client and reports, per
// heartbeat period, the store writes, plus the goroutines and heap bytes
// per lock the holding costs. Each iteration is one real heartbeat period.
func BenchmarkHold10k(b *testing.B) {
	const n = 10_000
	const period = 200 * time.Millisecond
	ctx := context.Background()
	fs := faultstore.New(memstore.New(), nil)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	c, err := lock.New(fs, lock.WithOwner("bench"), lock.WithLeaseDuration(4*period),
		lock.WithHeartbeatPeriod(period), lock.WithHeartbeatWorkers(8))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	for i := range n {
		if _, err := c.Acquire(ctx, fmt.Sprint("key-", i)); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	extraGoroutines := runtime.NumGoroutine() - goroutines
	heapPerLock := float64(after.HeapAlloc-before.HeapAlloc) / n

	start, writes := time.Now(), fs.Calls(faultstore.OpUpdate)
	b.ResetTimer()
	for range b.N {
		time.Sleep(period)
	}
	b.StopTimer()
	periods := float64(time.Since(start)) / float64(period)
	b.ReportMetric(float64(extraGoroutines), "goroutines")
	b.ReportMetric(heapPerLock, "heap-B/lock")
	b.ReportMetric(float64(fs.Calls(faultstore.OpUpdate)-writes)/periods/n, "writes/lock/period")
	if held := len(c.Locks()); held != n {
		b.Fatalf("%d of %d locks lost while holding", n-held, n)
	}
}
