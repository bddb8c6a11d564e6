package lock

import (
	"context"
	"errors"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// outcome is what the engine knows about one conditional write.
type outcome int

const (
	applied outcome = iota // the write is in the store
	refused                // the condition failed; current says what is there
	notSent                // certainly not applied (unavailable, invalid, cancelled before sending)
	unknown                // may or may not be applied; reads could not tell
)

// settled is the resolved result of a write.
type settled struct {
	outcome outcome
	current *backend.Record // refused: the record now (nil: absent); applied: the record when known
	err     error           // the store error, for notSent and unknown
	// mayHaveLanded: refused, but the write may have been applied before
	// current was written (it was resolved by a read, or the store retried
	// it by itself). Only the lease can then tell whose write came first.
	mayHaveLanded bool
}

// settle turns a store error into an outcome, resolving ambiguity instead
// of guessing (invariant 6). A conflict whose current record carries the
// version we tried to write is our own write, applied: the SDK retried a
// request whose response was lost. A conflict the store marks MaybeApplied
// is refused but may have landed first. An ambiguous error is resolved by
// reading the record back.
func (c *Client) settle(ctx context.Context, key backend.Key, wrote string, err error) settled {
	if err == nil {
		return settled{outcome: applied}
	}
	var ce *backend.ConflictError
	switch {
	case errors.As(err, &ce):
		if ce.Current != nil && ce.Current.Version == wrote {
			return c.resolved(ctx, key, settled{outcome: applied, current: ce.Current}, true)
		}
		return c.resolved(ctx, key, settled{outcome: refused, current: ce.Current, mayHaveLanded: ce.MaybeApplied}, ce.MaybeApplied)
	case errors.Is(err, backend.ErrAmbiguous):
		return c.resolved(ctx, key, c.readBack(ctx, key, wrote, err), true)
	default:
		return settled{outcome: notSent, err: err}
	}
}

// readBack resolves an ambiguous write by reading the record, retrying
// reads that fail for a transient reason until ctx ends.
func (c *Client) readBack(ctx context.Context, key backend.Key, wrote string, cause error) settled {
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		rec, err := c.store.Get(ctx, key)
		switch {
		case err == nil && rec.Version == wrote:
			return settled{outcome: applied, current: &rec}
		case err == nil:
			return settled{outcome: refused, current: &rec, mayHaveLanded: true}
		case errors.Is(err, backend.ErrNotFound):
			return settled{outcome: refused, mayHaveLanded: true}
		}
		if attempt >= 5 || c.sleep(ctx, backoff) != nil {
			return settled{outcome: unknown, err: errors.Join(cause, err)}
		}
		backoff *= 2
	}
}
