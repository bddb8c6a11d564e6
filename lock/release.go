package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/leaselock/leaselock/backend"
)

// ReleaseOption configures Release.
type ReleaseOption func(*releaseConfig)

type releaseConfig struct {
	data    *[]byte
	delete  bool
	deleted bool // set: delete was chosen explicitly
}

// ReleaseWithData leaves data on the released record, for the next holder
// (Java's releaseLock with data).
func ReleaseWithData(data []byte) ReleaseOption {
	return func(r *releaseConfig) { d := append([]byte(nil), data...); r.data = &d }
}

// ReleaseDelete deletes the record instead of marking it released. The
// fencing counter restarts at 1 for the next acquisition.
func ReleaseDelete() ReleaseOption {
	return func(r *releaseConfig) { r.delete, r.deleted = true, true }
}

// Release gives the lock up: one conditional store write that marks the
// record released (or deletes it), after which no heartbeat of this lock
// can succeed. It is idempotent. If the write fails the lock stays held,
// heartbeats go on, and the error is returned; retry or Close. Releasing a
// lock that was already lost returns its *LostError.
func (l *Lock) Release(ctx context.Context, opts ...ReleaseOption) error {
	r := releaseConfig{delete: l.opts.deleteOnRel}
	for _, o := range opts {
		if o == nil {
			return fmt.Errorf("%w: nil ReleaseOption", ErrInvalidOption)
		}
		o(&r)
	}
	if r.data != nil && r.delete {
		return fmt.Errorf("%w: ReleaseWithData and delete-on-release together", ErrInvalidOption)
	}
	if err := l.beginWrite(ctx); err != nil {
		return err // still held: the earlier write goes on
	}
	defer l.endWrite()
	return l.c.releaseRecord(ctx, l, r.data, r.delete)
}

// releaseRecord performs the release write; callers hold the write slot, or own
// l exclusively (a lock not yet tracked).
func (c *Client) releaseRecord(ctx context.Context, l *Lock, data *[]byte, del bool) error {
	l.mu.Lock()
	if !l.heldLocked() {
		err := l.err
		l.mu.Unlock()
		if errors.Is(err, ErrReleased) {
			return nil
		}
		return err
	}
	cur := l.rec.Clone()
	l.mu.Unlock()

	var s settled
	if del {
		s = c.deleteRecord(ctx, cur)
	} else {
		next := cur
		next.Released = true
		if data != nil {
			next.Data = *data
		}
		sentAt := c.clk.Now()
		c.stamp(&next, sentAt)
		l.addPending(next.Version, sentAt) // a retry must recognise it if it lands
		_, err := c.store.Update(ctx, next, cur.Version)
		s = c.settle(ctx, l.key, next.Version, err)
	}
	switch {
	case s.outcome == applied:
		if !l.end(Released, ErrReleased) {
			// The lease ran out while the release was on its way: the
			// record is released, but the hold had already ended.
			return l.Err()
		}
		c.log.Debug("leaselock: released", "key", l.key.String(), "token", l.token)
		return nil
	case s.outcome == refused && s.current != nil && s.current.Version == cur.Version:
		return fmt.Errorf("lock: release %q: not applied; still held", l.key)
	case s.outcome == refused:
		if at, ours := l.pendingSentAt(s.current); ours {
			if s.current.Released {
				l.end(Released, ErrReleased) // an earlier release of ours landed
				return nil
			}
			// A heartbeat of ours with an unknown outcome landed: adopt it
			// (with its lease events) and release on top of it.
			c.renewed(l, *s.current, at)
			return c.releaseRecord(ctx, l, data, del)
		}
		if s.readBack && s.current != nil && s.current.Token > l.token && l.LeaseRemaining() > 0 {
			// Our release may have landed before the read, and the record
			// shows a later acquisition while our lease is unexpired: no
			// waiter can have taken over (invariant 1), so the key changed
			// hands through this very release, its answer lost. (A definite
			// conflict, by contrast, is a steal: someone forced the key.)
			l.end(Released, ErrReleased)
			return nil
		}
		return c.stolen(l, s.current, nil)
	default:
		return fmt.Errorf("lock: release %q: still held: %w", l.key, s.err)
	}
}

// deleteRecord deletes cur conditionally and settles the outcome. A delete
// has no version of its own, so "applied" is judged by absence.
func (c *Client) deleteRecord(ctx context.Context, cur backend.Record) settled {
	err := c.store.Delete(ctx, cur.Key, cur.Version)
	var ce *backend.ConflictError
	switch {
	case err == nil:
		return settled{outcome: applied}
	case errors.As(err, &ce) && ce.Current == nil:
		// Gone: either our delete landed and its response was lost, or
		// someone else deleted it. The lock is not ours any more either way.
		return settled{outcome: applied}
	case errors.As(err, &ce):
		return settled{outcome: refused, current: ce.Current}
	case errors.Is(err, backend.ErrAmbiguous):
		s := c.readBack(ctx, cur.Key, "", err)
		if s.outcome == refused && s.current == nil {
			return settled{outcome: applied}
		}
		return s
	default:
		return settled{outcome: notSent, err: err}
	}
}
