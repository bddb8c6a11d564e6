package lock

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Errors returned by the engine; test them with errors.Is.
var (
	// ErrLocked: another owner holds the key (TryAcquire, or Acquire after
	// its additional wait). errors.As gives a *LockedError naming the
	// holder.
	ErrLocked = errors.New("lock: locked by another owner")

	// ErrAlreadyHeld: this client already holds the key and the acquire was
	// not Reentrant.
	ErrAlreadyHeld = errors.New("lock: already held by this client")

	// ErrLockLost: the lock was lost while held: stolen or expired. The
	// errors.As target *LostError says which.
	ErrLockLost = errors.New("lock: lock lost")

	// ErrStolen: another owner wrote the record (took over or force-released it).
	ErrStolen = errors.New("lock: stolen by another owner")

	// ErrExpired: the lease ran out locally before a heartbeat renewed it.
	ErrExpired = errors.New("lock: lease expired")

	// ErrStoreSlow is the Cause of an expiry (errors.Is on the *LostError)
	// when a heartbeat write was sent but the store had not answered
	// before the lease ran out: the store is slow, overloaded or
	// unreachable.
	ErrStoreSlow = errors.New("lock: store did not answer a heartbeat in time")

	// ErrHeartbeatsBehind is the Cause of an expiry when a heartbeat was
	// due but still waiting for a free worker (or the heartbeat rate cap)
	// as the lease ran out: this client holds more locks than its workers
	// and store can renew. Raise WithHeartbeatWorkers or the rate cap, or
	// hold fewer locks.
	ErrHeartbeatsBehind = errors.New("lock: heartbeats fell behind")

	// ErrReleased: the lock was released by this client.
	ErrReleased = errors.New("lock: released")

	// ErrClosed: the client was closed.
	ErrClosed = errors.New("lock: client closed")

	// ErrInvalidOption: a setting given to New or to a call is invalid.
	ErrInvalidOption = errors.New("lock: invalid option")

	// ErrInvalidKey: the key is empty, not UTF-8, or refused by the store
	// for its key (too long, a sort key the table lacks).
	ErrInvalidKey = errors.New("lock: invalid key")

	// ErrInvalidRequest: the store refused the request itself for a reason
	// other than its key: data or attributes too large or malformed, the
	// table missing, an operation the store does not support. Retrying
	// cannot help, and nothing was written.
	ErrInvalidRequest = errors.New("lock: request refused by the store")

	// ErrUnknownOutcome: a write's outcome could not be learned before the
	// context ended. For an acquire, the key may be held in this client's
	// name until its lease lapses.
	ErrUnknownOutcome = errors.New("lock: write outcome unknown")
)

// LockedError says who holds a key.
type LockedError struct {
	Key           string
	Owner         string
	LeaseDuration time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("lock: %q is held by %q (lease %v)", e.Key, e.Owner, e.LeaseDuration)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Reason says why a held lock was lost.
type Reason int

// Reasons a lock is lost.
const (
	Stolen  Reason = iota + 1 // another owner wrote the record
	Expired                   // the local lease ran out
)

func (r Reason) String() string {
	switch r {
	case Stolen:
		return "stolen"
	case Expired:
		return "expired"
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// LostError reports a lock that ended without being released.
type LostError struct {
	Key     string
	SortKey string // "" when the key has none
	Reason  Reason // Stolen or Expired
	Holder  string // for Stolen: the owner now on the record, "" if deleted
	// Cause says what led to it: for Expired, the last heartbeat error
	// (errors.Is backend.ErrUnavailable: the store was unreachable),
	// ErrStoreSlow, ErrHeartbeatsBehind, the work context's end, or MaxHold.
	Cause error
}

func (e *LostError) Error() string {
	name := e.Key
	if e.SortKey != "" {
		name += "/" + e.SortKey
	}
	msg := fmt.Sprintf("lock: %q lost: %s", name, e.Reason)
	if e.Holder != "" {
		msg += " by " + e.Holder
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is matches ErrLockLost and the sentinel of the reason.
func (e *LostError) Is(target error) bool {
	return target == ErrLockLost || (target == ErrStolen && e.Reason == Stolen) ||
		(target == ErrExpired && e.Reason == Expired)
}

func (e *LostError) Unwrap() error { return e.Cause }
