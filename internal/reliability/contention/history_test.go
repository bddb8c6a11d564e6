package contention

import (
	"fmt"
	"testing"
	"time"
)

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
	build := func(recs ...rec) *History {
		h := NewHistory(nil)
		for _, r := range recs {
			h.holds = append(h.holds, &Hold{key: "k", owner: fmt.Sprint("o", r.token), token: r.token,
				start: at(r.start), end: at(r.end), ended: true, lost: r.lost, toldBeforeNext: r.told})
		}
		return h
	}
	for name, tc := range map[string]struct {
		h    *History
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
			if got := tc.h.Check(); len(got) != tc.want {
				t.Fatalf("want %d violations, got %d: %v", tc.want, len(got), got)
			}
		})
	}
}
