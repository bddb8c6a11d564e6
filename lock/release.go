package lock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// ReleaseOption configures Release and CommitAndRelease.
type ReleaseOption func(*releaseConfig)

type releaseConfig struct {
	data *[]byte
}

// ReleaseWithData leaves data on the released record, for the next holder
// (Java's releaseLock with data). A lock acquired with DeleteOnRelease
// keeps no record to leave it on: Release then fails with
// ErrInvalidOption.
func ReleaseWithData(data []byte) ReleaseOption {
	return func(r *releaseConfig) { d := append([]byte(nil), data...); r.data = &d }
}

// deletesOnRelease: this lock's release deletes its record (DeleteOnRelease,
// or a store whose records must be deleted).
func (l *Lock) deletesOnRelease() bool { return l.opts.deleteOnRel || l.c.deletes }

// release is how one release is written.
type release struct {
	data   *[]byte
	del    bool // delete the record (DeleteOnRelease) instead of marking it
	commit bool // apply ops and release in one atomic step
	ops    any
}

func (l *Lock) releaseFor(opts []ReleaseOption) (release, error) {
	if len(opts) == 0 {
		return release{del: l.deletesOnRelease()}, nil
	}
	var r releaseConfig
	for _, o := range opts {
		if o == nil {
			return release{}, fmt.Errorf("%w: nil ReleaseOption", ErrInvalidOption)
		}
		o(&r)
	}
	del := l.deletesOnRelease()
	if r.data != nil && del {
		return release{}, fmt.Errorf("%w: ReleaseWithData on a lock whose release deletes its record", ErrInvalidOption)
	}
	return release{data: r.data, del: del}, nil
}

// Release gives the lock up: one conditional store write that marks the
// record released (or deletes it, for a lock acquired with
// DeleteOnRelease), after which no heartbeat of this lock can succeed. It
// is idempotent. If the write fails the lock stays held, heartbeats go on,
// and the error is returned; retry or Close. Release never outlives the
// lease: if the lock ends while the write is pending (the lease ran out),
// the write is abandoned and Release returns the lock's Err, a *LostError,
// as it does for a lock that was already lost.
func (l *Lock) Release(ctx context.Context, opts ...ReleaseOption) error {
	r, err := l.releaseFor(opts)
	if err != nil {
		return err
	}
	return l.observedRelease(ctx, r)
}

// CommitAndRelease applies the application's writes and releases the lock
// in one atomic step of the store: either both happen, or neither does and
// the lock stays held. A holder that was delayed past its lease cannot
// commit: its release is refused with the writes (the lock then ends as
// stolen or expired and its *LostError is returned). ops is the store's
// own type; prefer your store's typed helper (dynamostore.CommitAndRelease,
// memstore.CommitAndRelease), which makes a wrong type a compile error.
// When the application's own writes fail, their error is returned and the
// lock stays held. A store without the capability gives an error that
// errors.Is errors.ErrUnsupported, and nothing is written.
func (l *Lock) CommitAndRelease(ctx context.Context, ops any, opts ...ReleaseOption) error {
	if _, ok := l.c.store.(backend.ReleaseCommitter); !ok {
		return fmt.Errorf("lock: store %T cannot commit and release in one step: %w", l.c.store, errors.ErrUnsupported)
	}
	r, err := l.releaseFor(opts)
	if err != nil {
		return err
	}
	r.commit, r.ops = true, ops
	return l.observedRelease(ctx, r)
}

func (l *Lock) releaseWith(ctx context.Context, r release) error {
	if err := l.beginWrite(ctx); err != nil {
		if errors.Is(err, ErrReleased) {
			if r.commit {
				return fmt.Errorf("lock: commit and release %q: already released; nothing written", l.key)
			}
			return nil
		}
		return err // still held: the earlier write goes on; or ended
	}
	defer l.endWrite()
	return l.c.releaseRecord(ctx, l, r)
}

// releaseRecord performs the release write; callers hold the write slot, or own
// l exclusively (a lock not yet tracked).
func (c *Client) releaseRecord(ctx context.Context, l *Lock, r release) error {
	l.mu.Lock()
	if !l.heldLocked() {
		err := l.err
		l.mu.Unlock()
		if errors.Is(err, ErrReleased) && !r.commit {
			return nil
		}
		return err
	}
	cur := l.recordLocked()
	next := cur // the record marked released, unless the release is a plain delete
	next.Released = true
	if r.data != nil {
		next.Data = *r.data
	}
	var sentAt instant // the marked record's; a plain delete has none
	if !r.del || r.commit {
		sentAt = c.stamp(&next)
		if !r.del {
			l.pending.add(next.Version, sentAt) // a retry must recognise it if it lands
		}
	}
	ctx, cancel := l.whileHeldLocked(ctx)
	l.mu.Unlock()
	defer l.doneWriting(cancel)
	var s settled
	var err error
	switch {
	case r.del && !r.commit:
		s = c.deleteRecord(ctx, cur)
	case r.commit:
		err = c.store.(backend.ReleaseCommitter).CommitRelease(ctx, backend.CommitReleaseRequest{
			Record: next, ExpectVersion: cur.Version, Delete: r.del, Ops: r.ops})
		if r.del {
			s = c.settleDelete(ctx, cur.Key, err)
		} else {
			s = c.settle(ctx, l.key, next.Version, err)
		}
	default:
		_, err = c.store.Update(ctx, next, cur.Version)
		s = c.settle(ctx, l.key, next.Version, err)
	}
	switch {
	case s.outcome == applied:
		// The key's hand-off starts when the answer came: the send time
		// plus the average round trip, without a clock reading, when the
		// store answered at once; otherwise now.
		var answered instant
		if err == nil && sentAt != 0 {
			answered = sentAt.add(time.Duration(c.rtt.Load()))
		}
		if !l.endReleased(answered) {
			// The lease ran out while the release was on its way: the
			// record is released, but the hold had already ended.
			return l.Err()
		}
		if c.debugOn() {
			c.log.DebugContext(ctx, "leaselock: released", "key", l.key.String(), "token", l.token)
		}
		return nil
	case s.outcome == refused && s.current != nil && s.current.Version == cur.Version:
		if err := l.Err(); err != nil {
			return err
		}
		return fmt.Errorf("lock: release %q: not applied; still held", l.key)
	case s.outcome == refused:
		if at, ours := l.pendingSentAt(s.current); ours {
			if s.current.Released {
				l.endReleased(0) // an earlier release of ours landed
				return l.endErr()
			}
			// A heartbeat of ours with an unknown outcome landed: adopt it
			// (with its lease events) and release on top of it.
			c.renewed(l, *s.current, at)
			return c.releaseRecord(ctx, l, r)
		}
		if l.ownReleaseLanded(s.current, s.mayHaveLanded) {
			// The key changed hands through this release (or an earlier
			// one), its answer lost. A definite conflict with no release
			// of ours in doubt, by contrast, is a steal.
			l.endReleased(0)
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
	return c.settleDelete(ctx, cur.Key, c.store.Delete(ctx, cur.Key, cur.Version))
}

// settleDelete settles a delete's outcome (see deleteRecord).
func (c *Client) settleDelete(ctx context.Context, key backend.Key, err error) settled {
	s := c.settle(ctx, key, "", err)
	if s.outcome == refused && s.current == nil {
		return settled{outcome: applied}
	}
	return s
}
