package conformance

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// commitCases check backend.ReleaseCommitter: the application's writes and
// the release commit together or not at all. They use the harness's
// GuardedOp for the writes (the ops type is the same) and FailingOp for
// writes that fail.
func commitCases(h StoreHarness) []storeCase {
	skip := skipUnless(h.GuardedOp != nil || h.GuardedOpDuring != nil, "harness supplies no GuardedOp")
	committer := func(t *testing.T, s backend.Store) backend.ReleaseCommitter {
		rc, ok := s.(backend.ReleaseCommitter)
		if !ok {
			t.Skipf("%T does not implement backend.ReleaseCommitter", s)
		}
		return rc
	}
	released := func(held backend.Record) backend.Record {
		next := held
		next.Version, next.Released = newVersion(), true
		return next
	}
	return []storeCase{
		{name: "CommitRelease/AppliesAndReleases", skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rc := committer(t, e.a)
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			ops, written := e.h.guardedOp()(t, e.a)
			next := released(held)
			require.NoError(t, rc.CommitRelease(ctx, backend.CommitReleaseRequest{Record: next, ExpectVersion: held.Version, Ops: ops}))
			require.True(t, written(), "the application's writes must commit")
			got, err := e.b.Get(ctx, held.Key)
			require.NoError(t, err)
			require.True(t, got.Released, "and the lock must be released in the same step")
			require.Equal(t, next.Version, got.Version, "the version is written as given")
			require.Equal(t, held.Token, got.Token, "the release keeps the fencing token")
			took := acquireFree(t, ctx, e.b, lease(held.Key, "bob"))
			e.requireNextToken(t, held.Token, took.Record.Token, "the acquisition after a commit-and-release")
		}},
		{name: "CommitRelease/StaleRefusedNothingApplied", skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rc := committer(t, e.a)
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			took, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(held.Key, "bob"), ExpectVersion: held.Version})
			require.NoError(t, err)
			ops, written := e.h.guardedOp()(t, e.a)
			err = rc.CommitRelease(ctx, backend.CommitReleaseRequest{Record: released(held), ExpectVersion: held.Version, Ops: ops})
			var ce *backend.ConflictError
			require.ErrorAs(t, err, &ce, "a stale holder's commit and release must be refused")
			require.NotNil(t, ce.Current)
			require.Equal(t, took.Record.Version, ce.Current.Version, "the conflict carries the current record")
			require.False(t, written(), "none of the stale holder's writes may commit")
			got, err := e.b.Get(ctx, held.Key)
			require.NoError(t, err)
			require.True(t, got.Equal(took.Record), "the new holder's record is untouched: %+v", got)
		}},
		{name: "CommitRelease/Delete", skip: skip, run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rc := committer(t, e.a)
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			ops, written := e.h.guardedOp()(t, e.a)
			require.NoError(t, rc.CommitRelease(ctx, backend.CommitReleaseRequest{Record: released(held),
				ExpectVersion: held.Version, Delete: true, Ops: ops}))
			require.True(t, written())
			_, err := e.b.Get(ctx, held.Key)
			require.ErrorIs(t, err, backend.ErrNotFound, "the record is deleted with the commit")
		}},
		{name: "CommitRelease/FailingOpsApplyNothing", skip: skipUnless(h.FailingOp != nil, "harness supplies no FailingOp"),
			run: func(t *testing.T, ctx context.Context, e *storeEnv) {
				rc := committer(t, e.a)
				held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
				err := rc.CommitRelease(ctx, backend.CommitReleaseRequest{Record: released(held),
					ExpectVersion: held.Version, Ops: h.FailingOp(t, e.a)})
				require.Error(t, err, "the application's writes failed")
				require.False(t, errors.Is(err, backend.ErrConflict), "not a conflict: the lock was fine: %v", err)
				got, gerr := e.b.Get(ctx, held.Key)
				require.NoError(t, gerr)
				require.True(t, got.Equal(held), "the lock must be unchanged, still held: %+v", got)
			}},
	}
}
