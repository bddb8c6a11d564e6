package contention

import (
	"context"
	"errors"

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
	default:
		w.res.problem("%s: guarded write: %v", key, err)
	}
}
