package contention

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Report logs the figures of a run.
func (w *Workload) Report(t testing.TB, name string, elapsed time.Duration) {
	t.Helper()
	r := &w.res
	s := w.History.Stats()
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Logf("%s: %d acquisitions (%d TryAcquire, %d Do, %d stalled of which %d cut off), %d holds checked, %d lost and told by Done, %d told by Release, "+
		"%d release retries, %d manual heartbeats; loss reasons %v; errors %s; took %v",
		name, r.acquisitions.Load(), r.viaTry.Load(), r.viaDo.Load(), r.stalls.Load(), r.cutOff.Load(), s.Holds, r.lost.Load(),
		r.lostAtRelease.Load(), r.releaseRetry.Load(), r.heartbeats.Load(), r.reasons, SortedCounts(r.errs), elapsed.Round(time.Millisecond))
	if w.Resource != nil {
		t.Logf("%s: %d guarded writes committed in token order", name, w.Resource.Writes())
	}
	if testing.Verbose() {
		for _, class := range slices.Sorted(maps.Keys(r.examples)) {
			t.Logf("%s: e.g. %s", class, r.examples[class])
		}
	}
}

// SortedCounts formats counts by name, in name order.
func SortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return "{" + b.String() + "}"
}
