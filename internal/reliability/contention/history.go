package contention

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leaselock/leaselock/lock"
)

// Hold is one tenure of one key by one Lock, as its holder saw it.
type Hold struct {
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

// History records holds as they happen and checks them, online (each new
// hold against the key's open one) and offline (every key's holds in
// token order).
type History struct {
	now func() time.Time

	mu         sync.Mutex
	holds      []*Hold
	open       map[string]*Hold // the key's latest hold, while not ended
	lastToken  map[string]uint64
	lastOwner  map[string]string // who acquired lastToken
	violations []string
}

// NewHistory returns an empty history that reads the time from now
// (time.Now when nil).
func NewHistory(now func() time.Time) *History {
	if now == nil {
		now = time.Now
	}
	return &History{now: now, open: map[string]*Hold{}, lastToken: map[string]uint64{}, lastOwner: map[string]string{}}
}

func (h *History) violate(format string, args ...any) {
	if len(h.violations) < 50 {
		h.violations = append(h.violations, fmt.Sprintf(format, args...))
	}
}

// Begin records that l was just acquired.
func (h *History) Begin(key string, l *lock.Lock) *Hold {
	hd := &Hold{key: key, owner: l.Owner(), token: l.Token(), l: l, start: h.now()}
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
	if hd.token > h.lastToken[key] {
		h.lastToken[key], h.lastOwner[key] = hd.token, hd.owner
	}
	h.open[key] = hd
	h.holds = append(h.holds, hd)
	return hd
}

// Finish records the end of a hold: lost says the holder was told it lost
// the lock; otherwise it is about to release it.
func (h *History) Finish(hd *Hold, lost bool) {
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

// Latest is the largest token of key acquired so far, and its owner: a
// holder that sees a larger token than its own knows the key changed
// hands.
func (h *History) Latest(key string) (token uint64, owner string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastToken[key], h.lastOwner[key]
}

// Check returns every violation: those seen online, and those found by
// sorting each key's holds by token (the store's acquisition order).
func (h *History) Check() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.violations)
	byKey := map[string][]*Hold{}
	for _, hd := range h.holds {
		if !hd.ended {
			out = append(out, fmt.Sprintf("%s: hold of token %d by %s never ended", hd.key, hd.token, hd.owner))
			continue
		}
		byKey[hd.key] = append(byKey[hd.key], hd)
	}
	for key, hs := range byKey {
		slices.SortFunc(hs, func(a, b *Hold) int { return compareUint(a.token, b.token) })
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

// Stats summarises a history.
type Stats struct {
	Holds, Lost int
}

// Stats counts the holds recorded and those that ended lost.
func (h *History) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s Stats
	for _, hd := range h.holds {
		s.Holds++
		if hd.lost {
			s.Lost++
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

// RequireClean fails t with the history's violations.
func RequireClean(t testing.TB, h *History) {
	t.Helper()
	if v := h.Check(); len(v) > 0 {
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
