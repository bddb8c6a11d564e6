package contention

import (
	"context"
	"errors"
	"time"

	"github.com/leaselock/leaselock/lock"
)

// release releases l, retrying while the store fails: a failed release
// leaves the lock held, and a lock left held would be a leak.
// retry says an earlier release of l (Do's) already failed.
func (w *Workload) release(l *lock.Lock, retry bool) {
	for attempt := range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 4*w.Pause+time.Second)
		left, began := l.LeaseRemaining(), time.Now()
		err := l.Release(ctx)
		cancel()
		switch {
		case err == nil:
			if !errors.Is(l.Err(), lock.ErrReleased) {
				w.res.problem("%s token %d: Release succeeded but Err is %v", l.Key(), l.Token(), l.Err())
			}
			return
		case errors.Is(err, lock.ErrLockLost):
			w.res.lostAtRelease.Add(1)
			switch {
			case !errors.Is(err, lock.ErrStolen):
			case w.misreported(l, left-time.Since(began), err):
			case retry || attempt > 0:
				// After an unknown outcome: usually our own earlier
				// attempt, which did land, and the key was taken since.
				w.res.countErr("release: stolen at a retry after an unknown outcome", err)
			default:
				w.res.countErr("release: stolen", err)
			}
			w.lossReported(l, l.Err())
			if !errors.Is(l.Err(), lock.ErrLockLost) {
				w.res.problem("%s: Release returned %v but Err is %v", l.Key(), err, l.Err())
			}
			return
		}
		if l.Err() != nil {
			// Ended by now: either during Release, which should then have
			// returned the lock's Err, or just after it returned.
			w.res.countErr("release: still held, and the lock ended by the time it returned", err)
		}
		w.countOpErr("release", err, l)
		if l.Err() == nil {
			// Invariant 8: a failed release leaves the lock held.
			select {
			case <-l.Done():
				w.res.problem("%s: Done closed after a failed release with Err nil", l.Key())
			default:
			}
		}
		w.res.releaseRetry.Add(1)
		time.Sleep(w.Pause * time.Duration(1+attempt%4))
	}
	w.res.releaseGaveUp.Add(1)
}

// misreported counts a release reported as a steal although it cannot have
// been one: the lease still had time left when Release returned, so no
// waiter could have taken the key over; the release itself landed and
// another client acquired the freed key before its answer was known. See
// TestReleaseThatLandedIsNotASteal in package reliability.
func (w *Workload) misreported(l *lock.Lock, leaseLeft time.Duration, err error) bool {
	if leaseLeft <= 0 {
		return false
	}
	w.res.countErr(StolenWithLeaseLeft, err)
	return true
}
