package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/memstore"
)

// brokenStore is a deliberately broken store and the clause written to
// catch it.
type brokenStore struct {
	new      func() backend.Store
	caughtBy string                            // the subtest that must fail
	harness  func(h *conformance.StoreHarness) // declarations beyond the default, if any
}

func onMem(wrap func(*memstore.Store) backend.Store) func() backend.Store {
	return func() backend.Store { return wrap(memstore.New()) }
}

func withFlaw(f flaw) func() backend.Store {
	return func() backend.Store { return newFlawStore(f) }
}

// Deliberately broken stores. Each breaks one clause of the contract; the
// suite must catch every one of them with the clause meant for it, or it
// would pass broken stores too.
var brokenStores = map[string]brokenStore{
	// Compare-and-swap that ignores the expected version.
	"cas-ignores-version": {new: onMem(func(m *memstore.Store) backend.Store { return casIgnoresVersion{m} }),
		caughtBy: "Update/StaleVersionRefused"},
	// Acquisitions that do not advance the fencing token.
	"token-does-not-advance": {new: onMem(func(m *memstore.Store) backend.Store { return frozenToken{m} }),
		caughtBy: "Fencing/StrictlyIncreasing"},
	// Conflicts that do not say who holds the key.
	"conflict-without-record": {new: onMem(func(m *memstore.Store) backend.Store { return bareConflict{m} }),
		caughtBy: "Acquire/HeldKeyRefused"},
	// Acquire reports success but the write is lost.
	"lost-write": {new: onMem(func(m *memstore.Store) backend.Store { return lostWrite{m} }),
		caughtBy: "Acquire/CreateIfAbsent"},
	// A release conditional on the key alone: a holder paused past its
	// lease frees the lock its successor now holds.
	"release-ignores-version": {new: onMem(func(m *memstore.Store) backend.Store { return releaseIgnoresVersion{m} }),
		caughtBy: "Takeover/StaleReleaseRefused"},
	// MustExist read as "if the key exists": takes a live lock.
	"must-exist-takes-held": {new: onMem(func(m *memstore.Store) backend.Store { return mustExistTakesHeld{m} }),
		caughtBy: "Acquire/MustExistRefusesHeld"},
	// The next token computed from a read outside the write's lock.
	"token-from-unlocked-read": {new: withFlaw(flawTokenFromEarlierRead),
		caughtBy: "Fencing/UniqueUnderChurn"},
	// A guarded write that checks the guard, then writes in another step.
	"guard-check-then-write": {new: onMem(func(m *memstore.Store) backend.Store { return guardCheckThenWrite{m} }),
		caughtBy: "Guarded/HoldsUntilCommit"},
	// Acquire replaces the attributes instead of merging them.
	"acquire-overwrites-attributes": {new: withFlaw(flawAcquireOverwritesAttributes),
		caughtBy: "Acquire/AttributesMerge"},
	// KeepData honoured on a released key only, not on a takeover.
	"keep-data-only-when-released": {new: onMem(func(m *memstore.Store) backend.Store { return keepDataOnlyWhenReleased{m} }),
		caughtBy: "Acquire/DataOnAcquire"},
	// A refusal's Current read again after the refusal.
	"current-read-after-refusal": {new: withFlaw(flawCurrentReadAfterRefusal),
		caughtBy: "Race/ConflictCurrentIsAtomic"},
	// Replaced read before the write, outside its lock.
	"replaced-read-before-write": {new: withFlaw(flawReplacedReadBeforeWrite),
		caughtBy: "Race/ReplacedIsAtomic"},
	// A store without sort keys that drops Key.Sort: "p/a" and "p/b"
	// become one lock.
	// A network store that reports every failed call unavailable, also
	// when its request reached the server and only the answer was lost.
	"lost-answer-reported-unavailable": {caughtBy: "Errors/LostAnswerIsAmbiguous", harness: httpHarness(true)},
	// Commit and release that applies the ops before checking the lock:
	// a stale holder's writes land although its release is refused.
	"commit-applies-before-check": {new: onMem(func(m *memstore.Store) backend.Store { return commitBeforeCheck{m} }),
		caughtBy: "CommitRelease/StaleRefusedNothingApplied"},
	// Commit and release that releases although the ops failed.
	"commit-releases-despite-failure": {new: onMem(func(m *memstore.Store) backend.Store { return commitIgnoresFailure{m} }),
		caughtBy: "CommitRelease/FailingOpsApplyNothing"},
	// Tokens that may skip: declaring TokensMaySkip must not let a token
	// that does not advance through.
	"token-does-not-advance-though-may-skip": {new: onMem(func(m *memstore.Store) backend.Store { return frozenToken{m} }),
		caughtBy: "Fencing/StrictlyIncreasing", harness: mayskip},
	// Sequence tokens drawn before the write: a later tenure of a key can
	// get a smaller token than an earlier one.
	"sequence-drawn-before-write": {new: withFlaw(flawSequenceDrawnBeforeWrite),
		caughtBy: "Fencing/UniqueUnderChurn", harness: mayskip},
	// Sequence tokens, correct but skipping, without TokensMaySkip: the
	// exact-successor clauses must see the skips (the pair of
	// TestSequenceTokensPassWhenDeclared).
	"sequence-undeclared": {new: func() backend.Store { return newSequenceStore(flawNone) },
		caughtBy: "Race/AcquireOneWinner"},
	"sort-key-dropped": {new: onMem(func(m *memstore.Store) backend.Store { return sortKeyDropped{m} }),
		caughtBy: "Keys/SortKeyRefusedWithoutSortKeys",
		harness:  func(h *conformance.StoreHarness) { h.SortKeys = conformance.SortKeysNone }},
}

func mayskip(h *conformance.StoreHarness) { h.TokensMaySkip = true }

type casIgnoresVersion struct{ *memstore.Store }

func (s casIgnoresVersion) Update(ctx context.Context, rec backend.Record, _ string) (backend.Record, error) {
	cur, err := s.Store.Get(ctx, rec.Key)
	if err != nil {
		return s.Store.Update(ctx, rec, "")
	}
	return s.Store.Update(ctx, rec, cur.Version)
}

type frozenToken struct{ *memstore.Store }

func (s frozenToken) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := s.Store.Acquire(ctx, req)
	if err == nil && got.Replaced != nil {
		got.Record.Token = got.Replaced.Token
	}
	return got, err
}

type bareConflict struct{ *memstore.Store }

func strip(err error) error {
	if ce, ok := err.(*backend.ConflictError); ok {
		return &backend.ConflictError{Key: ce.Key}
	}
	return err
}

func (s bareConflict) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := s.Store.Acquire(ctx, req)
	return got, strip(err)
}

func (s bareConflict) Update(ctx context.Context, rec backend.Record, v string) (backend.Record, error) {
	got, err := s.Store.Update(ctx, rec, v)
	return got, strip(err)
}

type lostWrite struct{ *memstore.Store }

func (s lostWrite) Acquire(_ context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	rec := req.Record
	rec.Token = 1
	return backend.Acquired{Record: rec}, nil
}

type releaseIgnoresVersion struct{ *memstore.Store }

func (s releaseIgnoresVersion) Update(ctx context.Context, rec backend.Record, v string) (backend.Record, error) {
	if cur, err := s.Store.Get(ctx, rec.Key); err == nil && rec.Released {
		v = cur.Version
	}
	return s.Store.Update(ctx, rec, v)
}

type mustExistTakesHeld struct{ *memstore.Store }

func (s mustExistTakesHeld) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	if cur, err := s.Store.Get(ctx, req.Record.Key); err == nil && req.MustExist && req.ExpectVersion == "" {
		req.ExpectVersion = cur.Version
	}
	return s.Store.Acquire(ctx, req)
}

type keepDataOnlyWhenReleased struct{ *memstore.Store }

func (s keepDataOnlyWhenReleased) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	if req.ExpectVersion != "" {
		req.KeepData = false
	}
	return s.Store.Acquire(ctx, req)
}

type guardCheckThenWrite struct{ *memstore.Store }

func (s guardCheckThenWrite) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	cur, err := s.Store.Get(ctx, g.Key)
	if err != nil || cur.Released || cur.Owner != g.Owner || cur.Token != g.Token {
		return fmt.Errorf("%w: %v", backend.ErrGuardFailed, err)
	}
	return ops.(func() error)()
}

var errOpFailed = errors.New("conformance_test: the application's write failed")

type commitBeforeCheck struct{ *memstore.Store }

func (s commitBeforeCheck) CommitRelease(ctx context.Context, req backend.CommitReleaseRequest) error {
	if err := req.Ops.(func() error)(); err != nil {
		return err
	}
	req.Ops = func() error { return nil }
	return s.Store.CommitRelease(ctx, req)
}

type commitIgnoresFailure struct{ *memstore.Store }

func (s commitIgnoresFailure) CommitRelease(ctx context.Context, req backend.CommitReleaseRequest) error {
	ops := req.Ops.(func() error)
	req.Ops = func() error { _ = ops(); return nil }
	return s.Store.CommitRelease(ctx, req)
}

type sortKeyDropped struct{ *memstore.Store }

func drop(k backend.Key) backend.Key { return backend.Key{Partition: k.Partition} }

func (s sortKeyDropped) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	return s.Store.Get(ctx, drop(key))
}

func (s sortKeyDropped) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	req.Record.Key = drop(req.Record.Key)
	return s.Store.Acquire(ctx, req)
}

func (s sortKeyDropped) Update(ctx context.Context, rec backend.Record, v string) (backend.Record, error) {
	rec.Key = drop(rec.Key)
	return s.Store.Update(ctx, rec, v)
}

func (s sortKeyDropped) Delete(ctx context.Context, key backend.Key, v string) error {
	return s.Store.Delete(ctx, drop(key), v)
}

const brokenEnv = "LEASELOCK_BROKEN_STORE"

// TestBrokenStoresAreCaught runs the suite on each broken store in a child
// process (a failing suite must not fail this test) and requires it to fail
// in the clause meant for that breakage.
func TestBrokenStoresAreCaught(t *testing.T) {
	failLine := regexp.MustCompile(`--- FAIL: TestBrokenStoreChild/(\S+)`)
	for name, b := range brokenStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the suite passed a store that is broken (%s):\n%s", name, out)
			var clauses []string
			for _, m := range failLine.FindAllStringSubmatch(string(out), -1) {
				clauses = append(clauses, m[1])
			}
			require.True(t, slices.Contains(clauses, b.caughtBy),
				"%s must fail %s; it failed %v:\n%s", name, b.caughtBy, clauses, out)
			t.Logf("%s caught by %s (%d failing clauses: %v)", name, b.caughtBy, len(clauses), clauses)
		})
	}
}

// TestBrokenStoreChild is the child half of TestBrokenStoresAreCaught; it does
// nothing unless that test started it.
func TestBrokenStoreChild(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("runs only as the child of TestBrokenStoresAreCaught")
	}
	b := brokenStores[name]
	h := conformance.StoreHarness{
		NewStores: func(*testing.T) (backend.Store, backend.Store) {
			s := b.new()
			return s, s
		},
		SortKeys:        conformance.SortKeysOptional,
		GuardedOpDuring: funcOps,
		FailingOp:       func(*testing.T, backend.Store) any { return func() error { return errOpFailed } },
		Races:           100,
	}
	if b.harness != nil {
		b.harness(&h)
	}
	conformance.RunStore(t, h)
}

// TestFlawStoreIsCorrectWithoutItsFlaw shows the test store itself passes,
// so each flaw alone is what the suite catches.
func TestFlawStoreIsCorrectWithoutItsFlaw(t *testing.T) {
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores: func(*testing.T) (backend.Store, backend.Store) { s := newFlawStore(flawNone); return s, s },
		SortKeys:  conformance.SortKeysOptional,
		Races:     100,
	})
}

// TestSequenceTokensPassWhenDeclared: tokens from one counter shared by
// all keys and stores skip, and pass where the harness declares
// TokensMaySkip (and only there: see sequence-undeclared above).
func TestSequenceTokensPassWhenDeclared(t *testing.T) {
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores:     func(*testing.T) (backend.Store, backend.Store) { s := newSequenceStore(flawNone); return s, s },
		SortKeys:      conformance.SortKeysOptional,
		Races:         100,
		TokensMaySkip: true,
	})
}

// funcOps are guarded ops for memstore and its wrappers: a func() error
// the store runs under its lock once the guard was checked.
func funcOps(_ *testing.T, _ backend.Store, during func()) (any, func() bool) {
	var wrote atomic.Bool
	return func() error { during(); wrote.Store(true); return nil }, wrote.Load
}
