package lock

import (
	"context"
	"errors"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// The engine's calls to its Observer. Each hook in the engine is one line
// that costs a nil check when no observer is installed: the work of
// observing lives here, out of the engine's paths, and allocates only when
// there is an observer to tell.

// acquireTrace is what an observed Acquire remembers while it runs; it
// travels in the Acquire's context.
type acquireTrace struct {
	// caller is the context the caller passed: the lock's Context keeps its
	// values, not those the observer added for the Acquire (its span ends
	// with the call; the work under the lock belongs to the caller's).
	caller   context.Context
	waitFrom time.Time // when the key was first found held by another owner
}

type acquireTraceKey struct{}

// observedAcquire is acquire, reported to the observer as one operation.
func (c *Client) observedAcquire(ctx context.Context, name string, opts []AcquireOption, wait bool) (*Lock, error) {
	o := c.cfg.observer
	if o == nil {
		return c.acquire(ctx, name, opts, wait)
	}
	op := Op{Kind: OpAcquire, Key: name, SortKey: sortKeyOf(opts), Owner: c.cfg.owner}
	if !wait {
		op.Kind = OpTryAcquire
	}
	start := c.clk.Now()
	tr := &acquireTrace{caller: ctx}
	octx := context.WithValue(o.Start(ctx, op), acquireTraceKey{}, tr)
	l, err := c.acquire(octx, name, opts, wait)
	r := Result{Outcome: acquireOutcome(ctx, err), Err: err, Duration: c.clk.Since(start)}
	if !tr.waitFrom.IsZero() {
		r.Wait = c.clk.Since(tr.waitFrom)
	}
	if l != nil {
		r.Token = l.token
	}
	o.End(octx, op, r)
	return l, err
}

// sortKeyOf applies opts to a scratch config for the sort key alone; acquire
// validates them.
func sortKeyOf(opts []AcquireOption) string {
	var a acquireConfig
	for _, o := range opts {
		if o != nil {
			o(&a)
		}
	}
	return a.sortKey
}

func acquireOutcome(ctx context.Context, err error) Outcome {
	switch {
	case err == nil:
		return OutcomeAcquired
	case errors.Is(err, ErrLocked):
		return OutcomeHeld
	case ctx.Err() != nil:
		return OutcomeTimeout
	}
	return OutcomeError
}

// waiting notes that an Acquire found key held by cur's owner.
func (c *Client) waiting(ctx context.Context, key backend.Key, cur *backend.Record) {
	if c.cfg.observer != nil {
		c.noteWaiting(ctx, key, cur)
	}
}

func (c *Client) noteWaiting(ctx context.Context, key backend.Key, cur *backend.Record) {
	tr, _ := ctx.Value(acquireTraceKey{}).(*acquireTrace)
	if tr == nil || !tr.waitFrom.IsZero() {
		return
	}
	tr.waitFrom = c.clk.Now()
	c.cfg.observer.Event(ctx, Event{Kind: EventWaiting, Key: key.Partition, SortKey: key.Sort,
		Owner: c.cfg.owner, Holder: cur.Owner})
}

// lockParent is the context whose values a new lock's Context keeps: the
// caller's, without what an observer added for the Acquire.
func (c *Client) lockParent(ctx context.Context) context.Context {
	if c.cfg.observer == nil {
		return ctx
	}
	if tr, _ := ctx.Value(acquireTraceKey{}).(*acquireTrace); tr != nil {
		return tr.caller
	}
	return ctx
}

// observeHeld reports a newly held lock.
func (c *Client) observeHeld(ctx context.Context, l *Lock) {
	if o := c.cfg.observer; o != nil {
		o.Event(ctx, l.event(EventHeld))
	}
}

// observeEnded reports the end of a held lock: err is its Err.
func (c *Client) observeEnded(l *Lock, reason Reason, err error) {
	if o := c.cfg.observer; o != nil {
		e := l.event(EventEnded)
		e.Reason, e.Err = reason, err
		if reason != 0 {
			e.CauseKind = l.causeKind(reason, err)
		}
		var lost *LostError
		if errors.As(err, &lost) {
			e.Holder = lost.Holder
		}
		o.Event(l.valuesCtx(), e)
	}
}

// observeDanger reports an OnDanger notice.
func (c *Client) observeDanger(l *Lock) {
	if o := c.cfg.observer; o != nil {
		o.Event(l.valuesCtx(), l.event(EventDanger))
	}
}

func (l *Lock) event(kind EventKind) Event {
	return Event{Kind: kind, Key: l.key.Partition, SortKey: l.key.Sort, Owner: l.c.cfg.owner, Token: l.token}
}

func (l *Lock) op(kind OpKind) Op {
	return Op{Kind: kind, Key: l.key.Partition, SortKey: l.key.Sort, Owner: l.c.cfg.owner, Token: l.token}
}

// causeKind classifies the cause of a loss; err is the lock's *LostError.
func (l *Lock) causeKind(reason Reason, err error) CauseKind {
	switch {
	case errors.Is(err, backend.ErrGuardFailed):
		return CauseGuardFailed
	case reason == Stolen:
		return CauseOverwritten
	case errors.Is(err, ErrClosed):
		return CauseClosed
	case errors.Is(err, ErrStoreSlow):
		return CauseStoreSlow
	case errors.Is(err, ErrHeartbeatsBehind):
		return CauseHeartbeatsBehind
	case l.opts.work != nil && l.opts.work.Err() != nil:
		return CauseWorkEnded
	case l.opts.heldUntil != 0 && l.c.now() >= l.opts.heldUntil:
		return CauseMaxHold
	case errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous) ||
		errors.Is(err, ErrUnknownOutcome):
		return CauseStoreUnavailable
	case errors.Unwrap(err) != nil:
		return CauseStoreError
	}
	return CauseOther
}

// beat is renew, reported to the observer as a heartbeat.
func (c *Client) beat(ctx context.Context, l *Lock, data *[]byte) error {
	o := c.cfg.observer
	if o == nil {
		return c.renew(ctx, l, data)
	}
	op := l.op(OpHeartbeat)
	start := c.clk.Now()
	l.mu.Lock()
	leaseStart := l.renewedAt
	l.mu.Unlock()
	octx := o.Start(ctx, op)
	err := c.renew(octx, l, data)
	r := Result{Err: err, Duration: c.clk.Since(start), Lease: c.cfg.localLease(c.cfg.lease)}
	switch {
	case err == nil:
		r.Outcome, r.LeaseAge = OutcomeRenewed, c.now().sub(leaseStart)
	case l.Err() != nil:
		r.Outcome = OutcomeEnded
	default:
		r.Outcome = OutcomeError
	}
	o.End(octx, op, r)
	return err
}

// observedRelease is releaseWith, reported to the observer.
func (l *Lock) observedRelease(ctx context.Context, r release) error {
	o := l.c.cfg.observer
	if o == nil {
		return l.releaseWith(ctx, r)
	}
	op := l.op(OpRelease)
	if r.commit {
		op.Kind = OpCommitRelease
	}
	start := l.c.clk.Now()
	octx := o.Start(ctx, op)
	err := l.releaseWith(octx, r)
	res := Result{Outcome: OutcomeReleased, Err: err, Duration: l.c.clk.Since(start)}
	switch {
	case errors.Is(err, ErrLockLost):
		res.Outcome = OutcomeLost
	case err != nil:
		res.Outcome = OutcomeError
	}
	o.End(octx, op, res)
	return err
}

// observedWriteGuarded is writeGuarded, reported to the observer.
func (l *Lock) observedWriteGuarded(o Observer, ctx context.Context, ops any) error {
	op := l.op(OpWriteGuarded)
	start := l.c.clk.Now()
	octx := o.Start(ctx, op)
	err := l.writeGuarded(octx, ops)
	res := Result{Outcome: OutcomeCommitted, Err: err, Duration: l.c.clk.Since(start)}
	switch {
	case errors.Is(err, ErrLockLost):
		res.Outcome = OutcomeLost
	case errors.Is(err, ErrReleased):
		res.Outcome = OutcomeReleased
	case err != nil:
		res.Outcome = OutcomeError
	}
	o.End(octx, op, res)
	return err
}

// resolved reports s, the resolution of a write whose outcome was
// ambiguous, when ambiguous is true; it returns s.
func (c *Client) resolved(ctx context.Context, key backend.Key, s settled, ambiguous bool) settled {
	if o := c.cfg.observer; o != nil && ambiguous {
		e := Event{Kind: EventResolved, Key: key.Partition, SortKey: key.Sort, Owner: c.cfg.owner,
			Outcome: OutcomeRefused}
		switch s.outcome {
		case applied:
			e.Outcome = OutcomeApplied
		case unknown:
			e.Outcome = OutcomeUnknown
		}
		o.Event(ctx, e)
	}
	return s
}
