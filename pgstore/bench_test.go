package pgstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// BenchmarkCycle measures acquire+release cycles against the private
// cluster and reports cycles/s and round trips per cycle (writes counted on
// the connection). Run with
//
//	go test -run '^$' -bench Cycle -benchtime 3s ./
//
// store: one key, Store.Acquire then a release by Update, sequentially;
// engine: lock.Client.Acquire then Lock.Release on one key, as an
// application would, which adds the engine's own pacing (docs/benchmarks.md,
// fair hand-off);
// store-parallel: GOMAXPROCS goroutines, each on its own key.
func BenchmarkCycle(b *testing.B) {
	addr := needCluster(b)
	b.Run("store", func(b *testing.B) {
		table := freshTable()
		newStoreOn(b, addr, table, true)
		var trips atomic.Int64
		s := newStoreOn(b, addr, table, false, countingDial(&trips))
		ctx := context.Background()
		key := backend.Key{Partition: "bench"}
		cycle := func(i int) {
			got, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "bench", fmt.Sprintf("a%d", i))})
			require.NoError(b, err)
			rel := got.Record
			rel.Version, rel.Released = fmt.Sprintf("r%d", i), true
			_, err = s.Update(ctx, rel, got.Record.Version)
			require.NoError(b, err)
		}
		cycle(-1) // prepare the statements
		trips.Store(0)
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			cycle(i)
		}
		report(b, start, trips.Load())
	})
	b.Run("engine", func(b *testing.B) {
		table := freshTable()
		newStoreOn(b, addr, table, true)
		var trips atomic.Int64
		s := newStoreOn(b, addr, table, false, countingDial(&trips))
		c, err := lock.New(s, lock.WithOwner("bench"), lock.WithLeaseDuration(10*time.Second))
		require.NoError(b, err)
		ctx := context.Background()
		cycle := func() {
			l, err := c.Acquire(ctx, "bench")
			require.NoError(b, err)
			require.NoError(b, l.Release(ctx))
		}
		cycle()
		trips.Store(0)
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			cycle()
		}
		report(b, start, trips.Load())
		b.StopTimer()
		require.NoError(b, c.Close(ctx))
	})
	b.Run("store-parallel", func(b *testing.B) {
		table := freshTable()
		s := newStoreOn(b, addr, table, true)
		ctx := context.Background()
		var n atomic.Int64
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			key := backend.Key{Partition: fmt.Sprintf("bench-%d", n.Add(1))}
			for i := 0; pb.Next(); i++ {
				got, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "bench", fmt.Sprintf("a%d", i))})
				if err != nil {
					b.Error(err)
					return
				}
				rel := got.Record
				rel.Version, rel.Released = fmt.Sprintf("r%d", i), true
				if _, err := s.Update(ctx, rel, got.Record.Version); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b, start, 0)
	})
}

func report(b *testing.B, start time.Time, trips int64) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cycles/s")
	if trips > 0 {
		b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/cycle")
	}
}

// BenchmarkHeldLocks holds many locks on one client for five seconds with
// short leases and reports how many it kept (a lost lock closes Done) and
// the heartbeat writes per lock per period: the PostgreSQL counterpart of
// the heartbeat table in docs/benchmarks.md. It runs once whatever b.N is:
//
//	go test -run '^$' -bench HeldLocks -benchtime 1x ./
func BenchmarkHeldLocks(b *testing.B) {
	addr := needCluster(b)
	for _, c := range []struct {
		locks       int
		beat, lease time.Duration
	}{
		{1000, 300 * time.Millisecond, time.Second},
		{1000, time.Second, 3 * time.Second},
		{3000, 300 * time.Millisecond, time.Second},
	} {
		b.Run(fmt.Sprintf("locks=%d/beat=%v/lease=%v", c.locks, c.beat, c.lease), func(b *testing.B) {
			table := freshTable()
			newStoreOn(b, addr, table, true)
			var trips atomic.Int64
			s := newStoreOn(b, addr, table, false, countingDial(&trips), func(cfg *pgxpool.Config) { cfg.MaxConns = 8 })
			cl, err := lock.New(s, lock.WithOwner("bench"), lock.WithLeaseDuration(c.lease),
				lock.WithHeartbeatPeriod(c.beat))
			require.NoError(b, err)
			ctx := context.Background()
			held := make([]*lock.Lock, c.locks)
			for i := range held {
				held[i], err = cl.TryAcquire(ctx, fmt.Sprintf("held-%d", i))
				require.NoError(b, err)
			}
			const hold = 5 * time.Second
			trips.Store(0)
			b.ResetTimer()
			time.Sleep(hold)
			b.StopTimer()
			writes := trips.Load()
			kept := 0
			for _, l := range held {
				select {
				case <-l.Done():
				default:
					kept++
				}
			}
			b.ReportMetric(float64(kept), "kept")
			b.ReportMetric(float64(writes)/float64(c.locks)/(float64(hold)/float64(c.beat)), "writes/lock/period")
			require.NoError(b, cl.Close(ctx))
		})
	}
}
