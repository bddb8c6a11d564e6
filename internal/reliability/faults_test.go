package reliability

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/internal/reliability/contention"
	"github.com/leaselock/leaselock/memstore"
)

// guardedFaults is a faultstore whose guarded writes go straight to the
// memstore underneath (faultstore has no GuardedWriter of its own), so the
// fenced resource keeps checking tokens while every lock call is faulty.
type guardedFaults struct {
	*faultstore.Store
	mem *memstore.Store
}

func (g guardedFaults) WriteGuarded(ctx context.Context, gd backend.Guard, ops any) error {
	return g.mem.WriteGuarded(ctx, gd, ops)
}

// allFaultRates are the faults of the fault runs: 12% of calls fail
// (unavailable; applied but reported ambiguous; lost before being applied;
// applied with the response dropped and the retry refused, as the SDK's
// own retry is) and 2% more are delayed by longer than the heartbeat
// period. Reads fail too (as unavailable) and are delayed.
func allFaultRates(beat time.Duration) faultstore.Rates {
	return faultstore.Rates{
		Unavailable: 0.04, Ambiguous: 0.03, LostBeforeApply: 0.02, DroppedResponse: 0.03,
		Latency: 0.02, Delay: beat + beat*3/5,
	}
}

var faultKinds = []faultstore.Kind{faultstore.Unavailable, faultstore.Ambiguous, faultstore.LostBeforeApply,
	faultstore.DroppedResponse, faultstore.Latency}

// TestContentionWithFaults runs the contention workload in virtual time with
// every client's store calls faulty (see allFaultRates). Nothing unreported
// may overlap; every loss must be reported (Done, Err, OnLost once); and
// once every holder is gone, a fresh client must get every key within one
// lease plus one poll.
func TestContentionWithFaults(t *testing.T) {
	f := &faultRun{tm: virtualTiming, rates: allFaultRates(virtualTiming.beat),
		target: pick[int64](30_000, 200_000), keys: 16, clients: 8, workers: 3, seed: 2}
	start := time.Now()
	synctest.Test(t, f.run)
	f.elapsed = time.Since(start)
	f.report(t, "memstore+all faults (virtual time)")
}

// TestContentionWithFaultsRealTime is the same in real time with
// sub-second leases, where the scheduling of real goroutines, not virtual
// time, decides what races what.
func TestContentionWithFaultsRealTime(t *testing.T) {
	t.Parallel()
	f := &faultRun{tm: fastTiming, rates: allFaultRates(fastTiming.beat),
		target: pick[int64](3_000, 20_000), keys: 24, clients: 6, workers: 3, seed: 3}
	start := time.Now()
	f.run(t)
	f.elapsed = time.Since(start)
	f.report(t, "memstore+all faults (real time)")
	require.Positive(t, f.injected[faultstore.Latency])
}

// faultRun is one run of the workload through faultstore.
type faultRun struct {
	tm                     timing
	rates                  faultstore.Rates
	target                 int64
	keys, clients, workers int
	seed                   uint64
	w                      *contention.Workload
	resource               *contention.FencedResource
	injected               map[faultstore.Kind]int
	calls                  int
	elapsed                time.Duration
}

func (f *faultRun) run(t *testing.T) {
	mem := memstore.New()
	f.resource = contention.NewFencedResource()
	w := &contention.Workload{
		Keys: contention.Keys("faulty", f.keys), Workers: f.workers, Target: f.target,
		HoldTime:  contention.UniformHold(f.tm.lease/10, 2*f.tm.lease, 0.05),
		StallRate: 0.01, StallMax: f.tm.lease / 2,
		Pause: f.tm.poll, TryRate: 0.2, DoRate: 0.1, BeatRate: 0.05,
		Resource: f.resource, History: contention.NewHistory(nil), Seed: f.seed, Faults: true,
	}
	f.w = w
	var stores []*faultstore.Store
	for i := range f.clients {
		fs := faultstore.New(mem, nil)
		fs.SetRates(f.rates, f.seed*100+uint64(i))
		stores = append(stores, fs)
		w.Clients = append(w.Clients, f.tm.client(t, guardedFaults{fs, mem}, fmt.Sprint("client-", i)))
	}
	// Once the target is reached every holder vanishes at once, mid-hold:
	// all of them are cut off from the store.
	f.injected = map[faultstore.Kind]int{}
	w.AtTarget = func() {
		for i, fs := range stores {
			for _, k := range faultKinds {
				f.injected[k] += fs.Injected(k)
			}
			for _, op := range []faultstore.Op{faultstore.OpGet, faultstore.OpAcquire, faultstore.OpUpdate, faultstore.OpDelete} {
				f.calls += fs.Calls(op)
			}
			fs.SetRates(faultstore.Rates{Unavailable: 1}, uint64(i))
		}
	}
	w.Run(context.Background())
	requireNoneStuck(t, mem, w.Keys, f.tm)

	for _, c := range w.Clients {
		_ = c.Close(context.Background()) // cut off: releases fail and are reported
	}
	w.CheckEnded(t)
	contention.RequireClean(t, w.History)
	require.Empty(t, f.resource.Stale())
}

func (f *faultRun) report(t *testing.T, name string) {
	t.Helper()
	f.w.Report(t, name, f.elapsed)
	total := 0
	for _, k := range faultKinds {
		total += f.injected[k]
	}
	failed := total - f.injected[faultstore.Latency]
	t.Logf("%s: faults injected: %d in %d store calls (%.1f%% failed): %v", name, total, f.calls,
		100*float64(failed)/float64(f.calls), f.injected)
	require.GreaterOrEqual(t, f.w.Result().Acquisitions, f.target)
	for _, k := range faultKinds {
		if k != faultstore.Latency || f.rates.Latency > 0 {
			require.Positive(t, f.injected[k], "no %v fault was injected", k)
		}
	}
	require.GreaterOrEqual(t, float64(failed)/float64(f.calls), 0.10, "at least 10%% of calls must fail")
}

// requireNoneStuck checks that a fresh client acquires every key within one
// lease plus one poll period once the old holders are gone (plus one more
// poll of slack for requests in real time).
func requireNoneStuck(t *testing.T, s backend.Store, keys []string, tm timing) {
	t.Helper()
	fresh := tm.client(t, s, "fresh")
	defer fresh.Close(context.Background())
	contention.RequireNoneStuck(t, fresh, keys, tm.lease, 2*tm.poll)
}
