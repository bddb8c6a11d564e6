package conformance

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// listCases check backend.Lister; each skips when the store lacks it.
func listCases() []storeCase {
	lister := func(t *testing.T, s backend.Store) backend.Lister {
		l, ok := s.(backend.Lister)
		if !ok {
			t.Skipf("%T does not implement backend.Lister", s)
		}
		return l
	}
	return []storeCase{
		{name: "List/All", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			l := lister(t, e.a)
			want := map[string]bool{}
			for range 7 {
				rec := acquireFree(t, ctx, e.b, lease(e.key(), "alice")).Record
				want[rec.Key.Partition] = true
			}
			got := listAll(t, ctx, l, backend.ListRequest{})
			require.Equal(t, want, partitions(got))
		}},
		{name: "List/Pagination", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			l := lister(t, e.a)
			want := map[string]bool{}
			for range 11 {
				rec := acquireFree(t, ctx, e.b, lease(e.key(), "alice")).Record
				want[rec.Key.Partition] = true
			}
			pages := 0
			var got []backend.Record
			req := backend.ListRequest{Limit: 3}
			for {
				page, err := l.List(ctx, req)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page.Records), 3, "a page must respect Limit")
				got = append(got, page.Records...)
				pages++
				require.Less(t, pages, 20, "pagination does not terminate")
				if page.Next == "" {
					break
				}
				req.PageToken = page.Next
			}
			require.GreaterOrEqual(t, pages, 4, "11 records at 3 a page need at least 4 pages")
			require.Len(t, got, 11, "every record exactly once")
			require.Equal(t, want, partitions(got))
		}},
		{name: "List/Partition", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			l := lister(t, e.a)
			p := e.key().Partition
			sorts := []string{""}
			if e.h.SortKeys {
				sorts = []string{"a", "b", "c"}
			}
			for _, s := range sorts {
				acquireFree(t, ctx, e.a, lease(backend.Key{Partition: p, Sort: s}, "alice"))
			}
			acquireFree(t, ctx, e.a, lease(e.key(), "other"))
			got := listAll(t, ctx, l, backend.ListRequest{Partition: p, Limit: 2})
			var gotSorts []string
			for _, r := range got {
				require.Equal(t, p, r.Key.Partition)
				gotSorts = append(gotSorts, r.Key.Sort)
			}
			sort.Strings(gotSorts)
			require.Equal(t, sorts, gotSorts)
		}},
	}
}

func listAll(t *testing.T, ctx context.Context, l backend.Lister, req backend.ListRequest) []backend.Record {
	t.Helper()
	var out []backend.Record
	for range 1000 {
		page, err := l.List(ctx, req)
		require.NoError(t, err)
		out = append(out, page.Records...)
		if page.Next == "" {
			return out
		}
		req.PageToken = page.Next
	}
	require.FailNow(t, "listing did not terminate")
	return nil
}

func partitions(recs []backend.Record) map[string]bool {
	m := map[string]bool{}
	for _, r := range recs {
		m[r.Key.Partition] = true
	}
	return m
}

// guardCases check backend.GuardedWriter; they need the harness's GuardedOp.
func guardCases(h StoreHarness) []storeCase {
	skip := skipUnless(h.GuardedOp != nil, "harness supplies no GuardedOp")
	guarded := func(t *testing.T, s backend.Store) backend.GuardedWriter {
		g, ok := s.(backend.GuardedWriter)
		if !ok {
			t.Skipf("%T does not implement backend.GuardedWriter", s)
		}
		return g
	}
	guardOf := func(r backend.Record) backend.Guard {
		return backend.Guard{Key: r.Key, Owner: r.Owner, Token: r.Token}
	}
	return []storeCase{
		{name: "Guarded/CommitsWhileHeld", skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			g := guarded(t, e.a)
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			beat := held
			beat.Version = newVersion()
			_, err := e.a.Update(ctx, beat, held.Version)
			require.NoError(t, err)
			ops, written := e.h.GuardedOp(t, e.a)
			require.NoError(t, g.WriteGuarded(ctx, guardOf(held), ops), "heartbeats must not invalidate a guard")
			require.True(t, written(), "the guarded write must commit")
		}},
		{name: "Guarded/RefusedAfterTakeover", skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			g := guarded(t, e.a)
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			_, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(held.Key, "bob"), ExpectVersion: held.Version})
			require.NoError(t, err)
			ops, written := e.h.GuardedOp(t, e.a)
			err = g.WriteGuarded(ctx, guardOf(held), ops)
			require.ErrorIs(t, err, backend.ErrGuardFailed)
			require.False(t, written(), "a stale holder's write must not commit")
		}},
		{name: "Guarded/RefusedAfterReleaseAndReacquireBySameOwner", skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			g := guarded(t, e.a)
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			release(t, ctx, e.a, held)
			ops, written := e.h.GuardedOp(t, e.a)
			require.ErrorIs(t, g.WriteGuarded(ctx, guardOf(held), ops), backend.ErrGuardFailed, "released")
			require.False(t, written())
			acquireFree(t, ctx, e.a, lease(held.Key, "alice"))
			ops, written = e.h.GuardedOp(t, e.a)
			require.ErrorIs(t, g.WriteGuarded(ctx, guardOf(held), ops), backend.ErrGuardFailed,
				"same owner, newer token: the old tenure's guard must fail")
			require.False(t, written())
		}},
		{name: "Guarded/RefusedWhenAbsent", skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			g := guarded(t, e.a)
			ops, written := e.h.GuardedOp(t, e.a)
			err := g.WriteGuarded(ctx, backend.Guard{Key: e.key(), Owner: "alice", Token: 1}, ops)
			require.ErrorIs(t, err, backend.ErrGuardFailed, fmt.Sprint(err))
			require.False(t, written())
		}},
	}
}
