package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/leaselock/leaselock/backend"
)

// WriteGuarded commits the application's own writes only if this lock is
// still held, atomically, in the store (DynamoDB: TransactWriteItems with a
// ConditionCheck on the lock item; see the store's docs for the ops type).
// If the lock has already ended locally nothing is sent and its Err is
// returned. If the store says the lock is no longer ours the lock ends as
// Stolen and the error errors.Is both ErrLockLost and
// backend.ErrGuardFailed (unless a release of ours whose outcome was
// unknown explains it: then the lock ends as released). A failure of the
// application's own conditions is returned as the store reports it.
func (l *Lock) WriteGuarded(ctx context.Context, ops any) error {
	if o := l.c.cfg.observer; o != nil {
		return l.observedWriteGuarded(o, ctx, ops)
	}
	return l.writeGuarded(ctx, ops)
}

func (l *Lock) writeGuarded(ctx context.Context, ops any) error {
	if err := l.Err(); err != nil {
		return err
	}
	gw, ok := l.c.store.(backend.GuardedWriter)
	if !ok {
		return fmt.Errorf("lock: store %T has no guarded writes: %w", l.c.store, errors.ErrUnsupported)
	}
	err := gw.WriteGuarded(ctx, l.Guard(), ops)
	if !errors.Is(err, backend.ErrGuardFailed) {
		return err
	}
	if l.ownReleaseLanded(nil, false) {
		// A release of ours whose outcome was unknown landed: the lock
		// was released, not stolen; the write was not committed.
		l.endReleased(0)
		return fmt.Errorf("lock: guarded write on %q: the lock was released: %w", l.key, err)
	}
	return l.c.stolen(l, nil, err)
}
