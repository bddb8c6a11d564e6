package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// pace records how slow the machine was during a remote case: the slowest
// store call, and the longest a goroutine that sleeps in short ticks was
// kept from running past its tick. It is the evidence lockEnv.timely needs
// before it puts a missed timing down to the machine rather than the
// engine.
type pace struct {
	mu          sync.Mutex
	slowestCall time.Duration
	slowestOp   string
	updateTime  time.Duration // total time spent in Update calls
	lateTick    time.Duration
	lateAnswers int
}

func (p *pace) call(op string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d > p.slowestCall {
		p.slowestCall, p.slowestOp = d, op
	}
	if op == "Update" {
		p.updateTime += d
	}
}

func (p *pace) sawLate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lateAnswers++
}

// slow reports whether a store call or the scheduling of a goroutine took
// at least d, or an acquire was answered after its lease.
func (p *pace) slow(d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slowestCall >= d || p.lateTick >= d || p.lateAnswers > 0
}

// updates returns the total time spent in Update calls so far.
func (p *pace) updates() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.updateTime
}

func (p *pace) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("slowest store call %v", p.slowestCall.Round(time.Millisecond))
	if p.slowestOp != "" {
		s += " (" + p.slowestOp + ")"
	}
	s += fmt.Sprintf(", goroutine scheduled up to %v late", p.lateTick.Round(time.Millisecond))
	if p.lateAnswers > 0 {
		s += fmt.Sprintf(", %d acquire(s) answered after the lease", p.lateAnswers)
	}
	return s
}

// watchScheduling measures, until t ends, how late a goroutine sleeping in
// 5 ms ticks wakes up: a loaded machine delays the engine's timers and
// heartbeat goroutines the same way.
func (p *pace) watchScheduling(t *testing.T) {
	const tick = 5 * time.Millisecond
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(tick)
		defer timer.Stop()
		for {
			start := time.Now()
			timer.Reset(tick)
			select {
			case <-stop:
				return
			case <-timer.C:
			}
			if late := time.Since(start) - tick; late > 0 {
				p.mu.Lock()
				p.lateTick = max(p.lateTick, late)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// timed wraps a store so that pace sees the duration of every call. It
// keeps the store's guarded writes and commit-and-release, and only those.
func timed(s backend.Store, p *pace) backend.Store {
	ts := &timedStore{inner: s, p: p}
	_, guards := s.(backend.GuardedWriter)
	_, commits := s.(backend.ReleaseCommitter)
	switch {
	case guards && commits:
		return struct {
			*timedGuardedStore
			timedCommitter
		}{&timedGuardedStore{ts}, timedCommitter{ts}}
	case guards:
		return &timedGuardedStore{ts}
	case commits:
		return struct {
			*timedStore
			timedCommitter
		}{ts, timedCommitter{ts}}
	}
	return ts
}

type timedStore struct {
	inner backend.Store
	p     *pace
}

func (s *timedStore) since(op string, start time.Time) { s.p.call(op, time.Since(start)) }

func (s *timedStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	defer s.since("Get", time.Now())
	return s.inner.Get(ctx, key)
}

func (s *timedStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	defer s.since("Acquire", time.Now())
	return s.inner.Acquire(ctx, req)
}

func (s *timedStore) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	defer s.since("Update", time.Now())
	return s.inner.Update(ctx, rec, expect)
}

func (s *timedStore) Delete(ctx context.Context, key backend.Key, expect string) error {
	defer s.since("Delete", time.Now())
	return s.inner.Delete(ctx, key, expect)
}

type timedGuardedStore struct{ *timedStore }

func (s *timedGuardedStore) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	defer s.since("WriteGuarded", time.Now())
	return s.inner.(backend.GuardedWriter).WriteGuarded(ctx, g, ops)
}

type timedCommitter struct{ s *timedStore }

func (c timedCommitter) CommitRelease(ctx context.Context, req backend.CommitReleaseRequest) error {
	defer c.s.since("CommitRelease", time.Now())
	return c.s.inner.(backend.ReleaseCommitter).CommitRelease(ctx, req)
}

var (
	_ backend.Store            = (*timedStore)(nil)
	_ backend.GuardedWriter    = (*timedGuardedStore)(nil)
	_ backend.ReleaseCommitter = timedCommitter{}
)
