package lock

import (
	"context"
	"time"
)

// valuesOnly is context.WithoutCancel(parent) held by value: a Lock embeds
// one as the parent of its Context, which so keeps the acquiring context's
// values without its cancellation or deadline and without the allocation
// WithoutCancel makes on every acquisition. Its Done is nil, so the
// context package never links the lock's Context to the acquiring one; and
// the lock's Context, a cancel context itself, answers the context
// package's own lookups before they reach parent.
type valuesOnly struct{ parent context.Context }

func (v *valuesOnly) Deadline() (time.Time, bool) { return time.Time{}, false }
func (v *valuesOnly) Done() <-chan struct{}       { return nil }
func (v *valuesOnly) Err() error                  { return nil }
func (v *valuesOnly) Value(key any) any           { return v.parent.Value(key) }
func (v *valuesOnly) String() string              { return "leaselock.lockValues" }

// heldContext is the context of a write that only the lock's end can
// end: a background heartbeat's (the lock keeps one, with the acquiring
// context's values), or that of a write made under a caller's context
// that is never cancelled (context.Background, WithoutCancel; with the
// caller's values). The lock's Context would cost two allocations that
// last as long as the lock (a client may hold a million locks), and
// context.WithCancelCause two per write and a cancellation afterwards.
//
// Done and AfterFunc hang on the lock's Context, made on first use: an
// in-memory store never asks for them, a network store does. They take
// the lock's mutex, so code that holds it recognises a heldContext with
// heldBy instead of asking for Done. Err is context.Canceled once the
// lock has ended; context.Cause, which finds the nearest cancel context
// through Value, may then give the cause of the values' context instead,
// if that has ended too.
type heldContext struct {
	values context.Context // never cancelled itself: its Done is nil
	l      *Lock
}

func (h *heldContext) Deadline() (time.Time, bool) { return h.values.Deadline() }
func (h *heldContext) Done() <-chan struct{}       { return h.l.Context().Done() }
func (h *heldContext) String() string              { return "leaselock.heldContext" }

func (h *heldContext) Value(key any) any {
	if key == (heldContextKey{}) {
		return h
	}
	return h.values.Value(key)
}

func (h *heldContext) Err() error {
	if h.l.ended.Load() {
		return context.Canceled
	}
	return h.values.Err()
}

// AfterFunc lets a context derived from this one (a network store's
// per-request context) end with the lock, without a goroutine of its own.
func (h *heldContext) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(h.l.Context(), f)
}

type heldContextKey struct{}

// heldBy returns the lock whose heldContext ctx is or derives from (an
// observer wraps the contexts it is given), nil if none.
func heldBy(ctx context.Context) *Lock {
	h, ok := ctx.(*heldContext)
	if !ok {
		h, ok = ctx.Value(heldContextKey{}).(*heldContext)
	}
	if !ok {
		return nil
	}
	return h.l
}
