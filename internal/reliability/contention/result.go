package contention

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/leaselock/leaselock/lock"
)

// Classes of outcome the tests assert on; the others are counted and
// reported under their own names.
const (
	// FalseSteal: a Stolen report the StealJudge found no takeover for.
	FalseSteal = "FALSE STEAL"
	// TrueSteal: a Stolen report after a takeover named a version of that
	// holder.
	TrueSteal = "steal after a takeover"
	// StolenWithLeaseLeft: a release reported as a steal although the
	// lease still had time left when Release returned, so no waiter could
	// have taken the key: the release itself landed (see
	// TestReleaseThatLandedIsNotASteal in package reliability).
	StolenWithLeaseLeft = "release: reported as stolen with lease left"
	// StolenByOwnOwner: a loss reported as stolen by the holder's own
	// owner name.
	StolenByOwnOwner = "loss: stolen by its own owner"
	// LateRefused: a late write (Workload.LateWrite) after the key changed
	// hands, refused by the store's guard.
	LateRefused = "late write: refused by the guard"
	// LateRefusedOwnClient: a late write refused while a newer tenure of
	// its own client (same owner name, newer token) held the key: only the
	// guard's token check stands in its way.
	LateRefusedOwnClient = "late write: refused by the guard, own client holding a newer tenure"
	// LateCommitted: a late write made before anyone took the key over;
	// the holder's token was still the key's latest, so it may commit.
	LateCommitted = "late write: committed, key not taken over yet"
)

// counters count what happened during a run.
type counters struct {
	acquisitions  atomic.Int64
	viaTry, viaDo atomic.Int64
	stalls        atomic.Int64
	cutOff        atomic.Int64
	lost          atomic.Int64 // told by Done during the hold
	lostAtRelease atomic.Int64 // told by Release's error
	releaseRetry  atomic.Int64
	releaseGaveUp atomic.Int64
	heartbeats    atomic.Int64

	mu       sync.Mutex
	locks    []*lock.Lock
	onLost   map[*lock.Lock]int
	reasons  map[string]int
	errs     map[string]int    // acquire/heartbeat/release errors by class
	examples map[string]string // one message per class
	problems []string
}

func (r *counters) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 50 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *counters) countErr(class string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errs == nil {
		r.errs, r.examples = map[string]int{}, map[string]string{}
	}
	r.errs[class]++
	if _, ok := r.examples[class]; !ok && err != nil {
		r.examples[class] = err.Error()
	}
}

func (r *counters) acquired(l *lock.Lock) {
	r.acquisitions.Add(1)
	r.mu.Lock()
	r.locks = append(r.locks, l)
	r.mu.Unlock()
}

func (r *counters) onLostCallback(l *lock.Lock, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.onLost == nil {
		r.onLost = map[*lock.Lock]int{}
	}
	r.onLost[l]++
	if !errors.Is(err, lock.ErrLockLost) {
		r.problems = append(r.problems, fmt.Sprintf("OnLost for %s with %v, not a *LostError", l.Key(), err))
	}
}

// Result is a snapshot of a run's figures.
type Result struct {
	Acquisitions   int64
	ViaTry, ViaDo  int64
	Stalls, CutOff int64 // stalled holds; of those, cut off by a CutStore
	Lost           int64 // told by Done during the hold
	LostAtRelease  int64 // told by Release's error
	ReleaseRetries int64
	ReleaseGaveUp  int64
	Heartbeats     int64 // manual heartbeats with new data

	Reasons  map[string]int    // losses by reason
	Errors   map[string]int    // outcomes by class (see the constants)
	Examples map[string]string // one message per class
	Problems []string          // what broke the rules; CheckEnded reports them
}

// Result returns the figures so far.
func (w *Workload) Result() Result {
	r := &w.res
	r.mu.Lock()
	defer r.mu.Unlock()
	return Result{
		Acquisitions: r.acquisitions.Load(), ViaTry: r.viaTry.Load(), ViaDo: r.viaDo.Load(),
		Stalls: r.stalls.Load(), CutOff: r.cutOff.Load(), Lost: r.lost.Load(), LostAtRelease: r.lostAtRelease.Load(),
		ReleaseRetries: r.releaseRetry.Load(), ReleaseGaveUp: r.releaseGaveUp.Load(), Heartbeats: r.heartbeats.Load(),
		Reasons: maps.Clone(r.reasons), Errors: maps.Clone(r.errs), Examples: maps.Clone(r.examples),
		Problems: slices.Clone(r.problems),
	}
}
