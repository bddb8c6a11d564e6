package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Do acquires key, runs fn while holding it, and releases it when fn
// returns. fn's context is cancelled if the lock is lost or ctx ends, and
// heartbeats stop with ctx, so fn cannot outlive its lease unnoticed.
// The result joins fn's error, the loss (a *LostError) if the lock was lost
// while fn ran, and any release error.
func (c *Client) Do(ctx context.Context, key string, fn func(ctx context.Context, l *Lock) error, opts ...AcquireOption) error {
	if fn == nil {
		return fmt.Errorf("%w: Do needs a function", ErrInvalidOption)
	}
	// Heartbeats last while fn runs and the release is tried, no longer: if
	// the release fails the lease lapses instead of outliving the work.
	beat, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	// A new slice: appending to opts could write into the caller's array,
	// which concurrent Do calls may share.
	l, err := c.Acquire(ctx, key, slices.Concat(opts, []AcquireOption{HeartbeatWhile(beat)})...)
	if err != nil {
		return err
	}
	work, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(l.Context(), func() { cancel(context.Cause(l.Context())) })
	fnErr := fn(work, l)
	stop()
	cancel(nil)

	// Release even if ctx ended, bounded by one lease.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.lease)
	defer rcancel()
	relErr := l.Release(rctx)
	return errors.Join(fnErr, relErr) // a loss comes back from Release as its *LostError
}
