package race

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"cirello.io/dynamolock/v2"
)

// dynamolockContender is cirello.io/dynamolock/v2 with its defaults except
// the timings under test. Its locks say they are lost only through
// Lock.IsExpired, which its users must poll; the contender polls every
// held lock every watchEvery, as an attentive user would, and remembers
// any "expired" it saw (a later heartbeat can make IsExpired false again).
type dynamolockContender struct {
	c    *dynamolock.Client
	poll time.Duration
	held sync.Map // *dynamolockHeld -> struct{}
	stop chan struct{}
	done chan struct{}
}

// watchEvery is how often the dynamolock contender asks each held lock
// whether it has expired.
const watchEvery = 100 * time.Millisecond

func newDynamolock(s Settings) (Contender, error) {
	c, err := dynamolock.New(s.DB, s.Table, dynamolock.WithOwnerName(s.Owner),
		dynamolock.WithLeaseDuration(s.Lease), dynamolock.WithHeartbeatPeriod(s.Heartbeat))
	if err != nil {
		return nil, err
	}
	dc := &dynamolockContender{c: c, poll: s.Poll, stop: make(chan struct{}), done: make(chan struct{})}
	go dc.watch()
	return dc, nil
}

func (dc *dynamolockContender) watch() {
	defer close(dc.done)
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-dc.stop:
			return
		case <-t.C:
		}
		dc.held.Range(func(k, _ any) bool {
			k.(*dynamolockHeld).Lost()
			return true
		})
	}
}

// waitForever stands for "no limit but the context": dynamolock gives up
// waiting after the lease plus this.
const waitForever = time.Hour

func (dc *dynamolockContender) Acquire(ctx context.Context, key string) (Held, error) {
	l, err := dc.c.AcquireLockWithContext(ctx, key, dynamolock.WithRefreshPeriod(dc.poll),
		dynamolock.WithAdditionalTimeToWaitForLock(waitForever))
	if err != nil {
		return nil, err
	}
	return dc.track(l), nil
}

func (dc *dynamolockContender) TryAcquire(ctx context.Context, key string) (Held, error) {
	l, err := dc.c.AcquireLockWithContext(ctx, key, dynamolock.FailIfLocked())
	if errors.As(err, new(*dynamolock.LockNotGrantedError)) {
		return nil, errors.Join(ErrBusy, err)
	}
	if err != nil {
		return nil, err
	}
	return dc.track(l), nil
}

func (dc *dynamolockContender) track(l *dynamolock.Lock) *dynamolockHeld {
	h := &dynamolockHeld{dc: dc, l: l}
	dc.held.Store(h, struct{}{})
	return h
}

func (dc *dynamolockContender) Close(ctx context.Context) error {
	close(dc.stop)
	<-dc.done
	return dc.c.CloseWithContext(ctx)
}

type dynamolockHeld struct {
	dc       *dynamolockContender
	l        *dynamolock.Lock
	released atomic.Bool
	lost     atomic.Bool
}

func (h *dynamolockHeld) Heartbeat(ctx context.Context) error {
	return h.dc.c.SendHeartbeatWithContext(ctx, h.l)
}

func (h *dynamolockHeld) Release(ctx context.Context) error {
	ok, err := h.dc.c.ReleaseLockWithContext(ctx, h.l)
	if err != nil {
		return err
	}
	h.released.Store(true)
	h.dc.held.Delete(h)
	if !ok {
		h.lost.Store(true)
		return errors.New("dynamolock: lock was lost before release")
	}
	return nil
}

func (h *dynamolockHeld) Lost() bool {
	if !h.released.Load() && h.l.IsExpired() {
		h.lost.Store(true)
	}
	return h.lost.Load()
}
