package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/netfault"
)

// errorCases check how a network store classifies a cut connection, using
// a netfault.Proxy in front of its server. The engine acts on the kind: a
// write reported unavailable is taken as certainly not applied, so a store
// that says so of a write whose answer was lost makes the engine forget a
// lease it holds, or count a key it holds as someone else's.
func errorCases(h StoreHarness) []storeCase {
	skip := skipUnless(h.NewStoresBehindProxy != nil,
		"harness supplies no NewStoresBehindProxy (a store with no network connection has nothing to cut)")
	return []storeCase{
		{name: "Errors/LostAnswerIsAmbiguous", proxied: true, skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			for _, w := range proxiedWrites() {
				t.Run(w.name, func(t *testing.T) {
					key := e.key()
					r := w.do(t, ctx, e, key, netfault.CutAfterRequest)
					requireReportedApplied(t, w.name, r.err, r.wrote)
					requireWriteLanded(t, ctx, e.b, key, r.wrote)
				})
			}
		}},
		{name: "Errors/CutRequestIsNotApplied", proxied: true, skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			for _, w := range proxiedWrites() {
				t.Run(w.name, func(t *testing.T) {
					key := e.key()
					r := w.do(t, ctx, e, key, netfault.CutBeforeRequest)
					require.Error(t, r.err, "%s: the request never reached the server", w.name)
					require.True(t, transient(r.err), "%s: a cut connection must be ErrUnavailable or ErrAmbiguous, got %v", w.name, r.err)
					require.False(t, errors.Is(r.err, backend.ErrConflict), "%s: nothing was checked, yet: %v", w.name, r.err)
					if r.prior == nil {
						requireAbsent(t, ctx, e.b, key)
					} else {
						requireStored(t, ctx, e.b, *r.prior)
					}
				})
			}
			// The store gets over a cut: pooled connections that were cut
			// must not poison later calls.
			acquireFree(t, ctx, e.a, lease(e.key(), "alice"))
		}},
		{name: "Errors/FailedReadIsUnavailable", proxied: true, skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.b, lease(e.key(), "alice")).Record
			for _, mode := range []netfault.Mode{netfault.CutBeforeRequest, netfault.CutAfterRequest} {
				err := cutAround(t, ctx, e, mode, func(ctx context.Context) error {
					_, err := e.a.Get(ctx, held.Key)
					return err
				})
				require.ErrorIs(t, err, backend.ErrUnavailable, "%v: a read that failed changed nothing: ErrUnavailable, so the engine retries it", mode)
				require.False(t, errors.Is(err, backend.ErrNotFound), "%v: the key exists; a failed read must not say otherwise", mode)
			}
			requireStored(t, ctx, e.a, held)
		}},
	}
}

// proxiedWrite is one kind of write made through the proxy: set up key
// through the direct handle, then write through the proxied one while the
// proxy cuts as mode says.
type proxiedWrite struct {
	name string
	do   func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, mode netfault.Mode) writeReport
}

type writeReport struct {
	prior *backend.Record // the record before the write; nil: absent
	wrote string          // the version written; "" for a delete
	err   error           // what the proxied handle reported
}

func proxiedWrites() []proxiedWrite {
	update := func(released bool) func(*testing.T, context.Context, *storeEnv, backend.Key, netfault.Mode) writeReport {
		return func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, mode netfault.Mode) writeReport {
			held := acquireFree(t, ctx, e.b, lease(key, "alice")).Record
			next := held
			next.Version, next.Released = newVersion(), released
			return writeReport{prior: &held, wrote: next.Version, err: cutAround(t, ctx, e, mode, func(ctx context.Context) error {
				_, err := e.a.Update(ctx, next, held.Version)
				return err
			})}
		}
	}
	return []proxiedWrite{
		{"acquire", func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, mode netfault.Mode) writeReport {
			rec := lease(key, "alice")
			return writeReport{wrote: rec.Version, err: cutAround(t, ctx, e, mode, func(ctx context.Context) error {
				_, err := e.a.Acquire(ctx, backend.AcquireRequest{Record: rec})
				return err
			})}
		}},
		{"heartbeat", update(false)},
		{"release", update(true)},
		{"delete", func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, mode netfault.Mode) writeReport {
			held := acquireFree(t, ctx, e.b, lease(key, "alice")).Record
			return writeReport{prior: &held, err: cutAround(t, ctx, e, mode, func(ctx context.Context) error {
				return e.a.Delete(ctx, key, held.Version)
			})}
		}},
	}
}

// cutAround runs call with the proxy in mode, and checks the call went
// through the proxy at all.
func cutAround(t *testing.T, ctx context.Context, e *storeEnv, mode netfault.Mode, call func(context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cuts := e.proxy.Cuts()
	e.proxy.SetMode(mode)
	err := call(ctx)
	e.proxy.SetMode(netfault.Pass)
	require.Greater(t, e.proxy.Cuts(), cuts,
		"the call made no connection through the proxy: NewStoresBehindProxy's first handle must connect to p.Addr() (err: %v)", err)
	return err
}

// requireReportedApplied checks the report of a write whose answer was lost
// after the server acted on it. True reports: success (the store resolved
// it), a conflict carrying this write's own version (a retry refused
// because the first attempt landed; for a delete: the key gone), or
// ErrAmbiguous. ErrUnavailable, or any other error, claims the write was
// not applied.
func requireReportedApplied(t *testing.T, op string, err error, wrote string) {
	t.Helper()
	var ce *backend.ConflictError
	switch {
	case err == nil:
		return
	case errors.As(err, &ce):
		own := (wrote == "" && ce.Current == nil) || (ce.Current != nil && ce.Current.Version == wrote)
		require.True(t, own, "%s: the write landed, yet it was reported refused by another record: %v", op, err)
		return
	}
	require.ErrorIs(t, err, backend.ErrAmbiguous,
		"%s: the server applied the write and its answer was lost; reporting %v tells the engine it was not applied", op, err)
	require.False(t, errors.Is(err, backend.ErrUnavailable),
		"%s: ErrUnavailable promises the write was not applied, and it was: %v", op, err)
}

// requireWriteLanded checks, through the direct handle, that the server did
// apply the write (otherwise the proxy did not do its part, and the
// clause proves nothing).
func requireWriteLanded(t *testing.T, ctx context.Context, s backend.Store, key backend.Key, wrote string) {
	t.Helper()
	if wrote == "" {
		requireAbsent(t, ctx, s, key)
		return
	}
	got, err := s.Get(ctx, key)
	require.NoError(t, err)
	require.Equal(t, wrote, got.Version, "the write should have reached the server before its answer was cut")
}
