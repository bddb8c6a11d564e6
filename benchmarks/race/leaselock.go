package race

import (
	"context"
	"errors"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/lock"
)

// leaselockContender is this project's client over dynamostore, with its
// defaults except the timings under test.
type leaselockContender struct{ c *lock.Client }

func newLeaselock(s Settings) (Contender, error) {
	store, err := dynamostore.New(s.DB, s.Table, nil)
	if err != nil {
		return nil, err
	}
	c, err := lock.New(store, lock.WithOwner(s.Owner), lock.WithLeaseDuration(s.Lease),
		lock.WithHeartbeatPeriod(s.Heartbeat), lock.WithPollPeriod(s.Poll))
	if err != nil {
		return nil, err
	}
	return &leaselockContender{c: c}, nil
}

func (lc *leaselockContender) Acquire(ctx context.Context, key string) (Held, error) {
	l, err := lc.c.Acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	return leaselockHeld{l}, nil
}

func (lc *leaselockContender) TryAcquire(ctx context.Context, key string) (Held, error) {
	l, err := lc.c.TryAcquire(ctx, key)
	if errors.Is(err, lock.ErrLocked) {
		return nil, errors.Join(ErrBusy, err)
	}
	if err != nil {
		return nil, err
	}
	return leaselockHeld{l}, nil
}

func (lc *leaselockContender) Close(ctx context.Context) error { return lc.c.Close(ctx) }

type leaselockHeld struct{ l *lock.Lock }

func (h leaselockHeld) Heartbeat(ctx context.Context) error { return h.l.Heartbeat(ctx) }
func (h leaselockHeld) Release(ctx context.Context) error   { return h.l.Release(ctx) }

// Lost: leaselock reports a loss by closing Done with a *LostError (and
// through OnLost and the lock's context); a released lock is not lost.
func (h leaselockHeld) Lost() bool {
	select {
	case <-h.l.Done():
		return errors.Is(h.l.Err(), lock.ErrLockLost)
	default:
		return false
	}
}
