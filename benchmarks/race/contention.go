package race

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// contention: Workers clients, each its own Contender (its own connection
// pool and counter), loop on one key with no pause between a release and
// the next acquire.
func (r *runner) contention(ctx context.Context) {
	for _, k := range Kinds {
		res, err := r.contentionOf(ctx, k)
		if err != nil {
			r.fail(ScenarioContention, k.Name, err)
			continue
		}
		r.res.Contention[k.Name] = res
		r.logf("   %-14s %.1f acquisitions/s, %.2f requests each, wait p50 %.0f p99 %.0f max %.0f ms (unserved %.0f), per worker %v",
			k.Name, res.PerSecond, res.RequestsPerAcquisition, res.WaitP50, res.WaitP99, res.WaitMax,
			res.UnservedMax, res.PerWorker)
	}
}

func (r *runner) contentionOf(ctx context.Context, k Kind) (*Contention, error) {
	cfg := r.cfg.Contention
	table, err := r.table(ctx, ScenarioContention, k)
	if err != nil {
		return nil, err
	}
	workers := make([]Contender, cfg.Workers)
	counters := make([]*Counter, cfg.Workers)
	for i := range workers {
		c, counter, err := r.instance(k, table, fmt.Sprintf("worker-%d", i), cfg.Timings)
		if err != nil {
			return nil, err
		}
		defer c.Close(context.WithoutCancel(ctx))
		workers[i], counters[i] = c, counter
	}

	var (
		mu       sync.Mutex
		waits    []time.Duration
		perW     = make([]int, cfg.Workers)
		last     = -1 // the worker that held the key last
		handoffs int
		same     int
		unserved time.Duration
		firstErr error
	)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				t := time.Now()
				h, err := w.Acquire(runCtx, "contended")
				wait := time.Since(t)
				if err != nil {
					mu.Lock()
					if runCtx.Err() != nil {
						unserved = max(unserved, wait)
					} else if firstErr == nil {
						firstErr = fmt.Errorf("worker %d: %w", i, err)
					}
					mu.Unlock()
					if runCtx.Err() == nil {
						time.Sleep(cfg.Hold) // an unexpected error: do not spin
					}
					continue
				}
				mu.Lock()
				waits = append(waits, wait)
				perW[i]++
				if last >= 0 {
					handoffs++
					if last == i {
						same++
					}
				}
				last = i
				mu.Unlock()
				time.Sleep(cfg.Hold)
				if err := h.Release(context.WithoutCancel(runCtx)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("worker %d: release: %w", i, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	if len(waits) == 0 {
		return nil, fmt.Errorf("no acquisition in %v", cfg.Duration)
	}
	var total int64
	byOp := map[string]int64{}
	for _, c := range counters {
		total += c.Total()
		for op, n := range c.Counts() {
			byOp[op] += n
		}
	}
	lo, hi := perW[0], perW[0]
	for _, n := range perW {
		lo, hi = min(lo, n), max(hi, n)
	}
	res := &Contention{
		Workers:                cfg.Workers,
		HoldMs:                 ms(cfg.Hold),
		PollMs:                 ms(cfg.Timings.Poll),
		Acquisitions:           len(waits),
		Seconds:                round(elapsed.Seconds(), 3),
		PerSecond:              round(float64(len(waits))/elapsed.Seconds(), 2),
		RequestsPerAcquisition: round(float64(total)/float64(len(waits)), 3),
		ByOp:                   byOp,
		WaitP50:                ms(percentile(waits, 50)),
		WaitP99:                ms(percentile(waits, 99)),
		WaitMax:                ms(percentile(waits, 100)),
		UnservedMax:            ms(unserved),
		PerWorker:              perW,
		Fairness:               round(float64(lo)/float64(hi), 3),
	}
	if handoffs > 0 {
		res.Reacquired = round(float64(same)/float64(handoffs), 3)
	}
	return res, nil
}
