package lock

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// Lock is one held lease. Its methods are safe for concurrent use.
//
// A client may hold a million locks, so a Lock is kept small: times are
// instants (monotime.go), the context, its Done channel and a channel for
// writes waiting their turn are made only when needed, and options are
// shared by every lock acquired without them.
type Lock struct {
	c      *Client
	key    backend.Key
	token  uint64
	opts   *heldOptions // read-only; shared by every lock acquired without them
	values valuesOnly   // its Context's parent: the acquiring context's values (lock_context.go)
	// beatCtx is the context of its background heartbeats: the acquiring
	// context's values, ended by the lock's end. Set once, like the above.
	beatCtx heldContext

	mu sync.Mutex
	// ctx and done are made on first use (Context, Done, a waiter, a
	// network store's write): most locks of a busy client never need them.
	ctx         context.Context
	cancel      context.CancelCauseFunc
	done        chan struct{}
	writeCancel context.CancelCauseFunc // the write in flight, cancelled if the lock ends
	// writeFreed is closed when the write slot (writing) frees; made by
	// the first write that waits for it.
	writeFreed chan struct{}
	// The record as last written by us, less what every write of the
	// lock repeats (key, owner, token, lease): see recordLocked.
	version   string
	data      []byte
	attrs     map[string]string
	renewedAt instant       // local time just BEFORE sending the write that renewed the lease
	gen       uint64        // bumps on every renewal; stale timer events are ignored
	err       error         // nil while held; then ErrReleased or a *LostError
	stopCause error         // why the last heartbeat failed or stopped
	pending   pendingWrites // versions we wrote with unknown outcome, and when
	slot      slot          // place in the client's scheduler; guarded by its mutex
	beatDue   instant       // a background heartbeat waits for a worker since then
	beatSent  instant       // a heartbeat write is in flight since then
	// writing is the write slot: it serialises this lock's store writes
	// (heartbeat, release, data change), so that each write's expected
	// version is the previous write's. A flag and a channel made on
	// demand, not a mutex, so a caller waiting behind a slow write can
	// give up when its context ends.
	writing    bool
	dangerSent bool
	// releaseUnsure: a release of ours (mark or delete) may have landed
	// without our knowing; see ownReleaseLanded.
	releaseUnsure bool
	// contended: another owner held the key while this lock's Acquire
	// waited; its release then yields the key to waiters (fair.go). Set
	// before the lock is shared.
	contended bool
	// ended: released or lost; err says which. Set under mu, read
	// without it too (heldContext.Err, asked by the store on every call).
	ended atomic.Bool
}

// newLock builds the Lock of an acquisition made under ctx, whose write
// was sent at sentAt. Its Context keeps ctx's values (trace IDs,
// request-scoped loggers) for the work run under the lock, but not its
// cancellation: a lock outlives the Acquire call, and its Context ends
// only when the lock does.
func newLock(ctx context.Context, c *Client, a *acquireConfig, rec *backend.Record, sentAt instant) *Lock {
	l := &Lock{c: c, key: rec.Key, token: rec.Token, opts: a.forLock(sentAt), version: rec.Version,
		data: rec.Data, attrs: rec.Attributes, renewedAt: sentAt, slot: slot{index: -1, ready: -1}}
	l.values.parent = c.lockParent(ctx)
	l.beatCtx = heldContext{values: &l.values, l: l}
	return l
}

// Key returns the lock's partition key.
func (l *Lock) Key() string { return l.key.Partition }

// SortKey returns the lock's sort key, "" when there is none.
func (l *Lock) SortKey() string { return l.key.Sort }

// Owner returns the owner name written on the record.
func (l *Lock) Owner() string { return l.c.cfg.owner }

// Token returns the fencing token of this acquisition: larger than that of
// every earlier acquisition of the key since its record was created. The
// counter lives on the record, so it restarts at 1 after the record is
// deleted or replaced whole: a release with DeleteOnRelease, an operator's
// delete, or a client that keeps no counter (the Java client's acquire
// replaces the item and its default release deletes it; docs/java-interop.md).
// Where only leaselock clients that mark releases touch a key, tokens never
// go back. Pass it to the resources the lock protects and have them refuse
// smaller tokens.
func (l *Lock) Token() uint64 { return l.token }

// Data returns a copy of the data on the record as last written.
func (l *Lock) Data() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.data...)
}

// Done is closed when the lock ends: released, stolen or expired.
func (l *Lock) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = make(chan struct{})
		if l.ended.Load() {
			close(l.done)
		}
	}
	return l.done
}

// Context is cancelled when the lock ends; context.Cause gives Err.
// It carries the values of the context passed to Acquire (trace spans,
// request IDs), but neither its deadline nor its cancellation. Run the
// protected work under it.
func (l *Lock) Context() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancelCause(&l.values)
		if l.ended.Load() {
			l.cancel(l.err)
		}
	}
	return l.ctx
}

// valuesCtx is a context with the acquiring context's values and no
// cancellation, for logs and observer events about the lock: it needs no
// allocation, unlike Context on first use.
func (l *Lock) valuesCtx() context.Context { return &l.values }

// Err is nil while the lock is held. Afterwards it is ErrReleased, or a
// *LostError (errors.Is ErrLockLost, and ErrStolen or ErrExpired).
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Guard returns what a guarded write checks: this owner and token.
func (l *Lock) Guard() backend.Guard {
	return backend.Guard{Key: l.key, Owner: l.c.cfg.owner, Token: l.token}
}

// LeaseRemaining is how long the local lease has left (zero once ended).
func (l *Lock) LeaseRemaining() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended.Load() {
		return 0
	}
	return max(0, l.c.cfg.localLease(l.c.cfg.lease)-l.c.now().sub(l.renewedAt))
}

// recordLocked returns a copy of the record as last written by us;
// callers hold l.mu. Every record of the lock has its key, owner, token
// and lease: the acquire wrote them, and later writes keep them.
func (l *Lock) recordLocked() backend.Record {
	rec := backend.Record{Key: l.key, Owner: l.c.cfg.owner, Version: l.version, Token: l.token,
		LeaseDuration: l.c.cfg.lease, Data: l.data, Attributes: l.attrs}
	return rec.Clone()
}

// held reports whether the lock is still held; callers hold l.mu.
func (l *Lock) heldLocked() bool { return !l.ended.Load() }

// endReleased ends the lock as released by this client. answered is
// when the release's answer came, where its key's hand-off starts
// (fair.go); zero: now.
func (l *Lock) endReleased(answered instant) bool { return l.finish(0, ErrReleased, answered) }

// end ends the lock as lost: reason is Stolen or Expired.
func (l *Lock) end(reason Reason, err error) bool { return l.finish(reason, err, 0) }

// finish moves the lock out of held, once, and reports it everywhere:
// reason is the loss, or zero for a release answered at answered. It
// returns false if the lock had already ended.
func (l *Lock) finish(reason Reason, err error, answered instant) bool {
	l.mu.Lock()
	if l.ended.Load() {
		l.mu.Unlock()
		return false
	}
	l.ended.Store(true)
	l.err = err
	l.gen++
	cancel, done, cancelWrite := l.cancel, l.done, l.writeCancel
	l.mu.Unlock()

	l.c.forget(l, reason == 0, answered)
	l.c.observeEnded(l, reason, err)
	if cancelWrite != nil {
		cancelWrite(err)
	}
	if cancel != nil {
		cancel(err)
	}
	if done != nil {
		close(done)
	}
	if reason != 0 {
		l.c.log.WarnContext(l.valuesCtx(), "leaselock: lock lost", "key", l.key.String(), "reason", reason.String(), "err", err)
		if fn := l.opts.onLost; fn != nil {
			l.c.callback(func() { fn(l, err) })
		}
	}
	return true
}

// renewed records a confirmed write of rec sent at sentAt: earlier
// unknown outcomes are settled and the heartbeat error is cleared. It
// returns the lease's start and generation, and false if the lock has
// already ended.
func (l *Lock) renewed(rec backend.Record, sentAt instant) (instant, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended.Load() {
		return 0, 0, false
	}
	l.version, l.data, l.attrs = rec.Version, rec.Data, rec.Attributes
	l.renewedAt = max(l.renewedAt, sentAt)
	l.gen++
	// A confirmed write on top of our last version means no earlier write
	// of ours, release included, can still land: they expected that version.
	l.pending.clear()
	l.stopCause, l.releaseUnsure = nil, false
	return l.renewedAt, l.gen, true
}

// addPending remembers a version we are about to write, until a write is
// confirmed: if its outcome stays unknown it may still turn up in the store.
func (l *Lock) addPending(version string, sentAt instant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending.add(version, sentAt)
}

// beginWrite takes the lock's write slot, or fails when ctx ends or the
// lock ends first (then with the lock's Err).
func (l *Lock) beginWrite(ctx context.Context) error { return l.takeWriteSlot(ctx, true) }

// beginWriteAfterEnd takes the write slot of a lock that has ended, for
// handing back its lapsed record; it fails only when ctx ends.
func (l *Lock) beginWriteAfterEnd(ctx context.Context) error { return l.takeWriteSlot(ctx, false) }

// takeWriteSlot waits for the write slot until ctx ends or, with
// untilEnd, the lock ends.
func (l *Lock) takeWriteSlot(ctx context.Context, untilEnd bool) error {
	for {
		l.mu.Lock()
		if !l.writing {
			l.writing = true
			l.mu.Unlock()
			return nil
		}
		if l.writeFreed == nil {
			l.writeFreed = make(chan struct{})
		}
		freed := l.writeFreed
		l.mu.Unlock()
		var ended <-chan struct{} // nil: never
		if untilEnd {
			ended = l.Done()
		}
		select {
		case <-freed:
		case <-ended:
			return l.Err()
		case <-ctx.Done():
			return fmt.Errorf("lock: %q: waiting for an earlier write: %w", l.key, context.Cause(ctx))
		}
	}
}

// endWrite gives the write slot back, waking the writes that wait for it.
func (l *Lock) endWrite() {
	l.mu.Lock()
	l.writing = false
	freed := l.writeFreed
	l.writeFreed = nil
	l.mu.Unlock()
	if freed != nil {
		close(freed)
	}
}

// whileHeld returns ctx, also cancelled when the lock ends: no write of a
// lock outlives its lease (a write landing later would renew a lease its
// holder has already given up). Callers hold the write slot and pass the
// returned cancel to doneWriting when the write is over.
func (l *Lock) whileHeld(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.whileHeldLocked(ctx)
}

// whileHeldLocked is whileHeld for callers that hold l.mu.
func (l *Lock) whileHeldLocked(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	if l.writeCancel != nil || (l.ctx != nil && ctx == l.ctx) || heldBy(ctx) == l {
		return ctx, nil // already so: a nested write, the lock's Context, or a background heartbeat
	}
	if ctx == context.Background() && l.values.parent == context.Background() {
		// The lock's own heartbeat context is just that: no values, and
		// only the lock's end ends it. No allocation for the commonest case.
		return &l.beatCtx, nil
	}
	if ctx.Done() == nil {
		return &heldContext{values: ctx, l: l}, nil // only the lock's end can end it: no cancel needed
	}
	wctx, cancel := context.WithCancelCause(ctx)
	if l.ended.Load() {
		cancel(l.err)
		return wctx, cancel
	}
	l.writeCancel = cancel
	return wctx, cancel
}

// doneWriting ends a write begun with whileHeld.
func (l *Lock) doneWriting(cancel context.CancelCauseFunc) {
	if cancel == nil {
		return
	}
	l.mu.Lock()
	l.writeCancel = nil
	l.mu.Unlock()
	cancel(nil)
}

// pendingSentAt reports whether cur is a record we wrote earlier (a
// heartbeat or a release whose outcome was unknown), and when.
func (l *Lock) pendingSentAt(cur *backend.Record) (instant, bool) {
	if cur == nil || cur.Owner != l.c.cfg.owner || cur.Token != l.token {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending.sentAt(cur.Version)
}

// ownTenure reports whether cur was written during this acquisition by us.
func (l *Lock) ownTenure(cur *backend.Record) bool {
	return cur != nil && cur.Owner == l.c.cfg.owner && cur.Token == l.token
}

// ownReleaseLanded reports whether the record cur, met by a refused write,
// can only be there because a release of ours landed: one may have (its
// outcome was unknown, or the refused write was itself a release that may
// have been applied first), and the local lease is unexpired, so no waiter
// can have taken the key over (invariant 1); the key then changed hands
// through our release. An operator's force-release while we were
// releasing looks the same, and ends the hold the same way.
func (l *Lock) ownReleaseLanded(cur *backend.Record, thisWriteMayHaveLanded bool) bool {
	l.mu.Lock()
	unsure := l.releaseUnsure
	l.mu.Unlock()
	if !unsure && !thisWriteMayHaveLanded {
		return false
	}
	if l.ownTenure(cur) && !cur.Released {
		return false // our own lease, at a version we do not know: not a release
	}
	return l.LeaseRemaining() > 0
}

func (l *Lock) setReleaseUnsure() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseUnsure = true
}

func (l *Lock) setBeatSent(at instant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.beatSent = at
}

// setBeatDue notes that a background heartbeat, due at due, waits for a
// worker.
func (l *Lock) setBeatDue(due instant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.beatDue == 0 {
		l.beatDue = due
	}
}

// expiryCause says, for a lease that ran out at now, why no heartbeat
// renewed it, in terms an operator can act on; callers hold l.mu.
func (l *Lock) expiryCauseLocked(now instant) error {
	switch {
	case l.beatSent != 0:
		return joinCause(fmt.Errorf("%w: a heartbeat sent %v ago got no answer", ErrStoreSlow,
			now.sub(l.beatSent).Round(time.Millisecond)), l.stopCause)
	case l.stopCause != nil:
		return l.stopCause // heartbeats failed (the store refused or was unreachable) or were stopped
	case l.beatDue != 0:
		return fmt.Errorf("%w: a heartbeat due %v ago was still waiting for a worker", ErrHeartbeatsBehind,
			now.sub(l.beatDue).Round(time.Millisecond))
	}
	return ErrHeartbeatsBehind
}

// joinCause adds the last heartbeat error, if any, to cause.
func joinCause(cause, last error) error {
	if last == nil {
		return cause
	}
	return fmt.Errorf("%w; last heartbeat error: %w", cause, last)
}

// lost builds the *LostError of this lock.
func (l *Lock) lost(reason Reason, cause error) *LostError {
	return &LostError{Key: l.key.Partition, SortKey: l.key.Sort, Reason: reason, Cause: cause}
}

func (l *Lock) setStopCause(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopCause = err
}

// pendingWrites are the versions of writes whose outcome is unknown, since
// the last confirmed one. Usually none or one: the first is kept inline, so
// a lock's ordinary writes allocate nothing here.
type pendingWrites struct {
	first pendingWrite
	more  *[]pendingWrite // a pointer: rarely used, and a slice would take 24 bytes of every lock
}

type pendingWrite struct {
	version string
	sentAt  instant
}

func (p *pendingWrites) add(version string, sentAt instant) {
	if p.first.version == "" {
		p.first = pendingWrite{version, sentAt}
		return
	}
	if p.more == nil {
		p.more = new([]pendingWrite)
	}
	*p.more = append(*p.more, pendingWrite{version, sentAt})
}

func (p *pendingWrites) sentAt(version string) (instant, bool) {
	if version == "" {
		return 0, false
	}
	if p.first.version == version {
		return p.first.sentAt, true
	}
	if p.more != nil {
		for _, w := range *p.more {
			if w.version == version {
				return w.sentAt, true
			}
		}
	}
	return 0, false
}

func (p *pendingWrites) clear() {
	p.first = pendingWrite{}
	if p.more != nil {
		clear(*p.more)
		*p.more = (*p.more)[:0]
	}
}
