package contention

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leaselock/leaselock/lock"
)

// Workload is the contention workload: every client runs Workers
// goroutines; each picks a random key, takes it (Acquire, TryAcquire or
// Do), holds it for a while and releases it, until Target acquisitions
// have been made. Some holds stall: their heartbeats stop (MaxHold) while
// the holder goes on holding until it is told it lost the lock, which is
// what a paused or partitioned process looks like to the others.
//
// Set the fields, then call Run once; after it, close the clients and call
// CheckEnded, RequireClean on the History, and Report.
type Workload struct {
	Clients []*lock.Client
	Keys    []string
	Workers int   // goroutines per client
	Target  int64 // acquisitions to make

	HoldTime  func(r *rand.Rand) time.Duration // how long a hold lasts (see UniformHold)
	StallRate float64                          // fraction of holds that stop heartbeating
	StallMax  time.Duration                    // a stalled hold stops renewing within this
	Pause     time.Duration                    // back-off after a failed attempt
	TryRate   float64                          // fraction of attempts that use TryAcquire
	DoRate    float64                          // fraction of attempts that use Do
	BeatRate  float64                          // fraction of holds that also heartbeat with new data
	Resource  Resource                         // when set, every hold writes to it once
	History   *History
	Seed      uint64

	// Cuts, when set, holds one CutStore per client: half the stalled holds
	// are then cut off from the store (every write of that one lock
	// fails, its release after expiry included) instead of stopping their
	// heartbeats with MaxHold, so waiters must take over by watching the
	// record for a whole lease on their own clocks.
	Cuts []*CutStore

	// AtTarget, when set, runs once, as soon as the target is reached and
	// before the workers stop: while they still hold keys.
	AtTarget func()
	once     sync.Once

	// Faults says store errors are expected; without it any error other
	// than the lock's own outcomes is a failure.
	Faults bool

	// Judge, when set, classifies every Stolen report as true (a takeover
	// named a version of that holder) or false.
	Judge *StealJudge

	// LateWrite, when set, makes every stalled hold write once more after
	// it was told it lost the lock, as a paused process that wakes up and
	// carries on would: it waits until the key has a newer tenure (every
	// other time, one of its own client's; or until the run ends), then
	// calls LateWrite, which must write past the engine, through the
	// store's own guard alone (the lock would refuse to send it). The
	// guard must refuse it: a late write that commits after a newer
	// tenure began is a problem, and a Resource that checks tokens sees it
	// too.
	LateWrite func(ctx context.Context, l *lock.Lock) error
	lates     atomic.Int64

	res counters
}

// Run runs the workload until Target acquisitions, or ctx ends.
func (w *Workload) Run(ctx context.Context) {
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for ci, c := range w.Clients {
		for g := range w.Workers {
			rng := rand.New(rand.NewPCG(w.Seed, uint64(ci*1000+g)))
			wg.Go(func() { w.worker(stop, cancel, ci, c, rng) })
		}
	}
	wg.Wait()
}

func (w *Workload) worker(stop context.Context, cancel context.CancelFunc, ci int, c *lock.Client, rng *rand.Rand) {
	for stop.Err() == nil {
		if w.res.acquisitions.Load() >= w.Target {
			if w.AtTarget != nil {
				w.once.Do(w.AtTarget)
			}
			cancel()
			return
		}
		key := w.Keys[rng.IntN(len(w.Keys))]
		switch x := rng.Float64(); {
		case x < w.DoRate:
			w.doOnce(stop, c, key, rng)
		default:
			w.acquireOnce(stop, ci, c, key, rng, x < w.DoRate+w.TryRate)
		}
	}
}

func (w *Workload) acquireOnce(stop context.Context, ci int, c *lock.Client, key string, rng *rand.Rand, try bool) {
	opts := []lock.AcquireOption{lock.OnLost(w.res.onLostCallback)}
	stall := rng.Float64() < w.StallRate
	cut := stall && w.Cuts != nil && rng.IntN(2) == 0
	if stall && !cut {
		opts = append(opts, lock.MaxHold(time.Duration(rng.Int64N(int64(w.StallMax)+1))))
	}
	var l *lock.Lock
	var err error
	if try {
		l, err = c.TryAcquire(stop, key, opts...)
	} else {
		l, err = c.Acquire(stop, key, opts...)
	}
	if err != nil {
		w.acquireFailed(stop, err)
		return
	}
	if try {
		w.res.viaTry.Add(1)
	}
	if stall {
		w.res.stalls.Add(1)
	}
	if cut {
		w.res.cutOff.Add(1)
		w.Cuts[ci].Cut(l)
	}
	hd := w.History.Begin(key, l)
	w.res.acquired(l)
	w.guardedWrite(l, key)
	if !cut && rng.Float64() < w.BeatRate {
		err := l.Heartbeat(context.Background(), lock.WithNewData(fmt.Appendf(nil, "beat-%d", l.Token())))
		w.res.heartbeats.Add(1)
		if err != nil {
			w.countOpErr("heartbeat", err, l)
		}
	}
	d := w.HoldTime(rng)
	if stall {
		d = 24 * time.Hour // hold on until told, or until the run stops
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-l.Done():
	case <-stop.Done():
	}
	timer.Stop()
	if w.endHold(hd, l) {
		if stall {
			w.lateWrite(stop, l, key)
		}
		return
	}
	w.release(l, false)
}

// endHold closes the hold in the history; it reports whether the lock was
// lost (the holder was told), in which case there is nothing to release.
func (w *Workload) endHold(hd *Hold, l *lock.Lock) bool {
	err := l.Err()
	w.History.Finish(hd, err != nil)
	if err == nil {
		return false
	}
	w.res.lost.Add(1)
	w.lossReported(l, err)
	return true
}

func (w *Workload) doOnce(stop context.Context, c *lock.Client, key string, rng *rand.Rand) {
	d := w.HoldTime(rng)
	var held *lock.Lock
	err := c.Do(stop, key, func(ctx context.Context, l *lock.Lock) error {
		held = l
		hd := w.History.Begin(key, l)
		w.res.acquired(l)
		w.res.viaDo.Add(1)
		w.guardedWrite(l, key)
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		w.endHold(hd, l)
		return nil
	}, lock.OnLost(w.res.onLostCallback))
	switch {
	case held == nil:
		if err != nil {
			w.acquireFailed(stop, err)
		}
	case err == nil:
	case errors.Is(err, lock.ErrLockLost):
		if !errors.Is(held.Err(), lock.ErrLockLost) {
			w.res.problem("%s: Do returned %v but Err is %v", key, err, held.Err())
		}
	default:
		// Do's release failed: the lock is still held; release it here.
		w.countOpErr("do-release", err, held)
		if held.Err() == nil {
			w.release(held, true)
		}
	}
}
