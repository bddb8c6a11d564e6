package race

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// takeover: a holder acquires a key, heartbeats for a while and dies (its
// connection is cut: no more heartbeats, no release). A waiter that starts
// at that moment must watch the record unchanged for a lease before it
// may take over; the figure is the time from the death to its acquisition.
func (r *runner) takeover(ctx context.Context) {
	cfg := r.cfg.Takeover
	for _, k := range Kinds {
		res := &Takeover{LeaseMs: ms(cfg.Timings.Lease)}
		var reqs int64
		err := func() error {
			table, err := r.table(ctx, ScenarioTakeover, k)
			if err != nil {
				return err
			}
			for i := range cfg.Runs {
				took, n, err := r.takeoverOnce(ctx, k, table, fmt.Sprintf("dead-%d", i))
				if err != nil {
					return err
				}
				res.Runs = append(res.Runs, ms(took))
				reqs += n
			}
			return nil
		}()
		if err != nil {
			r.fail(ScenarioTakeover, k.Name, err)
			continue
		}
		sorted := slices.Sorted(slices.Values(res.Runs))
		res.Median = sorted[len(sorted)/2]
		res.Max = sorted[len(sorted)-1]
		res.Requests = round(float64(reqs)/float64(len(res.Runs)), 2)
		r.res.Takeover[k.Name] = res
		r.logf("   %-14s takeover %v ms (lease %.0f ms), %.1f waiter requests each",
			k.Name, res.Runs, res.LeaseMs, res.Requests)
	}
}

func (r *runner) takeoverOnce(ctx context.Context, k Kind, table, key string) (time.Duration, int64, error) {
	t := r.cfg.Takeover.Timings
	holder, hc, err := r.instance(k, table, "doomed", t)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.Lease)
		defer cancel()
		_ = holder.Close(cctx) // its connection is cut: fails, as a dead process would
	}()
	waiter, wc, err := r.instance(k, table, "heir", t)
	if err != nil {
		return 0, 0, err
	}
	defer waiter.Close(context.WithoutCancel(ctx))
	if _, err := holder.Acquire(ctx, key); err != nil {
		return 0, 0, fmt.Errorf("holder: %w", err)
	}
	// Let it heartbeat at least once, so the record is a renewed one.
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(t.Heartbeat * 3 / 2):
	}
	hc.Cut()
	died := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 10*t.Lease+5*time.Second)
	defer cancel()
	h, err := waiter.Acquire(wctx, key)
	took := time.Since(died)
	if err != nil {
		return 0, 0, fmt.Errorf("waiter: %w", err)
	}
	n := wc.Total()
	if err := h.Release(ctx); err != nil {
		return 0, 0, fmt.Errorf("waiter release: %w", err)
	}
	return took, n, nil
}
