package reliability

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leaselock/leaselock/lock"
)

// hold is one tenure of one key by one Lock, as its holder saw it.
type hold struct {
	key   string
	owner string
	token uint64
	l     *lock.Lock

	start time.Time // Acquire (or Do's fn) returned the lock
	end   time.Time // the holder stopped using it: just before Release, or when told of the loss
	ended bool
	lost  bool // the hold ended because the holder was told the lock was lost

	// toldBeforeNext: when the next hold of the key began, this one was
	// still open in the history but its Lock had already reported the loss
	// (Err non-nil). The holder's goroutine just had not noticed yet.
	toldBeforeNext bool
}

// history records holds as they happen and checks them, online (each new
// hold against the key's open one) and offline (every key's holds in
// token order).
type history struct {
	now func() time.Time

	mu         sync.Mutex
	holds      []*hold
	open       map[string]*hold // the key's latest hold, while not ended
	lastToken  map[string]uint64
	violations []string
}

func newHistory(now func() time.Time) *history {
	if now == nil {
		now = time.Now
	}
	return &history{now: now, open: map[string]*hold{}, lastToken: map[string]uint64{}}
}

func (h *history) violate(format string, args ...any) {
	if len(h.violations) < 50 {
		h.violations = append(h.violations, fmt.Sprintf(format, args...))
	}
}

// begin records that l was just acquired.
func (h *history) begin(key string, l *lock.Lock) *hold {
	hd := &hold{key: key, owner: l.Owner(), token: l.Token(), l: l, start: h.now()}
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev := h.open[key]; prev != nil && !prev.ended {
		if prev.l.Err() == nil {
			h.violate("%s: %s acquired (token %d) while %s still held it unaware (token %d)",
				key, hd.owner, hd.token, prev.owner, prev.token)
		} else {
			prev.toldBeforeNext = true
		}
	}
	if hd.token <= h.lastToken[key] {
		h.violate("%s: token %d acquired after token %d", key, hd.token, h.lastToken[key])
	}
	h.lastToken[key] = max(h.lastToken[key], hd.token)
	h.open[key] = hd
	h.holds = append(h.holds, hd)
	return hd
}

// finish records the end of a hold: lost says the holder was told it lost
// the lock; otherwise it is about to release it.
func (h *history) finish(hd *hold, lost bool) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if hd.ended {
		return
	}
	hd.end, hd.ended, hd.lost = now, true, lost
	if h.open[hd.key] == hd {
		delete(h.open, hd.key)
	}
}

// check returns every violation: those seen online, and those found by
// sorting each key's holds by token (the store's acquisition order).
func (h *history) check() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.violations)
	byKey := map[string][]*hold{}
	for _, hd := range h.holds {
		if !hd.ended {
			out = append(out, fmt.Sprintf("%s: hold of token %d by %s never ended", hd.key, hd.token, hd.owner))
			continue
		}
		byKey[hd.key] = append(byKey[hd.key], hd)
	}
	for key, hs := range byKey {
		slices.SortFunc(hs, func(a, b *hold) int { return compareUint(a.token, b.token) })
		for i := 1; i < len(hs); i++ {
			a, b := hs[i-1], hs[i]
			switch {
			case a.token == b.token:
				out = append(out, fmt.Sprintf("%s: token %d handed out twice (%s, %s)", key, a.token, a.owner, b.owner))
			case b.start.Before(a.start):
				out = append(out, fmt.Sprintf("%s: token %d (%s) began %v before token %d (%s)",
					key, b.token, b.owner, a.start.Sub(b.start), a.token, a.owner))
			case a.end.After(b.start) && !a.toldBeforeNext:
				out = append(out, fmt.Sprintf("%s: %s (token %d) and %s (token %d) held it together for %v; the first was not told",
					key, a.owner, a.token, b.owner, b.token, a.end.Sub(b.start)))
			}
		}
	}
	return out
}

// stats summarises the history.
type stats struct {
	holds, lost int
}

func (h *history) stats() stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s stats
	for _, hd := range h.holds {
		s.holds++
		if hd.lost {
			s.lost++
		}
	}
	return s
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// requireClean fails t with the history's violations.
func requireClean(t *testing.T, h *history) {
	t.Helper()
	if v := h.check(); len(v) > 0 {
		t.Fatalf("%d violations, first ones:\n%s", len(v), joinLines(v, 20))
	}
}

func joinLines(lines []string, maxLines int) string {
	var b []byte
	for i, l := range lines {
		if i == maxLines {
			b = fmt.Appendf(b, "... and %d more\n", len(lines)-maxLines)
			break
		}
		b = append(b, l...)
		b = append(b, '\n')
	}
	return string(b)
}

// fencedResource is what a lock protects: it accepts a write only with a
// token at least as large as every token it has seen for the key. Writes
// reach it through memstore's WriteGuarded, so a refused write here would
// mean the guard let a stale holder through.
type fencedResource struct {
	mu      sync.Mutex
	highest map[string]uint64
	writes  int
	stale   []string
}

func newFencedResource() *fencedResource { return &fencedResource{highest: map[string]uint64{}} }

// write returns the function memstore runs under its lock once the guard
// has held.
func (r *fencedResource) write(key string, token uint64) func() error {
	return func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.writes++
		if token < r.highest[key] {
			r.stale = append(r.stale, fmt.Sprintf("%s: write with token %d after token %d", key, token, r.highest[key]))
			return errors.New("stale token")
		}
		r.highest[key] = token
		return nil
	}
}

// TestHistoryCheckerCatchesViolations feeds the checker histories that break
// each rule, so a clean result elsewhere means something.
func TestHistoryCheckerCatchesViolations(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	type rec struct {
		token      uint64
		start, end float64
		lost, told bool
	}
	build := func(recs ...rec) *history {
		h := newHistory(nil)
		for _, r := range recs {
			h.holds = append(h.holds, &hold{key: "k", owner: fmt.Sprint("o", r.token), token: r.token,
				start: at(r.start), end: at(r.end), ended: true, lost: r.lost, toldBeforeNext: r.told})
		}
		return h
	}
	for name, tc := range map[string]struct {
		h    *history
		want int
	}{
		"disjoint":              {build(rec{1, 0, 1, false, false}, rec{2, 1, 2, false, false}, rec{3, 5, 6, true, false}), 0},
		"overlap":               {build(rec{1, 0, 2, false, false}, rec{2, 1, 3, false, false}), 1},
		"overlap after loss":    {build(rec{1, 0, 2, true, false}, rec{2, 1, 3, false, false}), 1},
		"told before next":      {build(rec{1, 0, 2, true, true}, rec{2, 1, 3, false, false}), 0},
		"token order inversion": {build(rec{1, 2, 3, false, false}, rec{2, 0, 1, false, false}), 1},
		"duplicate token":       {build(rec{1, 0, 1, false, false}, rec{1, 2, 3, false, false}), 1},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.h.check(); len(got) != tc.want {
				t.Fatalf("want %d violations, got %d: %v", tc.want, len(got), got)
			}
		})
	}
}
