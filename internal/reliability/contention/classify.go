package contention

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// acquireFailed classifies a failed attempt and backs off. Every path
// blocks for a while: in a synctest bubble a goroutine that never blocks
// would stop virtual time.
func (w *Workload) acquireFailed(stop context.Context, err error) {
	switch {
	case stop.Err() != nil && errors.Is(err, context.Canceled):
		return
	case errors.Is(err, lock.ErrLocked):
		w.res.countErr("acquire: held", nil)
	case errors.Is(err, lock.ErrAlreadyHeld):
		w.res.countErr("acquire: already held by this client", nil)
	case errors.Is(err, lock.ErrUnknownOutcome):
		w.res.countErr("acquire: unknown outcome", err)
	case errors.Is(err, lock.ErrExpired):
		// The store answered after the lease it granted had ended: the
		// engine declines such a lock (seen on moto under load).
		w.res.countErr("acquire: answered after its lease", err)
	case w.Faults && (errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous) ||
		errors.Is(err, context.DeadlineExceeded)):
		w.res.countErr("acquire: "+errClass(err), err)
	default:
		w.res.problem("acquire: unexpected error: %v", err)
	}
	sleepCtx(stop, w.Pause)
}

// countOpErr classifies a failed heartbeat or release.
func (w *Workload) countOpErr(op string, err error, l *lock.Lock) {
	switch {
	case errors.Is(err, errCut):
		w.res.countErr(op+": cut off", err)
	case w.Faults && (isFault(err) || strings.Contains(err.Error(), "not applied")):
		w.res.countErr(op+": "+errClass(err), err)
	case errors.Is(err, lock.ErrLockLost):
		w.res.countErr(op+": lost", err)
	default:
		w.res.problem("%s %s: unexpected error: %v", op, l.Key(), err)
	}
}

// isFault reports whether err is what a failing store or network yields.
func isFault(err error) bool {
	return errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous) ||
		errors.Is(err, context.DeadlineExceeded)
}

func errClass(err error) string {
	switch {
	case errors.Is(err, backend.ErrAmbiguous):
		return "ambiguous"
	case errors.Is(err, backend.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, lock.ErrLockLost):
		return "lost"
	case strings.Contains(err.Error(), "not applied"):
		return "not applied"
	}
	return "other"
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
