package lock

import (
	"context"
	"fmt"
	"maps"
	"time"
	"unicode/utf8"

	"github.com/leaselock/leaselock/internal/wallclock"
)

// AcquireOption configures one Acquire or TryAcquire.
type AcquireOption func(*acquireConfig)

type acquireConfig struct {
	held           heldOptions
	sortKey        string
	data           []byte
	keepData       bool
	attrs          map[string]string
	additional     time.Duration
	waitLimited    bool
	mustExist      bool
	reentrant      bool
	maxHold        time.Duration
	dangerRequired bool
}

// heldOptions are the acquire options a lock goes on using once held. A
// lock keeps its own copy only when one of them is set, not the whole
// acquireConfig: a client may hold a million locks.
type heldOptions struct {
	work        context.Context // HeartbeatWhile
	onLost      func(*Lock, error)
	onDanger    func(*Lock)
	safeTime    time.Duration
	heldUntil   instant // MaxHold's end (zero: none); set in a lock's own copy
	deleteOnRel bool
}

// noHeldOptions is shared by every lock acquired without held options.
var noHeldOptions heldOptions

// forLock returns the held options for a lock acquired with a by a write
// sent at sentAt.
func (a *acquireConfig) forLock(sentAt instant) *heldOptions {
	h := &a.held
	if h.work == nil && h.onLost == nil && h.onDanger == nil && !h.deleteOnRel && a.maxHold == 0 {
		return &noHeldOptions
	}
	own := *h
	if a.maxHold > 0 {
		own.heldUntil = sentAt.add(a.maxHold)
	}
	return &own
}

// WithData stores data on the lock record (Java's withData).
func WithData(data []byte) AcquireOption {
	return func(a *acquireConfig) { a.data = append([]byte(nil), data...) }
}

// KeepData keeps the data already on a free record instead of clearing it
// (Java's withReplaceData(false)). Ignored when WithData is also given.
func KeepData() AcquireOption { return func(a *acquireConfig) { a.keepData = true } }

// WithSortKey sets the record's sort key, for stores with composite keys.
func WithSortKey(sort string) AcquireOption { return func(a *acquireConfig) { a.sortKey = sort } }

// WithAttributes stores extra string attributes beside the lock record.
func WithAttributes(attrs map[string]string) AcquireOption {
	return func(a *acquireConfig) { a.attrs = maps.Clone(attrs) }
}

// AdditionalWait bounds Acquire like Java's additionalTimeToWaitForLock: it
// gives up with ErrLocked once it has waited the holder's lease plus d.
// Without it Acquire waits until its context ends.
func AdditionalWait(d time.Duration) AcquireOption {
	return func(a *acquireConfig) { a.additional, a.waitLimited = d, true }
}

// DeleteOnRelease makes this lock's release (Release, CommitAndRelease,
// Do's, Close's) delete the record instead of marking it released (Java's
// default). The fencing counter is then lost: the next acquisition starts
// again at token 1. Prefer the default unless the table must not keep one
// record per key ever used.
func DeleteOnRelease() AcquireOption { return func(a *acquireConfig) { a.held.deleteOnRel = true } }

// OnlyIfExists acquires only a key whose record already exists (released or
// expired), never creating one (Java's acquireOnlyIfLockAlreadyExists).
func OnlyIfExists() AcquireOption { return func(a *acquireConfig) { a.mustExist = true } }

// Reentrant returns the Lock this client already holds for the key instead
// of failing with ErrAlreadyHeld (Java's withReentrant). There is no count:
// one Release ends it.
func Reentrant() AcquireOption { return func(a *acquireConfig) { a.reentrant = true } }

// HeartbeatWhile ties the lease to the work: once ctx ends the lock is no
// longer renewed, so a hung worker cannot keep a key forever. The lease then
// lapses and the lock is reported Expired.
func HeartbeatWhile(ctx context.Context) AcquireOption {
	return func(a *acquireConfig) { a.held.work = ctx }
}

// MaxHold stops heartbeats d after acquisition; the lease then lapses.
func MaxHold(d time.Duration) AcquireOption { return func(a *acquireConfig) { a.maxHold = d } }

// OnLost runs fn once, on its own goroutine, if the lock is stolen or
// expires. err is the *LostError that Err also returns.
func OnLost(fn func(l *Lock, err error)) AcquireOption {
	return func(a *acquireConfig) { a.held.onLost = fn }
}

// OnDanger runs fn once, on its own goroutine, when safeTime has passed
// since the lease was last renewed (Java's session monitor). Pick safeTime
// below the lease so there is time left to stop work.
func OnDanger(safeTime time.Duration, fn func(l *Lock)) AcquireOption {
	return func(a *acquireConfig) { a.held.safeTime, a.held.onDanger, a.dangerRequired = safeTime, fn, true }
}

// noAcquireOptions is the configuration of every acquire without options,
// shared read-only so that such acquires allocate none.
var noAcquireOptions acquireConfig

func newAcquireConfig(c *config, opts []AcquireOption) (*acquireConfig, error) {
	if len(opts) == 0 {
		return &noAcquireOptions, nil
	}
	a := new(acquireConfig)
	for _, o := range opts {
		if o == nil {
			return a, fmt.Errorf("%w: nil AcquireOption", ErrInvalidOption)
		}
		o(a)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
	}
	switch {
	case a.waitLimited && a.additional < 0:
		return a, bad("additional wait %v is negative", a.additional)
	case a.maxHold < 0:
		return a, bad("max hold %v is negative", a.maxHold)
	case a.dangerRequired && (a.held.onDanger == nil || a.held.safeTime <= 0 || a.held.safeTime >= c.lease):
		return a, bad("OnDanger needs a callback and a safe time in (0, lease %v), got %v", c.lease, a.held.safeTime)
	}
	for name, value := range a.attrs {
		switch {
		case name == "" || name == wallclock.Attribute:
			return a, bad("attribute name %q is empty or reserved", name)
		case !utf8.ValidString(name) || !utf8.ValidString(value):
			return a, bad("attribute %q is not valid UTF-8", name)
		}
	}
	return a, nil
}
