package conformance

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

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
			switch e.h.SortKeys {
			case SortKeysRequired:
				sorts = []string{"a", "b", "c"}
			case SortKeysOptional:
				sorts = []string{"", "a", "b"}
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
		{name: "Guarded/HoldsUntilCommit", skip: skipUnless(h.GuardedOp != nil && h.GuardedOpDuring != nil,
			"harness supplies no GuardedOpDuring, so the suite cannot act between a guarded write's check and its commit"),
			run: func(t *testing.T, ctx context.Context, e *storeEnv) {
				guardHoldsUntilCommit(t, ctx, e, guarded(t, e.a))
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

// guardPause is how long a guarded write's hook waits for a takeover it
// started. A store that holds the guard until its commit blocks the
// takeover for all of it; a store that does not lets it through at once.
const guardPause = 250 * time.Millisecond

// guardHoldsUntilCommit: from inside an open guarded write (the harness's
// during hook), another handle takes the lock over. Either the store blocks
// the takeover until the write commits (row lock, store mutex), or the
// takeover completes first and the guarded write must then be refused. A
// store that checks the guard and then writes in a separate step lets both
// succeed: the stale holder's write lands after it lost the lock.
func guardHoldsUntilCommit(t *testing.T, ctx context.Context, e *storeEnv, g backend.GuardedWriter) {
	held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
	taken := make(chan error, 1)
	calls, tookDuring := 0, false
	var tookErr error
	during := func() {
		calls++
		if calls > 1 {
			return
		}
		go func() {
			_, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(held.Key, "bob"), ExpectVersion: held.Version})
			taken <- err
		}()
		select {
		case tookErr = <-taken:
			tookDuring = true
		case <-time.After(guardPause):
		}
	}
	ops, written := e.h.GuardedOpDuring(t, e.a, during)
	err := g.WriteGuarded(ctx, backend.Guard{Key: held.Key, Owner: held.Owner, Token: held.Token}, ops)
	require.Equal(t, 1, calls, "the ops must call during exactly once, inside the guarded write")
	if !tookDuring {
		select {
		case tookErr = <-taken:
		case <-ctx.Done():
			require.FailNow(t, "the takeover never completed", "%v", ctx.Err())
		}
	}
	require.NoError(t, tookErr, "the takeover itself must succeed, before or after the guarded write")
	if tookDuring {
		require.ErrorIs(t, err, backend.ErrGuardFailed,
			"another client took the lock over while the guarded write was open, yet the write was not refused")
		require.False(t, written(), "a guarded write committed after its lock was taken over")
		return
	}
	require.NoError(t, err, "the guard held for the whole write")
	require.True(t, written())
}
