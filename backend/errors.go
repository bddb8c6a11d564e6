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

	// ErrGuardFailed: a guarded write was refused because the lock it was
	// guarded by is no longer held with that owner and fencing token.
	ErrGuardFailed = errors.New("backend: lock no longer held; guarded write refused")
)

// ConflictError reports a refused conditional write together with the
// record the store holds now, so the caller needs no extra read to learn who
// holds the key. Current is nil when the key is absent.
type ConflictError struct {
	Key     Key
	Current *Record
}

func (e *ConflictError) Error() string {
	if e.Current == nil {
		return fmt.Sprintf("backend: condition failed for %q: no record", e.Key)
	}
	return fmt.Sprintf("backend: condition failed for %q: held by %q at version %q",
		e.Key, e.Current.Owner, e.Current.Version)
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
