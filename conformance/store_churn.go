package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// churnCases race both handles through many acquisitions of one key and
// check what no sequential test can: that the token, the replaced record
// and a conflict's current record all come from the one atomic step that
// checked the condition. A store that reads in one step and writes in
// another passes every sequential clause and fails here.
func churnCases(h StoreHarness) []storeCase {
	return []storeCase{
		{name: "Fencing/UniqueUnderChurn", run: fencingUnderChurn},
		{name: "Race/ReplacedIsAtomic", run: replacedUnderChurn},
		{name: "Race/ConflictCurrentIsAtomic", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			t.Run("refused-acquire", func(t *testing.T) { currentOfRefusedAcquire(t, ctx, e) })
			t.Run("refused-update", func(t *testing.T) { currentOfRefusedUpdate(t, ctx, e) })
		}, skip: skipUnless(!h.ConflictReadsBack,
			"harness declares ConflictReadsBack: the store reads Current after a refusal, in a separate step")},
	}
}

// churnRounds is how many attempts each handle makes in a churn clause.
func churnRounds(e *storeEnv) int { return max(races(e)/4, 50) }

// churn runs work on both handles at once, round after round, and fails
// the test with the first error either returns. The rounds start together:
// two free-running loops often do not overlap at all on a fast store. On an
// in-process store the calls may still run one after the other; a store
// call that blocks (network, disk, a yield between two steps) interleaves.
func churn(t *testing.T, e *storeEnv, work func(who int, s backend.Store, round int) error) {
	t.Helper()
	for i := range churnRounds(e) {
		errA, errB := race(func() error { return work(0, e.a, i) }, func() error { return work(1, e.b, i) })
		if err := errors.Join(errA, errB); err != nil {
			require.NoError(t, err, "round %d", i)
		}
	}
}

// outcome is what the suite can tell about one conditional write.
type outcome struct {
	applied  bool
	answered bool                   // applied, and the store's own answer says so (not a read-back)
	stored   *backend.Record        // the record read back or carried by a conflict, when applied so
	conflict *backend.ConflictError // refused
}

// settleWrite resolves a write's result as the engine does: a conflict
// naming the version written is that write, applied (a client's retry after
// a lost answer); a transient error is resolved by reading the record back.
// A write that read-back shows absent or replaced counts as not applied:
// in the churn clauses nobody but its writer changes a record before the
// writer learns of it, so that is exact there.
func settleWrite(ctx context.Context, s backend.Store, key backend.Key, wrote string, err error) (outcome, error) {
	var ce *backend.ConflictError
	switch {
	case err == nil:
		return outcome{applied: true, answered: true}, nil
	case errors.As(err, &ce):
		if ce.Current != nil && ce.Current.Version == wrote {
			return outcome{applied: true, stored: ce.Current}, nil
		}
		return outcome{conflict: ce}, nil
	case !transient(err):
		return outcome{}, err
	}
	for range 10 {
		rec, gerr := s.Get(ctx, key)
		switch {
		case gerr == nil && rec.Version == wrote:
			return outcome{applied: true, stored: &rec}, nil
		case gerr == nil || errors.Is(gerr, backend.ErrNotFound):
			return outcome{}, nil
		case !transient(gerr):
			return outcome{}, gerr
		}
	}
	return outcome{}, fmt.Errorf("write outcome unknown and read-back keeps failing: %w", err)
}

// releaseHeld marks rec released, retrying transient failures; refused says
// another acquisition replaced rec first.
func releaseHeld(ctx context.Context, s backend.Store, rec backend.Record) (refused *backend.ConflictError, err error) {
	next := rec
	next.Released = true
	for range 10 {
		next.Version = newVersion()
		_, err := s.Update(ctx, next, rec.Version)
		o, err := settleWrite(ctx, s, rec.Key, next.Version, err)
		switch {
		case err != nil:
			return nil, err
		case o.applied:
			return nil, nil
		case o.conflict != nil:
			return o.conflict, nil
		}
	}
	return nil, fmt.Errorf("release of %q kept failing", rec.Key)
}

// tokenRule states what the harness requires of a token after another.
func tokenRule(h StoreHarness) string {
	if h.TokensMaySkip {
		return "it must be larger"
	}
	return "it must advance by exactly one"
}

// grant is one acquisition seen in a churn.
type grant struct {
	who, round int
	token      uint64
	start, end time.Time // the call's span on this host's clock
}

func fencingUnderChurn(t *testing.T, ctx context.Context, e *storeEnv) {
	key := e.key()
	var mu sync.Mutex
	var grants []grant
	churn(t, e, func(who int, s backend.Store, round int) error {
		rec := lease(key, fmt.Sprint("owner-", who))
		start := time.Now()
		got, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
		end := time.Now()
		o, err := settleWrite(ctx, s, key, rec.Version, err)
		if err != nil || !o.applied {
			return err
		}
		held := got.Record
		if o.stored != nil {
			// Resolved by reading back: the write may have landed after
			// the call returned, but before the read.
			held, end = *o.stored, time.Now()
		}
		if o.answered && got.Replaced != nil && !e.h.nextTokenOK(got.Replaced.Token, held.Token) {
			return fmt.Errorf("token %d replaced a record with token %d: %s", held.Token, got.Replaced.Token, tokenRule(e.h))
		}
		mu.Lock()
		grants = append(grants, grant{who: who, round: round, token: held.Token, start: start, end: end})
		mu.Unlock()
		if ce, err := releaseHeld(ctx, s, held); err != nil || ce != nil {
			return errors.Join(err, fmt.Errorf("the holder's release was refused (nobody else can change a held key here): %v", ce))
		}
		return nil
	})
	require.NotEmpty(t, grants, "no acquisition succeeded")
	byToken := map[uint64]grant{}
	last := map[int]grant{}
	for _, g := range grants {
		if o, dup := byToken[g.token]; dup {
			require.FailNow(t, "a fencing token was granted twice",
				"token %d went to handle %d (round %d) and to handle %d (round %d)", g.token, o.who, o.round, g.who, g.round)
		}
		byToken[g.token] = g
		// Each handle's grants were appended in its own order.
		if p, ok := last[g.who]; ok {
			require.Greater(t, g.token, p.token, "handle %d got token %d in round %d after token %d in round %d",
				g.who, g.token, g.round, p.token, p.round)
		}
		last[g.who] = g
	}
	// Tokens follow real time: an acquisition that ended before another
	// began has the smaller token, whichever handle made them.
	for _, g := range grants {
		for _, h := range grants {
			if g.end.Before(h.start) && g.token >= h.token {
				require.FailNow(t, "fencing tokens out of real-time order", "handle %d's acquisition (token %d) ended before handle %d's (token %d) began",
					g.who, g.token, h.who, h.token)
			}
		}
	}
	t.Logf("%d acquisitions in %d attempts", len(grants), 2*churnRounds(e))
}

func replacedUnderChurn(t *testing.T, ctx context.Context, e *storeEnv) {
	key := e.key()
	var mu sync.Mutex
	replacedBy := map[string]int{} // replaced version ("" for the absent key) -> handle
	churn(t, e, func(who int, s backend.Store, round int) error {
		req := backend.AcquireRequest{Record: lease(key, fmt.Sprint("owner-", who))}
		cur, err := s.Get(ctx, key)
		switch {
		case err == nil && (!cur.Released || round%2 == 1):
			req.ExpectVersion = cur.Version // a takeover, of a held or a released record
		case err != nil && !errors.Is(err, backend.ErrNotFound):
			if transient(err) {
				return nil
			}
			return err
		}
		got, err := s.Acquire(ctx, req)
		o, err := settleWrite(ctx, s, key, req.Record.Version, err)
		if err != nil || !o.answered {
			return err // refused, or applied without an answer to check
		}
		rep := got.Replaced
		switch {
		case req.ExpectVersion != "" && (rep == nil || rep.Version != req.ExpectVersion):
			return fmt.Errorf("a takeover of version %q reports replacing %s", req.ExpectVersion, describe(rep))
		case req.ExpectVersion == "" && rep != nil && !rep.Released:
			return fmt.Errorf("a free-key acquisition reports replacing a held record %s", describe(rep))
		case rep != nil && !e.h.nextTokenOK(rep.Token, got.Record.Token):
			return fmt.Errorf("token %d, but the replaced record %s has token %d: %s", got.Record.Token, describe(rep), rep.Token, tokenRule(e.h))
		case rep == nil && !e.h.nextTokenOK(0, got.Record.Token):
			return fmt.Errorf("token %d for a key that was absent: %s", got.Record.Token, tokenRule(e.h))
		}
		replaced := ""
		if rep != nil {
			replaced = rep.Version
		}
		mu.Lock()
		other, twice := replacedBy[replaced]
		replacedBy[replaced] = who
		mu.Unlock()
		if twice {
			return fmt.Errorf("handle %d and handle %d both report replacing %s: one atomic step replaces a record once",
				other, who, describe(rep))
		}
		if round%3 != 2 {
			_, err = releaseHeld(ctx, s, got.Record) // the other handle may have taken it over already
		}
		return err
	})
	t.Logf("%d acquisitions in %d attempts", len(replacedBy), 2*churnRounds(e))
	require.NotEmpty(t, replacedBy, "no acquisition succeeded")
}

// currentOfRefusedAcquire: a free-key acquisition is refused only when the
// key is held, so the record its conflict carries must be held. A store
// that reads Current after the refusal may find the key released by then.
func currentOfRefusedAcquire(t *testing.T, ctx context.Context, e *storeEnv) {
	key := e.key()
	refusals := 0
	var mu sync.Mutex
	churn(t, e, func(who int, s backend.Store, _ int) error {
		rec := lease(key, fmt.Sprint("owner-", who))
		got, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
		o, err := settleWrite(ctx, s, key, rec.Version, err)
		switch {
		case err != nil:
			return err
		case o.conflict != nil:
			mu.Lock()
			refusals++
			mu.Unlock()
			if c := o.conflict.Current; c == nil || c.Released {
				return fmt.Errorf("a free-key acquisition was refused with Current %s: a refusal means the key was held",
					describe(c))
			}
			return nil
		case !o.applied:
			return nil
		}
		held := got.Record
		if o.stored != nil {
			held = *o.stored
		}
		if ce, err := releaseHeld(ctx, s, held); err != nil || ce != nil {
			return errors.Join(err, fmt.Errorf("the holder's release was refused: %v", ce))
		}
		return nil
	})
	t.Logf("%d refusals checked", refusals)
}

// currentOfRefusedUpdate: an Update refused for expecting version X cannot
// report a current record at version X. One handle flips the record
// between two versions X and Y (versions are the caller's, so they may
// recur); the other keeps writing with X expected. A store that reads
// Current after the refusal will sooner or later find X back.
func currentOfRefusedUpdate(t *testing.T, ctx context.Context, e *storeEnv) {
	first := lease(e.key(), "flipper")
	x, y := first.Version, newVersion()
	cur := acquireFree(t, ctx, e.a, first).Record
	churn(t, e, func(who int, s backend.Store, _ int) error {
		if who == 0 { // the flipper: X -> Y -> X ..., resuming from whatever a refusal shows
			expect, next := cur.Version, cur
			next.Version = x
			if expect == x {
				next.Version = y
			}
			_, err := s.Update(ctx, next, expect)
			o, err := settleWrite(ctx, s, cur.Key, next.Version, err)
			switch {
			case err != nil:
				return err
			case o.applied:
				cur = next
			case o.conflict != nil && o.conflict.Current != nil:
				if o.conflict.Current.Version == expect {
					return fmt.Errorf("an Update expecting %q was refused with a current record at that very version", expect)
				}
				cur = *o.conflict.Current
			}
			return nil
		}
		next := first
		next.Owner, next.Version = "writer", newVersion()
		_, err := s.Update(ctx, next, x)
		o, err := settleWrite(ctx, s, first.Key, next.Version, err)
		switch {
		case err != nil:
			return err
		case o.conflict != nil && o.conflict.Current != nil && o.conflict.Current.Version == x:
			return fmt.Errorf("an Update expecting %q was refused with a current record at that very version", x)
		}
		return nil
	})
}

func describe(r *backend.Record) string {
	if r == nil {
		return "<none>"
	}
	return fmt.Sprintf("{owner %q, version %q, token %d, released %v}", r.Owner, r.Version, r.Token, r.Released)
}
