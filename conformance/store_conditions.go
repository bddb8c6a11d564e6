package conformance

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// conditionCases check Acquire's condition against every state a key can
// be in: the truth table of docs/store-authors.md, row by row.
func conditionCases() []storeCase {
	return []storeCase{
		{name: "Acquire/Conditions", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			for _, state := range []string{"absent", "held", "released"} {
				for _, expect := range []string{"none", "current", "other"} {
					if state == "absent" && expect == "current" {
						continue // an absent key has no version to name
					}
					for _, mustExist := range []bool{false, true} {
						name := fmt.Sprintf("%s/expect=%s/mustExist=%v", state, expect, mustExist)
						t.Run(name, func(t *testing.T) { acquireRow(t, ctx, e, state, expect, mustExist) })
					}
				}
			}
		}},
		{name: "Acquire/MustExistRefusesHeld", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			// MustExist narrows the free-key condition to "present and
			// released"; it must never widen it to "present".
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			_, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(held.Key, "bob"), MustExist: true})
			requireConflict(t, err, &held)
			requireStored(t, ctx, e.a, held)
			beat := held
			beat.Version = newVersion()
			beat, err = e.a.Update(ctx, beat, held.Version)
			require.NoError(t, err)
			_, err = e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(held.Key, "bob"), MustExist: true})
			requireConflict(t, err, &beat)
			requireStored(t, ctx, e.a, beat)
		}},
	}
}

// acquireRow puts a fresh key in state, acquires it as bob with the given
// condition, and checks the outcome the truth table gives.
func acquireRow(t *testing.T, ctx context.Context, e *storeEnv, state, expect string, mustExist bool) {
	key := e.key()
	var prior *backend.Record
	switch state {
	case "held":
		r := acquireFree(t, ctx, e.a, lease(key, "alice")).Record
		prior = &r
	case "released":
		r := release(t, ctx, e.a, acquireFree(t, ctx, e.a, lease(key, "alice")).Record)
		prior = &r
	}
	req := backend.AcquireRequest{Record: lease(key, "bob"), MustExist: mustExist}
	switch expect {
	case "current":
		req.ExpectVersion = prior.Version
	case "other":
		req.ExpectVersion = "not-" + newVersion()
	}
	wins := expect == "current" ||
		(expect == "none" && (state == "released" || (state == "absent" && !mustExist)))

	got, err := e.b.Acquire(ctx, req)
	if !wins {
		requireConflict(t, err, prior)
		if prior == nil {
			requireAbsent(t, ctx, e.a, key)
		} else {
			requireStored(t, ctx, e.a, *prior)
		}
		return
	}
	require.NoError(t, err, "the condition holds; the acquisition must succeed")
	want := req.Record
	var prev uint64
	if prior == nil {
		require.Nil(t, got.Replaced, "an absent key replaces nothing")
	} else {
		require.NotNil(t, got.Replaced, "the replaced record must be returned")
		requireSameRecord(t, *prior, *got.Replaced)
		prev = prior.Token
	}
	e.requireNextToken(t, prev, got.Record.Token, "the acquisition")
	want.Token = got.Record.Token
	requireSameRecord(t, want, got.Record)
	requireStored(t, ctx, e.a, want)
}
