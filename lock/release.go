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
// heartbeats go on, and the error is returned; retry or Close. Release
// never outlives the lease: if the lock ends while the write is pending
// (the lease ran out), the write is abandoned and Release returns the
// lock's Err, a *LostError, as it does for a lock that was already lost.
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
		if errors.Is(err, ErrReleased) {
			return nil
		}
		return err // still held: the earlier write goes on; or ended
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

	ctx, stop := l.whileHeld(ctx)
	defer stop()
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
		if err := l.Err(); err != nil {
			return err
		}
		return fmt.Errorf("lock: release %q: not applied; still held", l.key)
	case s.outcome == refused:
		if at, ours := l.pendingSentAt(s.current); ours {
			if s.current.Released {
				l.end(Released, ErrReleased) // an earlier release of ours landed
				return l.endErr()
			}
			// A heartbeat of ours with an unknown outcome landed: adopt it
			// (with its lease events) and release on top of it.
			c.renewed(l, *s.current, at)
			return c.releaseRecord(ctx, l, data, del)
		}
		if l.ownReleaseLanded(s.current, s.mayHaveLanded) {
			// The key changed hands through this release (or an earlier
			// one), its answer lost. A definite conflict with no release
			// of ours in doubt, by contrast, is a steal.
			l.end(Released, ErrReleased)
			return l.endErr()
		}
		return c.stolen(l, s.current, nil)
	default:
		if s.outcome == unknown {
			l.setReleaseUnsure()
		}
		if err := l.Err(); err != nil {
			return err // the lease ended while we waited: that is the answer
		}
		return fmt.Errorf("lock: release %q: still held: %w", l.key, s.err)
	}
}

// endErr is what Release returns once the lock has ended: nil for a
// release, the *LostError otherwise.
func (l *Lock) endErr() error {
	if err := l.Err(); !errors.Is(err, ErrReleased) {
		return err
	}
	return nil
}

// deleteRecord deletes cur conditionally and settles the outcome. A delete
// has no version of its own, so "applied" is judged by absence: gone means
// either our delete landed or someone else deleted the record; the lock is
// not ours any more either way.
func (c *Client) deleteRecord(ctx context.Context, cur backend.Record) settled {
	s := c.settle(ctx, cur.Key, "", c.store.Delete(ctx, cur.Key, cur.Version))
	if s.outcome == refused && s.current == nil {
		return settled{outcome: applied}
	}
	return s
}
