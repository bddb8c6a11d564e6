package lock

import (
	"math/rand/v2"
	"sync"
	"time"
)

// The scheduler drives every held lock of a client with a fixed number of
// goroutines: one loop that keeps each held lock once in a heap ordered by
// its next deadline (heartbeat due, danger, expiry), and a pool of workers
// that perform heartbeat writes.
//
// Heartbeats that are due wait in a second heap ordered by the lease they
// protect: earliest expiry first. When the workers or the store cannot keep
// up, the locks closest to losing their lease are renewed first and the
// others' periods stretch, instead of every lock going late together.
//
// A lock leaves both heaps when it ends, so an ended lock is not kept
// reachable by the scheduler.

// slot is a lock's place in the scheduler; guarded by scheduler.mu.
type slot struct {
	index    int32   // position in the deadline heap; -1 when not in it
	ready    int32   // position in the ready heap; -1 when not in it
	at       instant // earliest of the deadlines below
	beatAt   instant // next heartbeat due; zero while one is queued or in flight
	dangerAt instant // zero when no danger notice is pending
	expireAt instant // local lease end
	gen      uint64  // the lock's renewal generation when these were set
}

// job is what a worker does for a lock.
type job struct {
	l     *Lock
	lapse bool // hand back a lapsed lease (best effort) instead of renewing
}

type scheduler struct {
	c    *Client
	work chan job
	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	byTime lockHeap // every held lock, by slot.at
	// wakeAt is when the loop will look at the deadline heap next, at the
	// latest: only a deadline before it needs the loop woken (poke). Most
	// new deadlines are later (a heartbeat period away), so scheduling a
	// lock usually costs no goroutine switch.
	wakeAt instant
	ready  lockHeap // locks whose heartbeat is due, by slot.expireAt
	lapsed []*Lock  // expired locks to hand back when a worker is idle
}

func newScheduler(c *Client) *scheduler {
	s := &scheduler{c: c, work: make(chan job), wake: make(chan struct{}, 1), stop: make(chan struct{}),
		byTime: lockHeap{at: func(l *Lock) instant { return l.slot.at }, pos: func(l *Lock) *int32 { return &l.slot.index }},
		ready:  lockHeap{at: func(l *Lock) instant { return l.slot.expireAt }, pos: func(l *Lock) *int32 { return &l.slot.ready }},
	}
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

// add schedules a lock acquired by a write sent at at, its renewal
// generation gen. A renewal may have placed it first (a Heartbeat on a
// lock found with Locks before Acquire returned): its newer lease then
// stays. A lock that has ended stays out: end took it out, or will.
func (s *scheduler) add(l *Lock, at instant, gen uint64) {
	s.mu.Lock()
	if l.ended.Load() {
		s.mu.Unlock()
		return
	}
	l.slot.beatAt = at.add(s.jitter(s.c.cfg.heartbeat))
	if l.slot.gen > gen {
		s.placeLocked(l) // a renewal set its lease
	} else {
		s.setLeaseLocked(l, at, gen)
	}
	early := s.beforeWakeLocked(l)
	s.mu.Unlock()
	if early {
		s.poke() // the loop's timer is set for a later deadline
	}
}

// renewed moves l's lease deadlines to those of a renewal sent at
// renewedAt. The loop may have taken l out for an expiry the renewal beat
// (its notice is then stale and ignored): a lock still held goes back in.
// One that has ended stays out (end sets ended before it takes the lock
// out of the scheduler).
func (s *scheduler) renewed(l *Lock, renewedAt instant, gen uint64) {
	s.mu.Lock()
	early := false
	if !l.ended.Load() {
		s.setLeaseLocked(l, renewedAt, gen)
		early = s.beforeWakeLocked(l)
	}
	s.mu.Unlock()
	if early {
		s.poke()
	}
}

func (s *scheduler) setLeaseLocked(l *Lock, renewedAt instant, gen uint64) {
	l.slot.gen = gen
	l.slot.expireAt = renewedAt.add(s.c.cfg.localLease(s.c.cfg.lease))
	l.slot.dangerAt = 0
	if l.opts.onDanger != nil {
		l.slot.dangerAt = renewedAt.add(l.opts.safeTime)
	}
	if l.slot.ready >= 0 {
		s.ready.fix(l)
	}
	s.placeLocked(l)
}

// beatDone schedules l's next heartbeat at at, after a worker's beat.
func (s *scheduler) beatDone(l *Lock, at instant) {
	s.mu.Lock()
	early := false
	if l.slot.index >= 0 {
		l.slot.beatAt = at
		s.placeLocked(l)
		early = s.beforeWakeLocked(l)
	}
	s.mu.Unlock()
	if early {
		s.poke()
	}
}

// placeLocked puts l into the deadline heap at its earliest deadline.
func (s *scheduler) placeLocked(l *Lock) {
	at := l.slot.expireAt
	for _, t := range [...]instant{l.slot.beatAt, l.slot.dangerAt} {
		if t != 0 && t < at {
			at = t
		}
	}
	l.slot.at = at
	if l.slot.index < 0 {
		s.byTime.push(l)
	} else {
		s.byTime.fix(l)
	}
}

// beforeWakeLocked reports whether l's next deadline comes before the
// loop's next look at the heap, so that the loop must be woken for it.
func (s *scheduler) beforeWakeLocked(l *Lock) bool { return l.slot.at < s.wakeAt }

// remove takes an ended lock out of the scheduler.
func (s *scheduler) remove(l *Lock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.slot.index >= 0 {
		s.byTime.remove(l)
	}
	if l.slot.ready >= 0 {
		s.ready.remove(l)
	}
}

// lapse queues the hand-back of an expired lock's record for an idle
// worker: never a goroutine of its own, and never ahead of a heartbeat.
func (s *scheduler) lapse(l *Lock) {
	s.mu.Lock()
	s.lapsed = append(s.lapsed, l)
	s.mu.Unlock()
	s.poke()
}

// jitter spreads heartbeats of locks taken together over ±10% of d.
func (s *scheduler) jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// leaseNotice is a danger or expiry the loop found due.
type leaseNotice struct {
	l      *Lock
	gen    uint64
	expire bool
}

func (s *scheduler) loop() {
	defer s.wg.Done()
	defer close(s.work)
	clk := s.c.clk
	timer := clk.Timer(time.Hour)
	defer timer.Stop()
	var notices []leaseNotice
	var due []*Lock
	var nextSend instant // rate cap: no dispatch before this
	for {
		now := s.c.now()
		notices, due = notices[:0], due[:0]
		s.mu.Lock()
		for s.byTime.len() > 0 && s.byTime.min().slot.at <= now {
			l := s.byTime.min()
			st := &l.slot
			if now >= st.expireAt {
				notices = append(notices, leaseNotice{l: l, gen: st.gen, expire: true})
				s.byTime.remove(l)
				if st.ready >= 0 {
					s.ready.remove(l)
				}
				continue
			}
			if st.dangerAt != 0 && now >= st.dangerAt {
				notices = append(notices, leaseNotice{l: l, gen: st.gen})
				st.dangerAt = 0
			}
			if st.beatAt != 0 && now >= st.beatAt {
				due = append(due, l)
				st.beatAt = 0
				s.ready.push(l)
			}
			s.placeLocked(l)
		}
		wait := time.Hour
		if s.byTime.len() > 0 {
			wait = s.byTime.min().slot.at.sub(now)
		}
		s.wakeAt = now.add(wait)
		// A heartbeat that cannot be answered before its lease ends (less
		// than two round trips left) would only take a worker from locks
		// that can still be saved: under overload the most urgent locks
		// are the ones already lost, and renewing them first would make
		// every other lock late too. Those expire, with the queue's
		// lateness as their cause.
		doomed := 2 * time.Duration(s.c.rtt.Load())
		for s.ready.len() > 0 && s.ready.min().slot.expireAt.sub(now) < doomed {
			s.ready.remove(s.ready.min())
		}
		var next job
		if s.ready.len() > 0 {
			next = job{l: s.ready.min()}
		} else if len(s.lapsed) > 0 {
			next = job{l: s.lapsed[0], lapse: true}
		}
		s.mu.Unlock()
		for _, l := range due {
			l.setBeatDue(now) // an expiry meanwhile says the queue was behind
		}
		for _, n := range notices {
			s.c.leaseEvent(n.l, n.gen, n.expire)
		}

		var send chan job
		if next.l != nil {
			if !next.lapse && nextSend > now {
				wait = min(wait, nextSend.sub(now))
			} else {
				send = s.work
			}
		}
		timer.Reset(wait)
		select {
		case send <- next:
			s.mu.Lock()
			switch {
			case next.lapse:
				s.lapsed[0] = nil
				s.lapsed = s.lapsed[1:]
			case next.l.slot.ready >= 0:
				s.ready.remove(next.l)
			}
			s.mu.Unlock()
			if r := s.c.cfg.rate; r > 0 && !next.lapse {
				nextSend = max(nextSend, now).add(time.Duration(float64(time.Second) / r))
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
	for j := range s.work {
		if j.lapse {
			s.c.releaseLapsed(j.l)
		} else {
			s.c.backgroundBeat(j.l)
		}
	}
}

// lockHeap is a binary min-heap of locks by a time, each lock knowing its
// own position (so it can be moved or removed in O(log n)). Typed, so
// pushing boxes nothing.
type lockHeap struct {
	locks []*Lock
	at    func(*Lock) instant
	pos   func(*Lock) *int32
}

func (h *lockHeap) len() int   { return len(h.locks) }
func (h *lockHeap) min() *Lock { return h.locks[0] }
func (h *lockHeap) less(i, j int) bool {
	return h.at(h.locks[i]) < h.at(h.locks[j])
}

func (h *lockHeap) swap(i, j int) {
	h.locks[i], h.locks[j] = h.locks[j], h.locks[i]
	*h.pos(h.locks[i]) = int32(i)
	*h.pos(h.locks[j]) = int32(j)
}

func (h *lockHeap) push(l *Lock) {
	*h.pos(l) = int32(len(h.locks))
	h.locks = append(h.locks, l)
	h.up(len(h.locks) - 1)
}

func (h *lockHeap) remove(l *Lock) {
	i := int(*h.pos(l))
	last := len(h.locks) - 1
	if i != last {
		h.swap(i, last)
	}
	h.locks[last] = nil
	h.locks = h.locks[:last]
	*h.pos(l) = -1
	if i != last {
		h.fixAt(i)
	}
	if cap(h.locks) > 1024 && len(h.locks) < cap(h.locks)/4 {
		h.locks = append([]*Lock(nil), h.locks...) // give memory back after a peak
	}
}

func (h *lockHeap) fix(l *Lock) { h.fixAt(int(*h.pos(l))) }

func (h *lockHeap) fixAt(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *lockHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down moves i towards the leaves; it reports whether it moved.
func (h *lockHeap) down(i int) bool {
	start, n := i, len(h.locks)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
