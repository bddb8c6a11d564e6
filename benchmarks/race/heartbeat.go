package race

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// acquirers is how many goroutines acquire the locks of a heartbeat case.
const acquirers = 8

// heartbeat: for each case, one client of each contender acquires Locks
// keys and holds them for Hold at the case's heartbeat period and lease.
// Whether each lock kept its lease is judged from the wire (Timeline);
// whether its loss was reported is asked of the library (Held.Lost).
func (r *runner) heartbeat(ctx context.Context) {
	for _, hc := range r.cfg.Heartbeat {
		res := &HeartbeatResult{Case: hc.Name(), Locks: hc.Locks, HeartbeatMs: ms(hc.Heartbeat),
			LeaseMs: ms(hc.Lease), HoldMs: ms(hc.Hold), Contenders: map[string]*HeartbeatFigure{}}
		for _, k := range Kinds {
			if ctx.Err() != nil {
				break
			}
			fig, err := r.heartbeatOf(ctx, k, hc)
			if err != nil {
				r.fail(ScenarioHeartbeat, k.Name+" "+hc.Name(), err)
				continue
			}
			res.Contenders[k.Name] = fig
			r.logf("   %-22s %-14s acquired %d in %.1fs, kept %d, lost %d (reported %d, silent %d, false alarms %d), %.0f requests/s, %.2f writes/lock/period",
				hc.Name(), k.Name, fig.Acquired, fig.AcquireSeconds, fig.Kept, fig.Lost, fig.Reported, fig.Silent,
				fig.FalseAlarms, fig.RequestsPerSec, fig.WritesPerPeriod)
		}
		r.res.Heartbeat = append(r.res.Heartbeat, res)
	}
}

func (r *runner) heartbeatOf(ctx context.Context, k Kind, hc HeartbeatCase) (*HeartbeatFigure, error) {
	table, err := r.table(ctx, ScenarioHeartbeat, k)
	if err != nil {
		return nil, err
	}
	c, counter, err := r.instance(k, table, "keeper",
		Timings{Lease: hc.Lease, Heartbeat: hc.Heartbeat, Poll: time.Second})
	if err != nil {
		return nil, err
	}
	closed := false
	closeIt := func() {
		if closed {
			return
		}
		closed = true
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = c.Close(cctx) // releases what is held; some releases fail on lost locks
	}
	defer closeIt()
	tl := NewTimeline(hc.Lease)
	counter.Watch(tl)

	keys := make([]string, hc.Locks)
	held := make([]Held, hc.Locks)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(hc.Locks)*5*time.Millisecond)
	defer cancel()
	start := time.Now()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     int
	)
	for range acquirers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= hc.Locks || actx.Err() != nil {
					return
				}
				keys[i] = fmt.Sprintf("hb-%06d", i)
				h, err := c.TryAcquire(actx, keys[i])
				if err != nil {
					mu.Lock()
					if firstErr == nil && !ctxEnded(actx, err) {
						firstErr = fmt.Errorf("acquire %s: %w", keys[i], err)
					}
					mu.Unlock()
					continue
				}
				held[i] = h
			}
		})
	}
	wg.Wait()
	fig := &HeartbeatFigure{AcquireSeconds: round(time.Since(start).Seconds(), 2)}
	if firstErr != nil && errors.Is(firstErr, ErrBusy) {
		return nil, firstErr // a fresh table: nobody else holds these keys
	}

	before := counter.Snapshot()
	holdStart := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(hc.Hold):
	}
	end := time.Now()
	lapsed, _ := tl.Lapsed(end)
	sent := counter.Snapshot().Sub(before)
	for i, h := range held {
		if h == nil {
			continue
		}
		fig.Acquired++
		lost, reported := lapsed[keys[i]], h.Lost()
		switch {
		case lost && reported:
			fig.Lost++
			fig.Reported++
		case lost:
			fig.Lost++
			fig.Silent++
		case reported:
			fig.FalseAlarms++
		}
	}
	fig.Kept = fig.Acquired - fig.Lost
	holdFor := end.Sub(holdStart)
	fig.RequestsPerSec = round(float64(sent.Total)/holdFor.Seconds(), 1)
	if fig.Acquired > 0 {
		writes := sent.ByOp["UpdateItem"] + sent.ByOp["PutItem"]
		periods := holdFor.Seconds() / hc.Heartbeat.Seconds()
		fig.WritesPerPeriod = round(float64(writes)/float64(fig.Acquired)/periods, 3)
	}
	if fig.Acquired == 0 {
		return nil, fmt.Errorf("no lock acquired: %v", firstErr)
	}
	closeIt()
	return fig, nil
}
