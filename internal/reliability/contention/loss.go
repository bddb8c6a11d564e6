package contention

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/leaselock/leaselock/lock"
)

// lossReported checks that a loss was reported completely: Done closed,
// Context cancelled with the same error, a *LostError with a reason.
func (w *Workload) lossReported(l *lock.Lock, err error) {
	select {
	case <-l.Done():
	default:
		w.res.problem("%s token %d: Err %v but Done not closed", l.Key(), l.Token(), err)
	}
	var le *lock.LostError
	if !errors.As(err, &le) || (le.Reason != lock.Stolen && le.Reason != lock.Expired) {
		w.res.problem("%s token %d: lost with %v, not a *LostError with a reason", l.Key(), l.Token(), err)
		return
	}
	if cause := context.Cause(l.Context()); !errors.Is(cause, lock.ErrLockLost) {
		w.res.problem("%s token %d: context cause %v after loss", l.Key(), l.Token(), cause)
	}
	w.res.mu.Lock()
	if w.res.reasons == nil {
		w.res.reasons = map[string]int{}
	}
	w.res.reasons[le.Reason.String()]++
	w.res.mu.Unlock()
	class := "loss: " + le.Reason.String()
	if le.Reason == lock.Stolen && le.Holder == l.Owner() {
		class = StolenByOwnOwner // a misreport: see findings_test.go in package reliability
	}
	if le.Reason == lock.Stolen && w.Judge != nil {
		if w.Judge.isTrueSteal(l) {
			w.res.countErr(TrueSteal, err)
		} else {
			w.res.countErr(FalseSteal, fmt.Errorf("%s's token %d: %w", l.Owner(), l.Token(), err))
		}
	}
	w.res.countErr(class, fmt.Errorf("%s's token %d: %w", l.Owner(), l.Token(), err))
}

// CheckEnded checks, after every client was closed, that every lock the
// workload saw has ended and reported how: Done closed, Err set, OnLost run
// exactly once for a loss and never for a release. It also reports every
// problem the run met.
func (w *Workload) CheckEnded(t testing.TB) {
	t.Helper()
	r := &w.res
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.locks {
		select {
		case <-l.Done():
		default:
			t.Errorf("%s token %d: not ended after Close", l.Key(), l.Token())
			continue
		}
		err := l.Err()
		switch {
		case errors.Is(err, lock.ErrLockLost):
			if n := r.onLost[l]; n != 1 {
				t.Errorf("%s token %d: lost (%v) but OnLost ran %d times", l.Key(), l.Token(), err, n)
			}
		case errors.Is(err, lock.ErrReleased):
			if n := r.onLost[l]; n != 0 {
				t.Errorf("%s token %d: released but OnLost ran %d times", l.Key(), l.Token(), n)
			}
		default:
			t.Errorf("%s token %d: ended with %v", l.Key(), l.Token(), err)
		}
	}
	for _, p := range r.problems {
		t.Error(p)
	}
}
