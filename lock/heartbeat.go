package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/leaselock/leaselock/backend"
)

// HeartbeatOption configures a manual Heartbeat.
type HeartbeatOption func(*heartbeatConfig)

type heartbeatConfig struct {
	data    []byte
	setData bool
}

// WithNewData replaces the record's data in the heartbeat write.
func WithNewData(data []byte) HeartbeatOption {
	return func(h *heartbeatConfig) { h.data, h.setData = append([]byte(nil), data...), true }
}

// Heartbeat renews the lease now, optionally replacing the data. It is
// safe to call while background heartbeats run: writes to one lock are
// serialised. It fails with the lock's error once the lock has ended.
func (l *Lock) Heartbeat(ctx context.Context, opts ...HeartbeatOption) error {
	var h heartbeatConfig
	for _, o := range opts {
		if o == nil {
			return fmt.Errorf("%w: nil HeartbeatOption", ErrInvalidOption)
		}
		o(&h)
	}
	var data *[]byte
	if h.setData {
		data = &h.data
	}
	return l.c.beat(ctx, l, data)
}

// backgroundBeat is one scheduled heartbeat, run by a worker.
func (c *Client) backgroundBeat(l *Lock) {
	l.mu.Lock()
	held, until := l.heldLocked(), l.opts.heldUntil
	l.beatDue = 0
	l.mu.Unlock()
	if !held {
		return
	}
	if w := l.opts.work; w != nil && w.Err() != nil {
		l.setStopCause(fmt.Errorf("work context ended: %w", context.Cause(w)))
		return // no more heartbeats: the lease lapses and the lock expires
	}
	if until != 0 && c.now() >= until {
		l.setStopCause(errors.New("MaxHold reached"))
		return
	}
	// The write may take as long as the lease it protects, no longer: it is
	// abandoned when the lock ends. A shorter deadline would cancel writes
	// the store is still applying, each an ambiguous outcome to resolve.
	// The period runs from this beat's start, so a slow write does not
	// stretch it: a write that took longer than a period is followed by
	// the next one at once.
	start := c.now()
	err := c.beat(&l.beatCtx, l, nil)
	next := start.add(c.sched.jitter(c.cfg.heartbeat))
	if err != nil {
		l.setStopCause(err)
		next = c.now().add(c.sched.jitter(c.cfg.heartbeat / 4)) // renew sooner after a failure
	}
	c.sched.beatDone(l, next)
}

// renew writes a new version of the lock's record: the lease is renewed
// from the moment before sending (invariant 2). Ambiguous outcomes are
// resolved by version, never assumed to be a steal (invariant 6).
func (c *Client) renew(ctx context.Context, l *Lock, data *[]byte) error {
	if err := l.beginWrite(ctx); err != nil {
		return err
	}
	defer l.endWrite()
	ctx, cancel := l.whileHeld(ctx)
	defer l.doneWriting(cancel)
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		if !l.heldLocked() {
			err := l.err
			l.mu.Unlock()
			return err // invariant 5: an ended lock is never renewed
		}
		cur := l.recordLocked()
		l.mu.Unlock()

		next := cur
		if data != nil {
			next.Data = *data
		}
		sentAt := c.stamp(&next)
		l.addPending(next.Version, sentAt)
		l.setBeatSent(sentAt)
		got, err := c.store.Update(ctx, next, cur.Version)
		c.noteRoundTrip(c.now().sub(sentAt), err)
		s := c.settle(ctx, l.key, next.Version, err)
		l.setBeatSent(0)
		switch s.outcome {
		case applied:
			if s.current != nil {
				got = *s.current
			}
			c.renewed(l, got, sentAt)
			return nil
		case notSent, unknown:
			return fmt.Errorf("lock: heartbeat %q: %w", l.key, s.err)
		}
		// Refused. Unchanged record: our write did not land, nothing lost.
		if s.current != nil && s.current.Version == cur.Version {
			return fmt.Errorf("lock: heartbeat %q: not applied", l.key)
		}
		// An earlier write of ours whose outcome was unknown did land: a
		// release ends the lock; a heartbeat is adopted and written over.
		if sentAt, ours := l.pendingSentAt(s.current); ours {
			if s.current.Released {
				l.endReleased(0)
				return ErrReleased
			}
			if attempt < 2 {
				c.renewed(l, *s.current, sentAt)
				continue
			}
		}
		// A release of ours with an unknown outcome landed, and the key
		// changed hands through it.
		if l.ownReleaseLanded(s.current, false) {
			l.endReleased(0)
			return ErrReleased
		}
		return c.stolen(l, s.current, nil)
	}
}

// renewed records a successful write and schedules the new lease's events.
func (c *Client) renewed(l *Lock, rec backend.Record, sentAt instant) {
	if at, gen, held := l.renewed(rec, sentAt); held {
		c.sched.renewed(l, at, gen)
	}
}

// stolen ends l because the store holds someone else's record (or none).
func (c *Client) stolen(l *Lock, cur *backend.Record, cause error) error {
	lost := l.lost(Stolen, cause)
	if cur != nil {
		lost.Holder = cur.Owner
	}
	if !l.end(Stolen, lost) {
		return l.Err()
	}
	return lost
}

// leaseEvent handles a danger or expiry notice from the scheduler for the
// renewal generation gen.
func (c *Client) leaseEvent(l *Lock, gen uint64, expire bool) {
	l.mu.Lock()
	current := l.heldLocked() && l.gen == gen
	fireDanger := current && !expire && !l.dangerSent
	if fireDanger {
		l.dangerSent = true
	}
	var cause error
	if current && expire {
		cause = l.expiryCauseLocked(c.now())
	}
	l.mu.Unlock()
	switch {
	case !current:
		// Ended already, or renewed meanwhile: the renewal has put it
		// back in the scheduler with its new deadlines.
	case expire:
		if l.end(Expired, l.lost(Expired, cause)) {
			c.sched.lapse(l)
		}
	case fireDanger:
		c.log.WarnContext(l.valuesCtx(), "leaselock: lock in danger: lease not renewed within safe time", "key", l.key.String())
		c.observeDanger(l)
		fn := l.opts.onDanger
		c.callback(func() { fn(l) })
	}
}

// releaseLapsed marks the record of a lock that expired locally as released,
// if it still carries our last version: nobody else holds the key (a
// takeover would have changed the version), so waiters need not sit out
// another lease. Best effort: when the store is unreachable the lease
// simply lapses.
func (c *Client) releaseLapsed(l *Lock) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.heartbeat)
	defer cancel()
	if l.beginWriteAfterEnd(ctx) != nil {
		return
	}
	defer l.endWrite()
	l.mu.Lock()
	cur := l.recordLocked()
	l.mu.Unlock()
	for range 3 {
		next := cur
		next.Released = true
		c.stamp(&next)
		_, err := c.store.Update(ctx, next, cur.Version)
		if err == nil {
			c.log.DebugContext(l.valuesCtx(), "leaselock: released lapsed lease", "key", l.key.String())
			return
		}
		// A heartbeat whose outcome was unknown may have landed after all.
		var ce *backend.ConflictError
		if !errors.As(err, &ce) || ce.Current == nil || ce.Current.Released {
			return
		}
		if _, ours := l.pendingSentAt(ce.Current); !ours {
			return
		}
		cur = *ce.Current
	}
}
