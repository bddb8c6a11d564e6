package conformance

import (
	"context"
	"errors"
	"fmt"
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
			sweepWrites(t, ctx, e, netfault.CutAfterRequest)
		}},
		{name: "Errors/CutRequestIsNotApplied", proxied: true, skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			sweepWrites(t, ctx, e, netfault.CutBeforeRequest)
			// The store gets over a cut: pooled connections that were cut
			// must not poison later calls.
			acquireFree(t, ctx, e.a, lease(e.key(), "alice"))
		}},
		{name: "Errors/FailedReadIsUnavailable", proxied: true, skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.b, lease(e.key(), "alice")).Record
			for _, mode := range []netfault.Mode{netfault.CutBeforeRequest, netfault.CutAfterRequest} {
				for n := 0; ; n++ {
					require.Less(t, n, maxExchanges, "a Get that takes more than %d exchanges", maxExchanges)
					var err error
					if !cutAround(t, ctx, e, n, mode, func(ctx context.Context) error {
						_, err = e.a.Get(ctx, held.Key)
						return err
					}) {
						require.NoError(t, err)
						break
					}
					require.ErrorIs(t, err, backend.ErrUnavailable,
						"%v after %d exchanges: a read that failed changed nothing: ErrUnavailable, so the engine retries it", mode, n)
					require.False(t, errors.Is(err, backend.ErrNotFound),
						"%v after %d exchanges: the key exists; a failed read must not say otherwise", mode, n)
				}
			}
			requireStored(t, ctx, e.a, held)
		}},
	}
}

// maxExchanges bounds how many request-answer turns one store call may
// take, for the sweeps below.
const maxExchanges = 20

// sweepWrites makes each kind of write through the proxy, cutting it at
// its first exchange, then its second, and so on until a call completes
// without a cut; a SQL store's transaction is thereby cut before and after
// each of its statements, COMMIT included. After every cut it compares the
// report with what the server holds, read through the direct handle:
//
//   - the write landed: success, ErrAmbiguous, or a conflict carrying the
//     write's own version are true; ErrUnavailable (or any other error)
//     says it did not land;
//   - it did not: ErrUnavailable or ErrAmbiguous; success or a conflict
//     would be a claim about a write the server never ran.
func sweepWrites(t *testing.T, ctx context.Context, e *storeEnv, mode netfault.Mode) {
	for _, w := range proxiedWrites() {
		t.Run(w.name, func(t *testing.T) {
			landings := 0
			for n := 0; ; n++ {
				require.Less(t, n, maxExchanges, "%s takes more than %d exchanges", w.name, maxExchanges)
				key := e.key()
				r := w.do(t, ctx, e, key, n, mode)
				if !r.cut {
					require.NoError(t, r.err, "%s with nothing cut", w.name)
					require.Positive(t, n, "%s: the first exchange was not cut; does the proxied handle use the proxy?", w.name)
					// Cutting the answer to the request that commits
					// leaves the write applied: a sweep that never saw
					// that did not test what it is for.
					require.True(t, mode != netfault.CutAfterRequest || landings > 0,
						"%s: no lost answer left the write applied", w.name)
					return
				}
				at := fmt.Sprintf("%s, %v after %d exchanges", w.name, mode, n)
				if landed(t, ctx, e.b, key, r.wrote) {
					landings++
					requireReportedApplied(t, at, r.err, r.wrote)
					continue
				}
				require.Error(t, r.err, "%s: the write never ran, yet it was reported done", at)
				require.True(t, transient(r.err), "%s: a cut connection must be ErrUnavailable or ErrAmbiguous, got %v", at, r.err)
				require.False(t, errors.Is(r.err, backend.ErrConflict), "%s: nothing was refused, yet: %v", at, r.err)
				if r.prior == nil {
					requireAbsent(t, ctx, e.b, key)
				} else {
					requireStored(t, ctx, e.b, *r.prior)
				}
			}
		})
	}
}

// proxiedWrite is one kind of write made through the proxy: set up key
// through the direct handle, then write through the proxied one while the
// proxy cuts as mode says.
type proxiedWrite struct {
	name string
	do   func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, n int, mode netfault.Mode) writeReport
}

type writeReport struct {
	prior *backend.Record // the record before the write; nil: absent
	wrote string          // the version written; "" for a delete
	err   error           // what the proxied handle reported
	cut   bool            // the proxy cut a connection during the call
}

func proxiedWrites() []proxiedWrite {
	update := func(released bool) func(*testing.T, context.Context, *storeEnv, backend.Key, int, netfault.Mode) writeReport {
		return func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, n int, mode netfault.Mode) writeReport {
			held := acquireFree(t, ctx, e.b, lease(key, "alice")).Record
			next := held
			next.Version, next.Released = newVersion(), released
			r := writeReport{prior: &held, wrote: next.Version}
			r.cut = cutAround(t, ctx, e, n, mode, func(ctx context.Context) error {
				_, r.err = e.a.Update(ctx, next, held.Version)
				return r.err
			})
			return r
		}
	}
	return []proxiedWrite{
		{"acquire", func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, n int, mode netfault.Mode) writeReport {
			rec := lease(key, "alice")
			r := writeReport{wrote: rec.Version}
			r.cut = cutAround(t, ctx, e, n, mode, func(ctx context.Context) error {
				_, r.err = e.a.Acquire(ctx, backend.AcquireRequest{Record: rec})
				return r.err
			})
			return r
		}},
		{"heartbeat", update(false)},
		{"release", update(true)},
		{"delete", func(t *testing.T, ctx context.Context, e *storeEnv, key backend.Key, n int, mode netfault.Mode) writeReport {
			held := acquireFree(t, ctx, e.b, lease(key, "alice")).Record
			r := writeReport{prior: &held}
			r.cut = cutAround(t, ctx, e, n, mode, func(ctx context.Context) error {
				r.err = e.a.Delete(ctx, key, held.Version)
				return r.err
			})
			return r
		}},
	}
}

// cutAround runs call with the proxy passing n requests and then applying
// mode, and reports whether it cut a connection.
func cutAround(t *testing.T, ctx context.Context, e *storeEnv, n int, mode netfault.Mode, call func(context.Context) error) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cuts := e.proxy.Cuts()
	e.proxy.SetModeAfter(n, mode)
	_ = call(ctx)
	e.proxy.SetMode(netfault.Pass)
	return e.proxy.Cuts() > cuts
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

// landed reports, through the direct handle, whether the write that
// wrote version wrote ("" for a delete) is what the server holds.
func landed(t *testing.T, ctx context.Context, s backend.Store, key backend.Key, wrote string) bool {
	t.Helper()
	got, err := s.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return wrote == ""
	}
	require.NoError(t, err)
	return wrote != "" && got.Version == wrote
}
