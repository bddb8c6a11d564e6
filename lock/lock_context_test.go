package lock_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// TestLockContextKeepsAcquiringValues: the work run under Lock.Context sees
// the acquiring context's values (trace IDs, request-scoped data), but not
// its deadline or cancellation: the lock's context ends when the lock
// does, and only then, with the lock's Err as its cause.
func TestLockContextKeepsAcquiringValues(t *testing.T) {
	for _, observed := range []bool{false, true} {
		name := "plain"
		var opts []lock.Option
		if observed {
			name = "observed"
			// The observer adds a value for the Acquire; the lock's context
			// must not keep it: the Acquire is over.
			opts = append(opts, lock.WithObserver(&recorder{}))
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newClient(t, memstore.New(), "alice", opts...)
				base := context.WithValue(context.Background(), ctxTag{}, "request-7")
				actx, cancel := context.WithTimeout(base, time.Minute)
				l, err := c.Acquire(actx, "k")
				require.NoError(t, err)

				lctx := l.Context()
				require.Equal(t, "request-7", lctx.Value(ctxTag{}))
				require.Nil(t, lctx.Value(opNameKey{}), "the observer's Acquire-only value is not kept")
				_, hasDeadline := lctx.Deadline()
				require.False(t, hasDeadline, "the acquiring deadline does not bound the lock")

				cancel()
				time.Sleep(2 * time.Minute) // past the acquiring deadline; heartbeats go on
				require.NoError(t, lctx.Err(), "cancelling the acquiring context does not end the lock")
				require.NoError(t, l.Err())

				// A context derived from the lock's still ends with it.
				child, stop := context.WithCancel(lctx)
				defer stop()
				require.NoError(t, l.Release(context.Background()))
				<-lctx.Done()
				<-child.Done()
				require.ErrorIs(t, context.Cause(lctx), lock.ErrReleased)
				require.ErrorIs(t, context.Cause(child), lock.ErrReleased)
			})
		})
	}
}

// TestLockContextEndsOnLoss: a loss still cancels the lock's context with
// the *LostError, whatever the acquiring context was.
func TestLockContextEndsOnLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := memstore.New()
		c := newClient(t, mem, "alice")
		ctx := context.WithValue(context.Background(), ctxTag{}, "request-7")
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		overwrite(t, mem, "k")
		<-l.Context().Done()
		require.ErrorIs(t, context.Cause(l.Context()), lock.ErrStolen)
		require.Equal(t, "request-7", l.Context().Value(ctxTag{}))
	})
}

// tagHandler is a slog handler that keeps each record's message and the
// ctxTag value of the context it was logged with.
type tagHandler struct {
	mu   *sync.Mutex
	tags map[string]any
}

func (h tagHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h tagHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tags[r.Message] = ctx.Value(ctxTag{})
	return nil
}
func (h tagHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h tagHandler) WithGroup(string) slog.Handler      { return h }

// TestLogsCarryTheCallersContext: a handler that adds trace IDs from the
// context finds the caller's values in the engine's records, also in those
// a background heartbeat logs about a lock long after Acquire returned.
func TestLogsCarryTheCallersContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := tagHandler{mu: &sync.Mutex{}, tags: map[string]any{}}
		mem := memstore.New()
		c := newClient(t, mem, "alice", lock.WithLogger(slog.New(h)))
		ctx := context.WithValue(context.Background(), ctxTag{}, "request-7")
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		overwrite(t, mem, "k")
		<-l.Done()
		synctest.Wait() // the goroutine that ended it finishes its reports

		h.mu.Lock()
		defer h.mu.Unlock()
		require.Equal(t, "request-7", h.tags["leaselock: acquired"])
		require.Equal(t, "request-7", h.tags["leaselock: lock lost"])
	})
}
