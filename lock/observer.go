package lock

import (
	"context"
	"time"
)

// Observer is told what the engine does, for metrics, traces and logs. It
// is the seam for telemetry: package otelock implements it with
// OpenTelemetry, and anyone can implement it for another system. Install
// one with WithObserver; a Client without one makes no observer calls and
// pays nothing for the seam.
//
// The engine calls an Observer from many goroutines at once, some of them
// the ones that renew leases: its methods must be safe for concurrent use,
// return quickly, and never call back into the Client or its locks.
type Observer interface {
	// Start is called as an operation begins. The context it returns
	// stands in for ctx for the rest of the operation: the operation's
	// store calls run under it (so a span started here parents theirs)
	// and End receives it. Return ctx itself to add nothing.
	Start(ctx context.Context, op Op) context.Context

	// End is called exactly once for every Start, when the operation ends,
	// with the context Start returned.
	End(ctx context.Context, op Op, r Result)

	// Event reports a change in a lock's life outside the call/return
	// shape of operations (held, ended, waiting, danger, an ambiguous
	// write resolved). ctx is the context of the call the event belongs
	// to; for events of a held lock with no such call (a loss found by a
	// background heartbeat), it is the lock's Context, which carries the
	// values of the context the lock was acquired with.
	Event(ctx context.Context, e Event)
}

// WithObserver installs an Observer (nil: none). The engine then wraps the
// store so that each store call is an operation too.
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// OpKind names an observed operation.
type OpKind string

// Operations reported to Observer.Start and Observer.End.
const (
	OpAcquire       OpKind = "acquire"        // Client.Acquire, waiting included
	OpTryAcquire    OpKind = "try_acquire"    // Client.TryAcquire
	OpRelease       OpKind = "release"        // Lock.Release (Close and Do release this way too)
	OpCommitRelease OpKind = "commit_release" // Lock.CommitAndRelease
	OpWriteGuarded  OpKind = "write_guarded"  // Lock.WriteGuarded
	OpHeartbeat     OpKind = "heartbeat"      // a background renewal or Lock.Heartbeat
	OpStore         OpKind = "store"          // one call of the backend.Store; Op.Store says which
)

// StoreOp names a backend.Store method.
type StoreOp string

// Store calls reported as OpStore operations.
const (
	StoreGet           StoreOp = "get"
	StoreAcquire       StoreOp = "acquire"
	StoreUpdate        StoreOp = "update"
	StoreDelete        StoreOp = "delete"
	StoreCommitRelease StoreOp = "commit_release"
	StoreWriteGuarded  StoreOp = "write_guarded"
)

// Op describes one operation.
type Op struct {
	Kind    OpKind
	Store   StoreOp // for OpStore: which call
	Key     string  // the lock's key as the caller spelled it
	SortKey string  // "" when the key has none
	Owner   string  // this client's owner name
	// Token is the lock's fencing token; 0 where none is known yet (an
	// Acquire, the store calls it makes, reads).
	Token uint64
}

// Outcome says how an operation ended, or how an ambiguous write was
// resolved. Each kind of operation uses a few of them, listed below; they
// are short lower-case words, ready to be metric attribute values.
type Outcome string

// Outcomes.
const (
	// Acquire and TryAcquire.
	OutcomeAcquired Outcome = "acquired" // the lock is held (also: returned again by Reentrant)
	OutcomeHeld     Outcome = "held"     // another owner holds the key (ErrLocked)
	OutcomeTimeout  Outcome = "timeout"  // the caller's context ended first
	// Release, CommitRelease, WriteGuarded and Heartbeat.
	OutcomeReleased  Outcome = "released"  // the lock was released (or already was)
	OutcomeCommitted Outcome = "committed" // the guarded writes were applied
	OutcomeRenewed   Outcome = "renewed"   // the lease was renewed
	OutcomeLost      Outcome = "lost"      // the lock had been, or was found, stolen or expired
	OutcomeEnded     Outcome = "ended"     // a heartbeat found the lock already ended (released or lost)
	// Any operation: it failed; a Release that failed leaves the lock held.
	OutcomeError Outcome = "error"

	// Store calls: OutcomeOK, or the kind of error the store returned.
	OutcomeOK          Outcome = "ok"
	OutcomeConflict    Outcome = "conflict"     // backend.ErrConflict: the condition failed
	OutcomeNotFound    Outcome = "not_found"    // backend.ErrNotFound
	OutcomeUnavailable Outcome = "unavailable"  // backend.ErrUnavailable
	OutcomeAmbiguous   Outcome = "ambiguous"    // backend.ErrAmbiguous
	OutcomeInvalid     Outcome = "invalid"      // backend.ErrInvalid
	OutcomeGuardFailed Outcome = "guard_failed" // backend.ErrGuardFailed
	OutcomeCanceled    Outcome = "canceled"     // the call's context ended

	// EventResolved: what an ambiguous write turned out to be.
	OutcomeApplied Outcome = "applied" // it had landed
	OutcomeRefused Outcome = "refused" // it had not, or was overtaken
	OutcomeUnknown Outcome = "unknown" // still unknown when the context ended
)

// Result is how an operation ended.
type Result struct {
	Outcome  Outcome
	Err      error         // what the call returned (store calls: what the store returned)
	Duration time.Duration // from Start to End, on the client's clock

	// Wait is, for Acquire, the part of Duration spent after first finding
	// the key held by another owner (zero if it never was).
	Wait time.Duration
	// Token is, for an acquired lock, its fencing token.
	Token uint64

	// LeaseAge is, for a renewed heartbeat, how much of the lease had
	// passed when the renewal was confirmed: the time since the renewal
	// before it was sent. The lock expires locally when LeaseAge reaches
	// Lease, so LeaseAge near Lease means heartbeats barely keep up.
	LeaseAge time.Duration
	// Lease is, for a heartbeat, the local lease: the lease duration
	// shortened by the declared clock drift (WithClockDrift).
	Lease time.Duration
}

// EventKind names an Event.
type EventKind string

// Events reported to Observer.Event.
const (
	// EventHeld: a new lock is held (not sent for a Reentrant repeat).
	EventHeld EventKind = "held"
	// EventEnded: a held lock ended: released, or lost (Reason says how).
	// It is reported before Done is closed, so whoever waits on Done
	// finds the end already counted.
	EventEnded EventKind = "ended"
	// EventWaiting: an Acquire found the key held by another owner; sent
	// once per Acquire, when it first does. Holder names the owner.
	EventWaiting EventKind = "waiting"
	// EventDanger: the OnDanger safe time passed without a renewal.
	EventDanger EventKind = "danger"
	// EventResolved: a write whose outcome was ambiguous (a timeout after
	// sending, or a store that retried it by itself) was resolved by
	// reading the record; Outcome says what it turned out to be.
	EventResolved EventKind = "resolved"
)

// CauseKind classifies why a lock was lost, for metrics; the Cause error
// says it in full.
type CauseKind string

// Kinds of loss causes.
const (
	// Stolen.
	CauseOverwritten CauseKind = "overwritten"  // the store holds another owner's record, or none
	CauseGuardFailed CauseKind = "guard_failed" // a guarded write found the lock gone
	// Expired.
	CauseStoreSlow        CauseKind = "store_slow"        // ErrStoreSlow: a heartbeat got no answer in time
	CauseHeartbeatsBehind CauseKind = "heartbeats_behind" // ErrHeartbeatsBehind: too few workers or too low a rate cap
	CauseStoreUnavailable CauseKind = "store_unavailable" // heartbeats failed: unreachable, or outcome unknown
	CauseStoreError       CauseKind = "store_error"       // heartbeats failed for another reason
	CauseWorkEnded        CauseKind = "work_ended"        // the HeartbeatWhile context ended
	CauseMaxHold          CauseKind = "max_hold"          // MaxHold reached
	CauseClosed           CauseKind = "closed"            // Close could not release it
	CauseOther            CauseKind = "other"
)

// Event is something that happened to a lock.
type Event struct {
	Kind    EventKind
	Key     string
	SortKey string
	Owner   string // this client's owner name
	Token   uint64 // the lock's fencing token; 0 for EventWaiting and EventResolved

	// EventEnded: Reason is 0 for a release, else Stolen or Expired; Err
	// is what Lock.Err returns (ErrReleased or a *LostError); CauseKind
	// classifies a loss.
	Reason    Reason
	Err       error
	CauseKind CauseKind

	// Holder is the other owner: the one an Acquire waits for
	// (EventWaiting), or the one now on the record of a stolen lock.
	Holder string

	// Outcome is, for EventResolved, what the ambiguous write turned out
	// to be: OutcomeApplied, OutcomeRefused or OutcomeUnknown.
	Outcome Outcome
}
