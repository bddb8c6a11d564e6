package backend

import (
	"errors"
	"fmt"
)

// Error kinds. Stores wrap or return these; the engine tells them apart with
// errors.Is and errors.As.
var (
	// ErrNotFound: Get found no record for the key.
	ErrNotFound = errors.New("backend: record not found")

	// ErrConflict: a conditional write was refused because the record was
	// not in the expected state. Returned as *ConflictError.
	ErrConflict = errors.New("backend: condition failed")

	// ErrUnavailable: the store could not be reached or refused the request
	// for a transient reason (throttling, 5xx), and the write was certainly
	// NOT applied. Retrying is safe.
	ErrUnavailable = errors.New("backend: store unavailable")

	// ErrAmbiguous: a write was sent but its outcome is unknown (timeout or
	// lost response after sending). It may or may not have been applied; the
	// engine resolves it by reading the record back and comparing versions.
	ErrAmbiguous = errors.New("backend: write outcome unknown")

	// ErrInvalid: the store rejected the request itself (key too long, item
	// too large, bad attribute name). Retrying cannot help; nothing was written.
	ErrInvalid = errors.New("backend: invalid request")

	// ErrInvalidKey: the request was refused for its key (empty, not UTF-8,
	// too long, a sort key the table lacks or a missing one it needs). It
	// is a kind of ErrInvalid: errors.Is(err, ErrInvalid) holds too.
	ErrInvalidKey = fmt.Errorf("%w: invalid key", ErrInvalid)

	// ErrGuardFailed: a guarded write was refused because the lock it was
	// guarded by is no longer held with that owner and fencing token.
	ErrGuardFailed = errors.New("backend: lock no longer held; guarded write refused")
)

// ConflictError reports a refused conditional write together with the
// record the store holds now, so the caller needs no extra read to learn who
// holds the key. Current is nil when the key is absent.
//
// MaybeApplied says the refusal is itself ambiguous: the store sent this
// same call more than once (a client that retries by itself after a lost
// answer, as aws-sdk-go-v2 does) and an earlier attempt may have been
// applied, so Current may be a later write on top of the caller's own. A
// store that sends every call once leaves it false. The engine then judges
// by the record, not by the refusal (docs/safety.md, invariant 6).
type ConflictError struct {
	Key          Key
	Current      *Record
	MaybeApplied bool
}

func (e *ConflictError) Error() string {
	var msg string
	if e.Current == nil {
		msg = fmt.Sprintf("backend: condition failed for %q: no record", e.Key)
	} else {
		msg = fmt.Sprintf("backend: condition failed for %q: held by %q at version %q",
			e.Key, e.Current.Owner, e.Current.Version)
	}
	if e.MaybeApplied {
		msg += " (an earlier attempt of this write may have been applied)"
	}
	return msg
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// AmbiguousError wraps the transport error of a write whose outcome is
// unknown. errors.Is(err, ErrAmbiguous) is true.
type AmbiguousError struct{ Err error }

func (e *AmbiguousError) Error() string { return "backend: write outcome unknown: " + e.Err.Error() }
func (e *AmbiguousError) Unwrap() error { return e.Err }
func (e *AmbiguousError) Is(target error) bool {
	return target == ErrAmbiguous
}
