package contention

import (
	"context"
	"errors"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// guardedWrite makes the hold's one write to the Resource.
func (w *Workload) guardedWrite(l *lock.Lock, key string) {
	if w.Resource == nil {
		return
	}
	err := w.Resource.Write(context.Background(), l)
	switch {
	case err == nil:
	case errors.Is(err, lock.ErrLockLost):
		// Lost before or during the write: refused, and the lock says so.
		if l.Err() == nil {
			w.res.problem("%s: guarded write refused (%v) but the lock still reports held", key, err)
		}
	case w.Faults && isFault(err):
		// The write's own round trips failed (a network store): nothing
		// to check but that the lock's state says nothing false.
		w.res.countErr("guarded write: "+errClass(err), err)
	default:
		w.res.problem("%s: guarded write: %v", key, err)
	}
}

// lateWrite is a stalled holder's write after it was told it lost the
// lock (see Workload.LateWrite). It waits until the history shows a newer
// tenure of the key, so the store's guard has something to refuse: every
// other late write waits for one of its own client's, whose owner name the
// record then carries again, so that only the guard's token check can
// refuse it.
func (w *Workload) lateWrite(stop context.Context, l *lock.Lock, key string) {
	if w.LateWrite == nil {
		return
	}
	ownClient := w.lates.Add(1)%2 == 0
	for stop.Err() == nil {
		if token, owner := w.History.Latest(key); token > l.Token() && (!ownClient || owner == l.Owner()) {
			break
		}
		sleepCtx(stop, w.Pause)
	}
	newer, owner := w.History.Latest(key)
	err := w.LateWrite(context.Background(), l)
	switch {
	case err == nil && newer > l.Token():
		// The newer acquisition had committed before this write began:
		// a guard that checks the token must refuse it.
		w.res.problem("%s: late write of token %d committed after token %d was acquired", key, l.Token(), newer)
	case err == nil:
		w.res.countErr(LateCommitted, nil)
	case errors.Is(err, backend.ErrGuardFailed) && newer > l.Token() && owner == l.Owner():
		w.res.countErr(LateRefusedOwnClient, nil)
	case errors.Is(err, backend.ErrGuardFailed):
		w.res.countErr(LateRefused, nil)
	case w.Faults && isFault(err):
		w.res.countErr("late write: "+errClass(err), err)
	default:
		w.res.problem("%s: late write of token %d: %v", key, l.Token(), err)
	}
}
