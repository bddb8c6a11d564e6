package race

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The operations the requests scenario counts.
const (
	opAcquireAbsent   = "acquire absent key"
	opHeartbeat       = "heartbeat"
	opRelease         = "release"
	opAcquireReleased = "acquire released key"
	opRefused         = "refused try-acquire (key held)"
)

// requests counts, for each contender, the requests of each operation on
// its own keys: the acquirer and a second client that finds the key held.
func (r *runner) requests(ctx context.Context) {
	r.res.RequestOps = []string{opAcquireAbsent, opAcquireReleased, opHeartbeat, opRelease, opRefused}
	if r.cfg.RequestsWait > 0 {
		r.res.RequestOps = append(r.res.RequestOps, waitOp(r.cfg))
	}
	for _, k := range Kinds {
		ops, err := r.requestsOf(ctx, k)
		if err != nil {
			r.fail(ScenarioRequests, k.Name, err)
			continue
		}
		r.res.Requests[k.Name] = ops
		r.logf("   %-14s %s", k.Name, describeOps(ops, r.res.RequestOps))
	}
}

// waitOp names the wait of the requests scenario with its timings.
func waitOp(cfg Config) string {
	return fmt.Sprintf("wait %v on a held key (poll %v)", cfg.RequestsWait, cfg.RequestTimings.Poll)
}

func describeOps(ops map[string]OpRequests, order []string) string {
	s := ""
	for _, op := range order {
		s += fmt.Sprintf("%s %.3g; ", op, ops[op].Requests)
	}
	return s
}

func (r *runner) requestsOf(ctx context.Context, k Kind) (map[string]OpRequests, error) {
	table, err := r.table(ctx, ScenarioRequests, k)
	if err != nil {
		return nil, err
	}
	t := r.cfg.RequestTimings
	a, ca, err := r.instance(k, table, "alice", t)
	if err != nil {
		return nil, err
	}
	defer a.Close(context.WithoutCancel(ctx))
	b, cb, err := r.instance(k, table, "bob", t)
	if err != nil {
		return nil, err
	}
	defer b.Close(context.WithoutCancel(ctx))

	sums := map[string]Snapshot{}
	counts := map[string]int{}
	measure := func(op string, c *Counter, fn func() error) error {
		before := c.Snapshot()
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		d := c.Snapshot().Sub(before)
		s := sums[op]
		s.Total += d.Total
		if s.ByOp == nil {
			s.ByOp = map[string]int64{}
		}
		for o, n := range d.ByOp {
			s.ByOp[o] += n
		}
		sums[op] = s
		counts[op]++
		return nil
	}
	for i := range r.cfg.Requests {
		key := fmt.Sprintf("req-%d", i)
		var h Held
		steps := []struct {
			op string
			c  *Counter
			fn func() error
		}{
			{opAcquireAbsent, ca, func() (err error) { h, err = a.Acquire(ctx, key); return err }},
			{opHeartbeat, ca, func() error { return h.Heartbeat(ctx) }},
			{opRelease, ca, func() error { return h.Release(ctx) }},
			{opAcquireReleased, ca, func() (err error) { h, err = a.Acquire(ctx, key); return err }},
			{opRefused, cb, func() error {
				_, err := b.TryAcquire(ctx, key)
				if errors.Is(err, ErrBusy) {
					return nil
				}
				return fmt.Errorf("want the key held, got %v", err)
			}},
		}
		for _, s := range steps {
			if err := measure(s.op, s.c, s.fn); err != nil {
				return nil, err
			}
		}
		if i == 0 && r.cfg.RequestsWait > 0 {
			// One waiter watches the held key for RequestsWait: its
			// first attempt, then one look per poll.
			err := measure(waitOp(r.cfg), cb, func() error {
				wctx, cancel := context.WithTimeout(ctx, r.cfg.RequestsWait)
				defer cancel()
				_, err := b.Acquire(wctx, key)
				if wctx.Err() != nil && ctx.Err() == nil {
					return nil
				}
				return fmt.Errorf("want the wait to time out, got %v", err)
			})
			if err != nil {
				return nil, err
			}
		}
		if err := h.Release(ctx); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
	}
	out := map[string]OpRequests{}
	for op, s := range sums {
		n := float64(counts[op])
		o := OpRequests{Requests: round(float64(s.Total)/n, 2), ByOp: map[string]float64{}}
		for dop, v := range s.ByOp {
			o.ByOp[dop] = round(float64(v)/n, 2)
		}
		out[op] = o
	}
	return out, nil
}

// sequential: one client acquires and releases one key as fast as it can.
// The contenders take turns in Rounds, so a slow spell of the machine
// does not fall on one of them only.
func (r *runner) sequential(ctx context.Context) {
	type state struct {
		c       Contender
		counter *Counter
		cycles  int
		elapsed time.Duration
		lat     []time.Duration
		reqs    int64
		failed  bool
	}
	states := map[string]*state{}
	for _, k := range Kinds {
		table, err := r.table(ctx, ScenarioSequential, k)
		if err != nil {
			r.fail(ScenarioSequential, k.Name, err)
			continue
		}
		c, counter, err := r.instance(k, table, "seq", r.cfg.SequentialTiming)
		if err != nil {
			r.fail(ScenarioSequential, k.Name, err)
			continue
		}
		defer c.Close(context.WithoutCancel(ctx))
		states[k.Name] = &state{c: c, counter: counter}
	}
	rounds := max(1, r.cfg.Rounds)
	slice := r.cfg.Sequential / time.Duration(rounds)
	for round := range rounds {
		for i := range Kinds {
			k := Kinds[(i+round)%len(Kinds)]
			s := states[k.Name]
			if s == nil || s.failed || ctx.Err() != nil {
				continue
			}
			before := s.counter.Total()
			start := time.Now()
			for time.Since(start) < slice {
				t := time.Now()
				h, err := s.c.Acquire(ctx, "seq")
				if err == nil {
					err = h.Release(ctx)
				}
				if err != nil {
					if !ctxEnded(ctx, err) {
						r.fail(ScenarioSequential, k.Name, err)
					}
					s.failed = true
					break
				}
				s.lat = append(s.lat, time.Since(t))
				s.cycles++
			}
			s.elapsed += time.Since(start)
			s.reqs += s.counter.Total() - before
		}
	}
	for _, k := range Kinds {
		s := states[k.Name]
		if s == nil || s.failed || s.cycles == 0 {
			continue
		}
		res := &Sequential{
			Cycles:           s.cycles,
			Seconds:          round(s.elapsed.Seconds(), 3),
			CyclesPerSecond:  round(float64(s.cycles)/s.elapsed.Seconds(), 1),
			RequestsPerCycle: round(float64(s.reqs)/float64(s.cycles), 3),
			P50:              ms(percentile(s.lat, 50)),
			P99:              ms(percentile(s.lat, 99)),
		}
		r.res.Sequential[k.Name] = res
		r.logf("   %-14s %.0f cycles/s, %.2f requests/cycle, p50 %.2f ms, p99 %.2f ms",
			k.Name, res.CyclesPerSecond, res.RequestsPerCycle, res.P50, res.P99)
	}
}
