package lock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// ErrNoRecord: OnlyIfExists was given and the key has no record.
var ErrNoRecord = errors.New("lock: no record for key")

// Acquire blocks until it holds key or ctx ends. A free key (absent or
// released) costs one store call. A held key is read once per poll period
// and taken over once this client has seen the same record version for a
// whole lease on its own clock (or, with WithWallClockExpiry, once the
// record's wall-clock stamp is older than lease plus skew).
//
// A lock is never returned without lease left: if the store's answer comes
// back after the lease it granted has ended, Acquire hands the key back and
// fails with a *LostError (errors.Is ErrExpired).
func (c *Client) Acquire(ctx context.Context, key string, opts ...AcquireOption) (*Lock, error) {
	return c.observedAcquire(ctx, key, opts, true)
}

// TryAcquire is Acquire without waiting: if another owner holds the key and
// its lease is not known to have ended, it fails with a *LockedError.
// Observations from earlier calls count, so calling TryAcquire once per
// poll period takes over a dead lock after one lease.
func (c *Client) TryAcquire(ctx context.Context, key string, opts ...AcquireOption) (*Lock, error) {
	return c.observedAcquire(ctx, key, opts, false)
}

func (c *Client) acquire(ctx context.Context, name string, opts []AcquireOption, wait bool) (*Lock, error) {
	a, err := newAcquireConfig(&c.cfg, opts)
	if err != nil {
		return nil, err
	}
	key, err := c.key(name, a.sortKey)
	if err != nil {
		return nil, err
	}
	// One clock reading serves the fair hand-off check and, unless the
	// Acquire then holds back, the first write: taken before the write is
	// sent, as the start of its lease must be.
	now := c.clk.Now()
	l, yield, err := c.start(key, a, wait, c.instantOf(now))
	if l != nil || err != nil {
		return l, err
	}
	req := backend.AcquireRequest{
		Record: backend.Record{Key: key, Owner: c.cfg.owner, LeaseDuration: c.cfg.lease,
			Data: a.data, Attributes: a.attrs},
		KeepData:  a.keepData && a.data == nil,
		MustExist: a.mustExist,
	}
	var (
		expect    string     // "" : write if free; else: take over this version
		write     = true     // next step writes (else: reads)
		deadline  *time.Time // AdditionalWait's limit, set on first sight of a holder
		contended bool       // another owner held the key while we waited
		lastToken uint64     // the acquisition last seen holding the key
		passedBy  int        // hand-offs to others seen while waiting
	)
	if yield > 0 {
		// Fair hand-off: right after releasing a key others were waiting
		// for, give them a poll period to take it (see yieldForLocked).
		if err := c.sleep(ctx, yield); err != nil {
			return nil, fmt.Errorf("lock: acquire %q: %w", key, err)
		}
		now = time.Time{}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lock: acquire %q: %w", key, context.Cause(ctx))
		}
		var cur *backend.Record
		if write {
			req.ExpectVersion = expect
			sentAt := c.stampAt(&req.Record, now)
			now = time.Time{} // later writes read the clock anew
			got, err := c.store.Acquire(ctx, req)
			answered := c.now()
			c.noteRoundTrip(answered.sub(sentAt), err)
			s := c.settle(ctx, key, req.Record.Version, err)
			switch s.outcome {
			case applied:
				rec := got.Record
				if s.current != nil {
					rec = *s.current
				}
				if err != nil {
					answered = c.now() // settled by the store's answer and, maybe, reads
				}
				if answered.sub(sentAt) < c.cfg.localLease(c.cfg.lease) {
					return c.adopt(ctx, a, &rec, sentAt, contended)
				}
				// The answer came after the lease it won had ended: another
				// client may hold the key by now. Hand it back if it is
				// still ours, and never return a lock with no lease left.
				c.giveBack(ctx, rec)
				return nil, &LostError{Key: name, SortKey: key.Sort, Reason: Expired, Cause: errLateAnswer}
			case unknown:
				return nil, fmt.Errorf("%w: acquire %q: %w", ErrUnknownOutcome, key, s.err)
			case notSent:
				if err := c.retryable(ctx, key, s.err, wait); err != nil {
					return nil, err
				}
				continue
			}
			cur = s.current
		} else {
			rec, err := c.store.Get(ctx, key)
			switch {
			case errors.Is(err, backend.ErrNotFound):
			case err != nil:
				if err := c.retryable(ctx, key, err, wait); err != nil {
					return nil, err
				}
				continue
			default:
				cur = &rec
			}
		}

		// Decide the next step from what the key holds now.
		switch {
		case cur == nil && a.mustExist:
			return nil, fmt.Errorf("%w: %q", ErrNoRecord, key)
		case cur == nil || cur.Released:
			expect, write = "", true
			continue
		case cur.Owner == c.cfg.owner:
			if l, err := c.alreadyHeld(key, a); l != nil || err != nil {
				return l, err
			}
		}
		seenFor := c.observe(key, *cur)
		if seenFor >= cur.LeaseDuration || c.wallExpired(*cur) {
			c.log.InfoContext(ctx, "leaselock: taking over expired lease", "key", key.String(), "owner", cur.Owner)
			expect, write = cur.Version, true
			continue
		}
		contended = true
		if lastToken != 0 && cur.Token != lastToken {
			passedBy++ // the key changed hands and we lost the race
		}
		lastToken = cur.Token
		held := &LockedError{Key: key.String(), Owner: cur.Owner, LeaseDuration: cur.LeaseDuration}
		if !wait {
			return nil, held
		}
		c.waiting(ctx, key, cur)
		if a.waitLimited {
			if deadline == nil {
				d := c.clk.Now().Add(cur.LeaseDuration - seenFor + a.additional)
				deadline = &d
			}
			if !c.clk.Now().Before(*deadline) {
				return nil, held
			}
		}
		// Polls are jittered (±10%) so that waiters do not keep the same
		// order behind each release, and a waiter that saw the key pass to
		// others polls sooner (down to an eighth of the period), so the
		// longest waiter tends to be first when the key is next free.
		pause := min(c.sched.jitter(c.cfg.poll>>min(passedBy, 3)), cur.LeaseDuration-seenFor)
		if deadline != nil {
			pause = min(pause, max(0, deadline.Sub(c.clk.Now())))
		}
		if err := c.sleep(ctx, pause); err != nil {
			return nil, fmt.Errorf("lock: acquire %q: %w (last held by %q)", key, err, cur.Owner)
		}
		write = false
	}
}

var errLateAnswer = errors.New("the store answered the acquire after its lease had ended")

// giveBack marks rec released if the store still holds exactly rec: a lease
// acquired too late to use. Best effort; otherwise the lease lapses.
func (c *Client) giveBack(ctx context.Context, rec backend.Record) {
	next := rec
	next.Released = true
	c.stamp(&next)
	_, _ = c.store.Update(ctx, next, rec.Version)
}

// start begins an Acquire of key at now with one look at the client's
// state: alreadyHeld, and for an Acquire that waits, how long to hold back
// first so that waiters get their turn (fair.go).
func (c *Client) start(key backend.Key, a *acquireConfig, wait bool, now instant) (*Lock, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, err := c.alreadyHeldLocked(key, a); l != nil || err != nil || !wait {
		return l, 0, err
	}
	return nil, c.yieldForLocked(key, now), nil
}

// alreadyHeld handles a key this client holds: the same Lock back when
// Reentrant, ErrAlreadyHeld otherwise. Both nil: not held here.
func (c *Client) alreadyHeld(key backend.Key, a *acquireConfig) (*Lock, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.alreadyHeldLocked(key, a)
}

func (c *Client) alreadyHeldLocked(key backend.Key, a *acquireConfig) (*Lock, error) {
	if c.closed {
		return nil, ErrClosed
	}
	l := c.held[key]
	switch {
	case l == nil:
		return nil, nil
	case a.reentrant:
		return l, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrAlreadyHeld, key)
	}
}

// retryable decides whether a failed store call is worth retrying: yes for
// a transient failure while waiting; no for invalid input, a closed client
// or a non-waiting call.
func (c *Client) retryable(ctx context.Context, key backend.Key, err error, wait bool) error {
	switch {
	case errors.Is(err, backend.ErrInvalid):
		return invalid("acquire", key, err)
	case !wait || !errors.Is(err, backend.ErrUnavailable):
		return fmt.Errorf("lock: acquire %q: %w", key, err)
	}
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.log.DebugContext(ctx, "leaselock: store unavailable; retrying", "key", key.String(), "err", err)
	if err := c.sleep(ctx, c.cfg.poll); err != nil {
		return fmt.Errorf("lock: acquire %q: %w", key, err)
	}
	return nil
}

// adopt turns an acquired record into a held Lock and starts heartbeating.
func (c *Client) adopt(ctx context.Context, a *acquireConfig, rec *backend.Record, sentAt instant, contended bool) (*Lock, error) {
	l := newLock(ctx, c, a, rec, sentAt)
	l.contended = contended
	if err := c.track(l); err != nil {
		// Closed while we acquired: give the key back rather than leak it.
		_ = c.releaseRecord(context.WithoutCancel(ctx), l, release{del: a.held.deleteOnRel || c.deletes})
		return nil, err
	}
	c.observeHeld(ctx, l)
	if c.debugOn() {
		c.log.DebugContext(ctx, "leaselock: acquired", "key", rec.Key.String(), "token", rec.Token)
	}
	c.sched.add(l, sentAt, 0)
	return l, nil
}
