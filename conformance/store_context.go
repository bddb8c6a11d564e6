package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// contextCases check what a store says when its context has ended before
// the call: an error wrapping ctx.Err(). A conflict or not-found there
// would be a claim about the record the store never checked, and the
// engine would act on it.
func contextCases() []storeCase {
	return []storeCase{
		{name: "Context/ErrorWrapsCause", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			expired, stop := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			defer stop()
			for _, c := range []struct {
				ctx   context.Context
				cause error
			}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
				fresh := lease(e.key(), "bob")
				_, err := e.a.Acquire(c.ctx, backend.AcquireRequest{Record: fresh})
				requireContextError(t, "Acquire", err, c.cause)
				next := held
				next.Version = newVersion()
				_, err = e.a.Update(c.ctx, next, held.Version)
				requireContextError(t, "Update", err, c.cause)
				requireContextError(t, "Delete", e.a.Delete(c.ctx, held.Key, held.Version), c.cause)
				_, err = e.a.Get(c.ctx, held.Key)
				requireContextError(t, "Get", err, c.cause)
				requireAbsent(t, ctx, e.a, fresh.Key)
				requireStored(t, ctx, e.a, held)
			}
		}},
	}
}

func requireContextError(t *testing.T, op string, err, cause error) {
	t.Helper()
	require.ErrorIs(t, err, cause, "%s with an ended context must return an error wrapping ctx.Err()", op)
	require.False(t, errors.Is(err, backend.ErrConflict) || errors.Is(err, backend.ErrNotFound),
		"%s with an ended context checked nothing, yet claims %v", op, err)
}
