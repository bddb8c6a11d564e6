package race

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

var initTesting sync.Once

// benchmark runs fn under testing.Benchmark for about d. Outside a test
// binary the testing flags must be registered first; inside one this sets
// the binary's -test.benchtime, which only benchmarks read.
func benchmark(d time.Duration, fn func(b *testing.B)) (testing.BenchmarkResult, error) {
	initTesting.Do(testing.Init)
	if err := flag.Set("test.benchtime", d.String()); err != nil {
		return testing.BenchmarkResult{}, err
	}
	return testing.Benchmark(fn), nil
}

// memstore measures the engine without a network: acquire+release on
// memstore next to memstore's own two calls for the same cycle, and the heap
// and goroutines that holding many locks costs.
func (r *runner) memstore(ctx context.Context) {
	cfg := r.cfg.Memstore
	m := &Memstore{}
	var engine, store []testing.BenchmarkResult
	var benchErr error
	for range max(1, cfg.Runs) {
		if ctx.Err() != nil {
			return
		}
		e, err := benchmark(cfg.BenchTime, func(b *testing.B) { benchEngine(b, &benchErr) })
		if err != nil {
			r.fail(ScenarioMemstore, Leaselock, err)
			return
		}
		s, _ := benchmark(cfg.BenchTime, func(b *testing.B) { benchStore(b, &benchErr) })
		if benchErr != nil {
			r.fail(ScenarioMemstore, Leaselock, benchErr)
			return
		}
		engine, store = append(engine, e), append(store, s)
	}
	e, s := medianBench(engine), medianBench(store)
	m.EngineNsPerOp = float64(e.NsPerOp())
	m.EngineAllocsPerOp = e.AllocsPerOp()
	m.EngineBytesPerOp = e.AllocedBytesPerOp()
	m.StoreNsPerOp = float64(s.NsPerOp())
	m.StoreAllocsPerOp = s.AllocsPerOp()
	m.EngineOverStore = ratio(m.EngineNsPerOp, m.StoreNsPerOp)

	if cfg.HeldLocks > 0 {
		heap, goroutines, err := heldLocks(ctx, cfg.HeldLocks)
		if err != nil {
			r.fail(ScenarioMemstore, Leaselock, err)
		} else {
			m.HeldLocks, m.HeapPerLock, m.Goroutines = cfg.HeldLocks, round(heap, 1), goroutines
		}
	}
	r.res.Memstore = m
	r.logf("   engine acquire+release %.0f ns/op, %d allocs/op, %d B/op; store's two calls %.0f ns/op, %d allocs/op (engine/store %.1fx); %d held locks: %.0f B heap each, %d goroutines",
		m.EngineNsPerOp, m.EngineAllocsPerOp, m.EngineBytesPerOp, m.StoreNsPerOp, m.StoreAllocsPerOp,
		m.EngineOverStore, m.HeldLocks, m.HeapPerLock, m.Goroutines)
}

func medianBench(rs []testing.BenchmarkResult) testing.BenchmarkResult {
	s := slices.SortedFunc(slices.Values(rs), func(a, b testing.BenchmarkResult) int {
		return int(a.NsPerOp() - b.NsPerOp())
	})
	return s[len(s)/2]
}

// benchEngine: the engine's acquire+release cycle on one key.
func benchEngine(b *testing.B, fail *error) {
	ctx := context.Background()
	c, err := lock.New(memstore.New(), lock.WithOwner("bench"))
	if err != nil {
		*fail = err
		return
	}
	defer c.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		l, err := c.Acquire(ctx, "k")
		if err == nil {
			err = l.Release(ctx)
		}
		if err != nil {
			*fail = err
			return
		}
	}
}

// benchStore: the two store calls the engine makes for that cycle (an
// acquire of a free key, a release by marking), called directly.
func benchStore(b *testing.B, fail *error) {
	ctx := context.Background()
	st := memstore.New()
	key := backend.Key{Partition: "k"}
	acquire := backend.AcquireRequest{Record: backend.Record{Key: key, Owner: "bench", Version: "v1",
		LeaseDuration: lock.DefaultLeaseDuration}}
	release := backend.Record{Key: key, Owner: "bench", Version: "v2", LeaseDuration: lock.DefaultLeaseDuration,
		Released: true}
	b.ReportAllocs()
	for b.Loop() {
		_, err := st.Acquire(ctx, acquire)
		if err == nil {
			_, err = st.Update(ctx, release, "v1")
		}
		if err != nil {
			*fail = err
			return
		}
	}
}

// heldLocks acquires n locks in one client on memstore, with the default
// lease and heartbeat, and returns the heap they take per lock (store
// records included) and the goroutines the client runs meanwhile.
func heldLocks(ctx context.Context, n int) (float64, int, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	c, err := lock.New(memstore.New(), lock.WithOwner("holder"))
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	for i := range n {
		if _, err := c.Acquire(ctx, fmt.Sprintf("held-%07d", i)); err != nil {
			return 0, 0, err
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(c.Locks()); got != n {
		return 0, 0, fmt.Errorf("%d of %d locks held", got, n)
	}
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n),
		runtime.NumGoroutine() - goroutines, nil
}
