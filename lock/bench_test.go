package lock_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// countingStore counts store calls without allocating, so the benchmark
// sees the engine's own allocations.
type countingStore struct {
	*memstore.Store
	calls atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, k backend.Key) (backend.Record, error) {
	s.calls.Add(1)
	return s.Store.Get(ctx, k)
}

func (s *countingStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	s.calls.Add(1)
	return s.Store.Acquire(ctx, req)
}

func (s *countingStore) Update(ctx context.Context, rec backend.Record, v string) (backend.Record, error) {
	s.calls.Add(1)
	return s.Store.Update(ctx, rec, v)
}

// BenchmarkAcquireRelease measures the engine's cost per lock cycle on the
// in-memory store, and the store calls it makes. Compare with
// BenchmarkStoreFloor, the same two store calls made directly.
func BenchmarkAcquireRelease(b *testing.B) {
	s := &countingStore{Store: memstore.New()}
	benchCycle(b, s)
	b.ReportMetric(float64(s.calls.Load())/float64(b.N), "store-calls/op")
}

// benchCycle acquires and releases one key on s in a loop, with a client
// made with opts.
func benchCycle(b *testing.B, s backend.Store, opts ...lock.Option) {
	ctx := context.Background()
	c, err := lock.New(s, append(opts, lock.WithOwner("bench"))...)
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
}

// BenchmarkStoreFloor is the physical floor of a lock cycle on memstore:
// the acquire and the release write, made directly, with records shaped as
// the engine writes them.
func BenchmarkStoreFloor(b *testing.B) {
	ctx := context.Background()
	s := memstore.New()
	key := backend.Key{Partition: "k"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		v1, v2 := versions[i%len(versions)], versions[(i+1)%len(versions)]
		got, err := s.Acquire(ctx, backend.AcquireRequest{Record: backend.Record{Key: key, Owner: "bench", Version: v1,
			LeaseDuration: lock.DefaultLeaseDuration}})
		if err != nil {
			b.Fatal(err)
		}
		rel := got.Record
		rel.Version, rel.Released = v2, true
		if _, err := s.Update(ctx, rel, v1); err != nil {
			b.Fatal(err)
		}
	}
}

var versions = func() []string {
	v := make([]string, 64)
	for i := range v {
		v[i] = fmt.Sprintf("%036d", i)
	}
	return v
}()

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

// BenchmarkHoldMillion holds 1,000,000 locks in one client on memstore
// with the default lease and heartbeat, for three leases (a minute), and
// reports the locks lost (must be 0), the goroutines, and the heap per
// held lock (engine and store together) after heartbeats have run. It is
// long, so it runs only with LEASELOCK_BENCH_MILLION=1:
//
//	LEASELOCK_BENCH_MILLION=1 go test -run '^$' -bench HoldMillion -benchtime 1x ./lock/
func BenchmarkHoldMillion(b *testing.B) {
	if os.Getenv("LEASELOCK_BENCH_MILLION") != "1" {
		b.Skip("set LEASELOCK_BENCH_MILLION=1 to hold a million locks for a minute")
	}
	const n = 1_000_000
	ctx := context.Background()
	s := &countingStore{Store: memstore.New()}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	c, err := lock.New(s, lock.WithOwner("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	var lost atomic.Int64
	onLost := lock.OnLost(func(*lock.Lock, error) { lost.Add(1) })
	start := time.Now()
	for i := range n {
		if _, err := c.Acquire(ctx, "key-"+strconv.Itoa(i), onLost); err != nil {
			b.Fatal(err)
		}
	}
	acquired := time.Since(start)
	for range b.N {
		time.Sleep(3 * lock.DefaultLeaseDuration)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(lost.Load()), "lost")
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutines), "goroutines")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/lock")
	b.ReportMetric(float64(acquired.Nanoseconds())/n, "ns/acquire")
	b.ReportMetric(float64(s.calls.Load()-n)/(float64(time.Since(start)-acquired)/float64(time.Second)), "beats/s")
	if lost.Load() != 0 || len(c.Locks()) != n {
		b.Fatalf("%d locks lost, %d held", lost.Load(), len(c.Locks()))
	}
}
