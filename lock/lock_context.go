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
