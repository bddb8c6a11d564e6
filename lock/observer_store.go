package lock

import (
	"context"
	"errors"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// observedStore reports each call of the store it wraps to the observer as
// an OpStore operation. The engine wraps its store only when an observer is
// installed, keeping the optional capabilities the engine looks for
// (guarded writes, commit-and-release) exactly as the store has them.
type observedStore struct {
	backend.Store
	c *Client
}

// observeStore returns s wrapped for c's observer, or s itself when c has
// none.
func (c *Client) observeStore(s backend.Store) backend.Store {
	if c.cfg.observer == nil {
		return s
	}
	w := &observedStore{Store: s, c: c}
	gw, canGuard := s.(backend.GuardedWriter)
	rc, canCommit := s.(backend.ReleaseCommitter)
	switch {
	case canGuard && canCommit:
		return struct {
			*observedStore
			observedGuarder
			observedCommitter
		}{w, observedGuarder{w, gw}, observedCommitter{w, rc}}
	case canGuard:
		return struct {
			*observedStore
			observedGuarder
		}{w, observedGuarder{w, gw}}
	case canCommit:
		return struct {
			*observedStore
			observedCommitter
		}{w, observedCommitter{w, rc}}
	}
	return w
}

// start begins one observed store call.
func (s *observedStore) start(ctx context.Context, call StoreOp, key backend.Key, token uint64) (context.Context, Op, time.Time) {
	op := Op{Kind: OpStore, Store: call, Key: key.Partition, SortKey: key.Sort, Owner: s.c.cfg.owner, Token: token}
	return s.c.cfg.observer.Start(ctx, op), op, s.c.clk.Now()
}

// end reports how the call ended.
func (s *observedStore) end(ctx context.Context, op Op, start time.Time, err error) {
	s.c.cfg.observer.End(ctx, op, Result{Outcome: storeOutcome(ctx, err), Err: err, Duration: s.c.clk.Since(start)})
}

// storeOutcome classifies a store call's error by the kinds of package
// backend.
func storeOutcome(ctx context.Context, err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, backend.ErrConflict):
		return OutcomeConflict
	case errors.Is(err, backend.ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, backend.ErrGuardFailed):
		return OutcomeGuardFailed
	case errors.Is(err, backend.ErrInvalid):
		return OutcomeInvalid
	case errors.Is(err, backend.ErrAmbiguous):
		return OutcomeAmbiguous
	case errors.Is(err, backend.ErrUnavailable):
		return OutcomeUnavailable
	case ctx.Err() != nil:
		return OutcomeCanceled
	}
	return OutcomeError
}

func (s *observedStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	ctx, op, start := s.start(ctx, StoreGet, key, 0)
	rec, err := s.Store.Get(ctx, key)
	s.end(ctx, op, start, err)
	return rec, err
}

func (s *observedStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	ctx, op, start := s.start(ctx, StoreAcquire, req.Record.Key, 0)
	got, err := s.Store.Acquire(ctx, req)
	s.end(ctx, op, start, err)
	return got, err
}

func (s *observedStore) Update(ctx context.Context, rec backend.Record, expectVersion string) (backend.Record, error) {
	ctx, op, start := s.start(ctx, StoreUpdate, rec.Key, rec.Token)
	got, err := s.Store.Update(ctx, rec, expectVersion)
	s.end(ctx, op, start, err)
	return got, err
}

func (s *observedStore) Delete(ctx context.Context, key backend.Key, expectVersion string) error {
	ctx, op, start := s.start(ctx, StoreDelete, key, 0)
	err := s.Store.Delete(ctx, key, expectVersion)
	s.end(ctx, op, start, err)
	return err
}

type observedGuarder struct {
	s     *observedStore
	inner backend.GuardedWriter
}

func (g observedGuarder) WriteGuarded(ctx context.Context, gd backend.Guard, ops any) error {
	ctx, op, start := g.s.start(ctx, StoreWriteGuarded, gd.Key, gd.Token)
	err := g.inner.WriteGuarded(ctx, gd, ops)
	g.s.end(ctx, op, start, err)
	return err
}

type observedCommitter struct {
	s     *observedStore
	inner backend.ReleaseCommitter
}

func (c observedCommitter) CommitRelease(ctx context.Context, req backend.CommitReleaseRequest) error {
	ctx, op, start := c.s.start(ctx, StoreCommitRelease, req.Record.Key, req.Record.Token)
	err := c.inner.CommitRelease(ctx, req)
	c.s.end(ctx, op, start, err)
	return err
}
