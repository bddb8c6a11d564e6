package lock

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"time"
)

// The scheduler drives every held lock of a client with a fixed number of
// goroutines: one loop that keeps timed events in a heap, and a pool of
// workers that perform heartbeat writes. Danger and expiry events carry the
// lock's renewal generation; a renewal makes older ones stale.

type eventKind int

const (
	evBeat   eventKind = iota // time to renew
	evDanger                  // safe time passed without a renewal
	evExpire                  // local lease ended without a renewal
)

type event struct {
	at   time.Time
	kind eventKind
	l    *Lock
	gen  uint64
}

type eventHeap []event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = event{}
	*h = old[:len(old)-1]
	return e
}

type scheduler struct {
	c    *Client
	work chan *Lock
	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	events eventHeap
}

func newScheduler(c *Client) *scheduler {
	s := &scheduler{c: c, work: make(chan *Lock), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.wg.Add(1 + c.cfg.workers)
	go s.loop()
	for range c.cfg.workers {
		go s.worker()
	}
	return s
}

// close stops the loop and the workers and waits for them.
func (s *scheduler) close() {
	close(s.stop)
	s.wg.Wait()
}

// add schedules a newly acquired lock.
func (s *scheduler) add(l *Lock) {
	l.mu.Lock()
	at, gen := l.renewedAt, l.gen
	l.mu.Unlock()
	s.push(event{at: at.Add(s.jitter(s.c.cfg.heartbeat)), kind: evBeat, l: l})
	s.pushLease(l, at, gen)
}

// pushLease schedules the danger and expiry events of one renewal.
func (s *scheduler) pushLease(l *Lock, renewedAt time.Time, gen uint64) {
	if l.opts.onDanger != nil {
		s.push(event{at: renewedAt.Add(l.opts.safeTime), kind: evDanger, l: l, gen: gen})
	}
	s.push(event{at: renewedAt.Add(s.c.cfg.localLease(s.c.cfg.lease)), kind: evExpire, l: l, gen: gen})
}

// jitter spreads heartbeats of locks taken together over ±10% of d.
func (s *scheduler) jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

func (s *scheduler) push(e event) {
	s.mu.Lock()
	heap.Push(&s.events, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) loop() {
	defer s.wg.Done()
	defer close(s.work)
	clk := s.c.clk
	timer := clk.Timer(time.Hour)
	defer timer.Stop()
	var ready []*Lock
	var nextSend time.Time // rate cap: no dispatch before this
	for {
		now := clk.Now()
		var fire []event
		var due []event
		s.mu.Lock()
		for len(s.events) > 0 && !s.events[0].at.After(now) {
			e := heap.Pop(&s.events).(event)
			if e.kind == evBeat {
				ready = append(ready, e.l)
				due = append(due, e)
			} else {
				fire = append(fire, e)
			}
		}
		wait := time.Hour
		if len(s.events) > 0 {
			wait = s.events[0].at.Sub(now)
		}
		s.mu.Unlock()
		for _, e := range due {
			e.l.setBeatDue(e.at) // an expiry meanwhile says the queue was behind
		}
		for _, e := range fire {
			s.c.leaseEvent(e)
		}

		var send chan *Lock
		var head *Lock
		if len(ready) > 0 {
			if nextSend.After(now) {
				wait = min(wait, nextSend.Sub(now))
			} else {
				send, head = s.work, ready[0]
			}
		}
		timer.Reset(wait)
		select {
		case send <- head:
			ready[0] = nil
			ready = ready[1:]
			if r := s.c.cfg.rate; r > 0 {
				nextSend = maxTime(nextSend, now).Add(time.Duration(float64(time.Second) / r))
			}
		case <-timer.C:
		case <-s.wake:
		case <-s.stop:
			return
		}
	}
}

func (s *scheduler) worker() {
	defer s.wg.Done()
	for l := range s.work {
		s.c.backgroundBeat(l)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
