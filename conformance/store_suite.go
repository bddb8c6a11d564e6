package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/netfault"
)

// RunStore runs every clause of the backend.Store contract against the
// stores h supplies. Each clause is its own subtest with a watchdog.
func RunStore(t *testing.T, h StoreHarness) {
	t.Helper()
	require.NotNil(t, h.NewStores, "StoreHarness.NewStores is required")
	h.GuardedOp = h.guardedOp()
	for _, c := range storeCases(h) {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			e := &storeEnv{h: h}
			if c.proxied {
				e.a, e.b, e.proxy = h.NewStoresBehindProxy(t)
				require.NotNil(t, e.proxy)
			} else {
				e.a, e.b = h.NewStores(t)
			}
			require.NotNil(t, e.a)
			require.NotNil(t, e.b)
			withWatchdog(t, caseTimeout, func(ctx context.Context) { c.run(t, ctx, e) })
		})
	}
}

// storeEnv is what one store subtest works with.
type storeEnv struct {
	h     StoreHarness
	a, b  backend.Store
	proxy *netfault.Proxy // for a proxied case: a is behind it, b is not
	n     atomic.Int64
}

// nextTokenOK says whether token may follow prev (0: none before): one
// more, or, where the harness declares TokensMaySkip, any larger token.
func (h StoreHarness) nextTokenOK(prev, token uint64) bool {
	if h.TokensMaySkip {
		return token > prev
	}
	return token == prev+1
}

// requireNextToken fails the test unless token may follow prev.
func (e *storeEnv) requireNextToken(t *testing.T, prev, token uint64, what string) {
	t.Helper()
	if e.h.nextTokenOK(prev, token) {
		return
	}
	want := fmt.Sprintf("exactly %d", prev+1)
	if e.h.TokensMaySkip {
		want = fmt.Sprintf("above %d", prev)
	}
	require.FailNow(t, "fencing token out of sequence", "%s: token %d, want %s", what, token, want)
}

// key returns a key unique within the test.
func (e *storeEnv) key() backend.Key {
	return e.keyOf(fmt.Sprintf("conformance-%d", e.n.Add(1)))
}

// keyOf returns the key for partition p as the store declares keys: with a
// sort value where one is required (DynamoDB tables with a sort key), and
// with or without one, depending on p, where it is optional, so every
// clause runs on both shapes of key.
func (e *storeEnv) keyOf(p string) backend.Key {
	switch e.h.SortKeys {
	case SortKeysRequired:
		return backend.Key{Partition: p, Sort: "s"}
	case SortKeysOptional:
		if len(p)%2 == 1 {
			return backend.Key{Partition: p, Sort: "s"}
		}
	}
	return backend.Key{Partition: p}
}

type storeCase struct {
	name    string
	skip    string // non-empty: the store did not declare the capability
	proxied bool   // the stores come from NewStoresBehindProxy
	run     func(t *testing.T, ctx context.Context, e *storeEnv)
}

// lease builds a record for key as owner with a fresh version.
func lease(key backend.Key, owner string) backend.Record {
	return backend.Record{Key: key, Owner: owner, Version: newVersion(), LeaseDuration: 20 * time.Second}
}

func newVersion() string { return rand.Text() }

// acquireFree acquires a free key and checks the result is well formed.
func acquireFree(t *testing.T, ctx context.Context, s backend.Store, rec backend.Record) backend.Acquired {
	t.Helper()
	got, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
	require.NoError(t, err, "acquire of a free key")
	require.Equal(t, rec.Version, got.Record.Version)
	require.False(t, got.Record.Released)
	return got
}

// requireConflict checks err is a *ConflictError whose Current matches want
// (nil: the key must be absent).
func requireConflict(t *testing.T, err error, want *backend.Record) {
	t.Helper()
	require.Error(t, err, "a conditional write whose condition fails must be refused")
	require.ErrorIs(t, err, backend.ErrConflict)
	var ce *backend.ConflictError
	require.ErrorAs(t, err, &ce, "a conflict must be a *backend.ConflictError")
	if want == nil {
		require.Nil(t, ce.Current, "conflict on an absent key must carry no record")
		return
	}
	require.NotNil(t, ce.Current, "conflict must carry the current record")
	requireSameRecord(t, *want, *ce.Current)
}

func requireSameRecord(t *testing.T, want, got backend.Record) {
	t.Helper()
	if !want.Equal(got) {
		require.Equal(t, want, got, "records differ")
	}
}

func requireStored(t *testing.T, ctx context.Context, s backend.Store, want backend.Record) {
	t.Helper()
	got, err := s.Get(ctx, want.Key)
	require.NoError(t, err)
	requireSameRecord(t, want, got)
}

func requireAbsent(t *testing.T, ctx context.Context, s backend.Store, key backend.Key) {
	t.Helper()
	_, err := s.Get(ctx, key)
	require.ErrorIs(t, err, backend.ErrNotFound)
}

// release marks rec released through Update and returns the stored record.
func release(t *testing.T, ctx context.Context, s backend.Store, rec backend.Record) backend.Record {
	t.Helper()
	next := rec
	next.Version, next.Released = newVersion(), true
	got, err := s.Update(ctx, next, rec.Version)
	// A network store's client may retry a write whose answer was lost; the
	// retry is refused with the record the first attempt wrote. That is
	// this write, applied (the contract's ambiguity rule).
	var ce *backend.ConflictError
	if errors.As(err, &ce) && ce.Current != nil && ce.Current.Version == next.Version {
		return *ce.Current
	}
	require.NoError(t, err, "release by marking")
	return got
}

func storeCases(h StoreHarness) []storeCase {
	cases := []storeCase{
		{name: "Get/Absent", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			requireAbsent(t, ctx, e.a, e.key())
		}},
		{name: "Acquire/CreateIfAbsent", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rec := lease(e.key(), "alice")
			got := acquireFree(t, ctx, e.a, rec)
			require.Nil(t, got.Replaced, "an absent key replaces nothing")
			e.requireNextToken(t, 0, got.Record.Token, "the first token of a key")
			rec.Token = got.Record.Token
			requireSameRecord(t, rec, got.Record)
			requireStored(t, ctx, e.b, rec)
		}},
		{name: "Acquire/HeldKeyRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			_, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(held.Key, "bob")})
			requireConflict(t, err, &held)
			requireStored(t, ctx, e.a, held)
		}},
		{name: "Acquire/ReleasedKeyReplaced", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			first := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			rel := release(t, ctx, e.a, first)
			got := acquireFree(t, ctx, e.b, lease(first.Key, "bob"))
			require.NotNil(t, got.Replaced, "acquiring a released record must report it")
			requireSameRecord(t, rel, *got.Replaced)
			e.requireNextToken(t, first.Token, got.Record.Token, "acquiring a released key")
			requireStored(t, ctx, e.a, got.Record)
		}},
		{name: "Acquire/TakeoverByVersion", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			old := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			got, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(old.Key, "bob"), ExpectVersion: old.Version})
			require.NoError(t, err)
			require.NotNil(t, got.Replaced)
			requireSameRecord(t, old, *got.Replaced)
			e.requireNextToken(t, old.Token, got.Record.Token, "a takeover")
			require.Equal(t, "bob", got.Record.Owner)
		}},
		{name: "Acquire/TakeoverStaleVersionRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			old := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			beat := old
			beat.Version = newVersion()
			beat, err := e.a.Update(ctx, beat, old.Version)
			require.NoError(t, err)
			_, err = e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(old.Key, "bob"), ExpectVersion: old.Version})
			requireConflict(t, err, &beat)
		}},
		{name: "Acquire/TakeoverOfAbsentRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			key := e.key()
			_, err := e.a.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "bob"), ExpectVersion: "no-such-version"})
			requireConflict(t, err, nil)
			requireAbsent(t, ctx, e.a, key)
		}},
		{name: "Acquire/MustExist", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			key := e.key()
			_, err := e.a.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice"), MustExist: true})
			requireConflict(t, err, nil)
			requireAbsent(t, ctx, e.a, key)
			first := acquireFree(t, ctx, e.a, lease(key, "alice")).Record
			release(t, ctx, e.a, first)
			got, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "bob"), MustExist: true})
			require.NoError(t, err, "MustExist acquires an existing released record")
			e.requireNextToken(t, first.Token, got.Record.Token, "a MustExist acquisition")
		}},
		{name: "Acquire/KeepData", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rec := lease(e.key(), "alice")
			rec.Data = []byte("payload")
			first := acquireFree(t, ctx, e.a, rec).Record
			release(t, ctx, e.a, first)
			got, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(rec.Key, "bob"), KeepData: true})
			require.NoError(t, err)
			require.Equal(t, []byte("payload"), got.Record.Data, "KeepData keeps the replaced record's data")
			requireStored(t, ctx, e.a, got.Record)
		}},
		{name: "Acquire/ReplaceData", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rec := lease(e.key(), "alice")
			rec.Data = []byte("old")
			first := acquireFree(t, ctx, e.a, rec).Record
			release(t, ctx, e.a, first)
			got := acquireFree(t, ctx, e.b, lease(rec.Key, "bob"))
			require.Empty(t, got.Record.Data, "without KeepData, nil data means no data")
			requireStored(t, ctx, e.a, got.Record)
			next := lease(rec.Key, "carol")
			next.Data = []byte("new")
			release(t, ctx, e.b, got.Record)
			got = acquireFree(t, ctx, e.a, next)
			require.Equal(t, []byte("new"), got.Record.Data)
		}},
		{name: "Update/CompareAndSwap", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			old := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			next := old
			next.Version, next.LeaseDuration, next.Data = newVersion(), 7*time.Second, []byte("beat")
			next.Token = 999 // must be ignored
			got, err := e.a.Update(ctx, next, old.Version)
			require.NoError(t, err)
			next.Token = old.Token
			requireSameRecord(t, next, got)
			requireStored(t, ctx, e.b, next)
		}},
		{name: "Update/StaleVersionRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			old := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			next := old
			next.Version = newVersion()
			cur, err := e.a.Update(ctx, next, old.Version)
			require.NoError(t, err)
			stale := old
			stale.Version = newVersion()
			_, err = e.b.Update(ctx, stale, old.Version)
			requireConflict(t, err, &cur)
			requireStored(t, ctx, e.a, cur)
		}},
		{name: "Update/AbsentRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rec := lease(e.key(), "alice")
			_, err := e.a.Update(ctx, rec, "v0")
			requireConflict(t, err, nil)
			requireAbsent(t, ctx, e.a, rec.Key)
		}},
		{name: "Update/ReleaseMarking", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			rel := release(t, ctx, e.a, held)
			require.True(t, rel.Released)
			require.Equal(t, held.Token, rel.Token, "release keeps the fencing token")
			requireStored(t, ctx, e.b, rel)
			_, err := e.b.Acquire(ctx, backend.AcquireRequest{Record: lease(held.Key, "bob"), ExpectVersion: held.Version})
			requireConflict(t, err, &rel)
		}},
		{name: "Update/AttributesMerge", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rec := lease(e.key(), "alice")
			rec.Attributes = map[string]string{"team": "payments", "job": "nightly"}
			held := acquireFree(t, ctx, e.a, rec).Record
			requireStored(t, ctx, e.b, held)
			next := held
			next.Version, next.Attributes = newVersion(), map[string]string{"job": "hourly"}
			got, err := e.a.Update(ctx, next, held.Version)
			require.NoError(t, err)
			require.Equal(t, map[string]string{"team": "payments", "job": "hourly"}, got.Attributes)
			requireStored(t, ctx, e.b, got)
		}},
		{name: "Fencing/StrictlyIncreasing", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			key := e.key()
			cur := acquireFree(t, ctx, e.a, lease(key, "alice")).Record
			last := cur.Token
			for i := range 12 {
				s := []backend.Store{e.a, e.b}[i%2]
				var got backend.Acquired
				var err error
				switch i % 3 {
				case 0: // release, then re-acquire
					release(t, ctx, s, cur)
					got, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, fmt.Sprint("o", i))})
				case 1: // heartbeat, then take over the observed version
					beat := cur
					beat.Version = newVersion()
					beat, err = s.Update(ctx, beat, cur.Version)
					require.NoError(t, err)
					require.Equal(t, last, beat.Token, "heartbeat must not advance the token")
					got, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, fmt.Sprint("o", i)), ExpectVersion: beat.Version})
				case 2: // takeover without heartbeat
					got, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, fmt.Sprint("o", i)), ExpectVersion: cur.Version})
				}
				require.NoError(t, err)
				require.Greater(t, got.Record.Token, last, "fencing token must strictly increase (cycle %d)", i)
				e.requireNextToken(t, last, got.Record.Token, fmt.Sprintf("cycle %d", i))
				last, cur = got.Record.Token, got.Record
				requireStored(t, ctx, s, cur)
			}
		}},
		{name: "Delete/Conditional", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			require.NoError(t, e.b.Delete(ctx, held.Key, held.Version))
			requireAbsent(t, ctx, e.a, held.Key)
			got := acquireFree(t, ctx, e.a, lease(held.Key, "bob"))
			require.Nil(t, got.Replaced)
		}},
		{name: "Delete/StaleVersionRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			err := e.b.Delete(ctx, held.Key, "not-"+held.Version)
			requireConflict(t, err, &held)
			requireStored(t, ctx, e.a, held)
		}},
		{name: "Delete/AbsentRefused", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			requireConflict(t, e.a.Delete(ctx, e.key(), "v"), nil)
		}},
		{name: "Data/Empty", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			for _, data := range [][]byte{nil, {}} {
				rec := lease(e.key(), "alice")
				rec.Data = data
				got := acquireFree(t, ctx, e.a, rec)
				require.Empty(t, got.Record.Data)
				stored, err := e.b.Get(ctx, rec.Key)
				require.NoError(t, err)
				require.Empty(t, stored.Data)
			}
		}},
		{name: "Data/Binary", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rec := lease(e.key(), "alice")
			for i := range 512 {
				rec.Data = append(rec.Data, byte(i))
			}
			acquireFree(t, ctx, e.a, rec)
			got, err := e.b.Get(ctx, rec.Key)
			require.NoError(t, err)
			require.True(t, bytes.Equal(rec.Data, got.Data), "binary data must round-trip exactly")
		}},
		{name: "Data/Large", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			size := 350_000
			if e.h.MaxDataBytes > 0 {
				size = min(size, e.h.MaxDataBytes)
			}
			rec := lease(e.key(), "alice")
			rec.Data = make([]byte, size)
			_, _ = rand.Read(rec.Data)
			acquireFree(t, ctx, e.a, rec)
			got, err := e.b.Get(ctx, rec.Key)
			require.NoError(t, err)
			require.True(t, bytes.Equal(rec.Data, got.Data), "%d bytes of data must round-trip", size)
		}},
		{name: "Data/ReturnedRecordsAreCopies", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			rec := lease(e.key(), "alice")
			rec.Data = []byte("abc")
			got := acquireFree(t, ctx, e.a, rec)
			got.Record.Data[0] = 'X'
			rec.Data[1] = 'Y'
			r1, err := e.a.Get(ctx, rec.Key)
			require.NoError(t, err)
			r1.Data[2] = 'Z'
			r2, err := e.a.Get(ctx, rec.Key)
			require.NoError(t, err)
			require.Equal(t, []byte("abc"), r2.Data, "callers must not be able to mutate stored data")
		}},
		{name: "Keys/Unicode", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			for _, p := range []string{"ключ", "锁/🔒", "a b\tc", "emoji-👩‍💻", "ǅ̈"} {
				rec := lease(e.keyOf(p), "alice")
				acquireFree(t, ctx, e.a, rec)
				got, err := e.b.Get(ctx, rec.Key)
				require.NoError(t, err)
				require.Equal(t, p, got.Key.Partition)
			}
		}},
		{name: "Keys/Longest", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			n := e.h.MaxKeyBytes
			if n == 0 {
				n = 64 << 10
			}
			rec := lease(e.keyOf(strings.Repeat("k", n)), "alice")
			got := acquireFree(t, ctx, e.a, rec)
			e.requireNextToken(t, 0, got.Record.Token, "the first token of a key")
			rec.Token = got.Record.Token
			requireStored(t, ctx, e.b, rec)
		}},
		{name: "Keys/TooLong", skip: skipUnless(h.MaxKeyBytes > 0, "store declares no MaxKeyBytes"), run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			key := e.keyOf(strings.Repeat("k", e.h.MaxKeyBytes+1))
			_, err := e.a.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice")})
			require.ErrorIs(t, err, backend.ErrInvalid)
		}},
		{name: "Keys/Invalid", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			for _, key := range []backend.Key{{}, {Sort: "s"}, {Partition: "bad\xff"}} {
				requireInvalidKey(t, ctx, e.a, key)
			}
		}},
		{name: "Keys/Independent", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			k1, k2 := e.key(), e.key()
			r1 := acquireFree(t, ctx, e.a, lease(k1, "alice")).Record
			r2 := acquireFree(t, ctx, e.b, lease(k2, "bob")).Record
			release(t, ctx, e.a, r1)
			requireStored(t, ctx, e.a, r2)
		}},
		{name: "Context/Cancelled", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			held := acquireFree(t, ctx, e.a, lease(e.key(), "alice")).Record
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			fresh := lease(e.key(), "bob")
			_, err := e.a.Acquire(cctx, backend.AcquireRequest{Record: fresh})
			require.Error(t, err, "Acquire must honour a cancelled context")
			next := held
			next.Version = newVersion()
			_, err = e.a.Update(cctx, next, held.Version)
			require.Error(t, err, "Update must honour a cancelled context")
			require.Error(t, e.a.Delete(cctx, held.Key, held.Version), "Delete must honour a cancelled context")
			_, err = e.a.Get(cctx, held.Key)
			require.Error(t, err, "Get must honour a cancelled context")
			requireAbsent(t, ctx, e.a, fresh.Key)
			requireStored(t, ctx, e.a, held)
		}},
		{name: "Race/AcquireOneWinner", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			raceAcquire(t, ctx, e)
		}},
		{name: "Race/UpdateOneWinner", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			raceUpdate(t, ctx, e)
		}},
	}
	cases = append(cases, sortKeyCases(h)...)
	cases = append(cases, conditionCases()...)
	cases = append(cases, staleHolderCases()...)
	cases = append(cases, acquireMergeCases()...)
	cases = append(cases, contextCases()...)
	cases = append(cases, churnCases(h)...)
	cases = append(cases, errorCases(h)...)
	cases = append(cases, listCases()...)
	cases = append(cases, commitCases(h)...)
	return append(cases, guardCases(h)...)
}

func skipUnless(ok bool, why string) string {
	if ok {
		return ""
	}
	return why
}

func races(e *storeEnv) int {
	if e.h.Races > 0 {
		return e.h.Races
	}
	return 1000
}

// race runs a and b at once and returns their errors.
func race(a, b func() error) (errA, errB error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); <-start; errA = a() }()
	go func() { defer wg.Done(); <-start; errB = b() }()
	close(start)
	wg.Wait()
	return errA, errB
}

// oneWinner checks exactly one of two racing writes succeeded and the loser
// was told who won. It returns the winner's index.
func oneWinner(t *testing.T, i int, errA, errB error) int {
	t.Helper()
	switch {
	case errA == nil && errB == nil:
		require.FailNow(t, "both racers won", "race %d: mutual exclusion violated", i)
	case errA != nil && errB != nil:
		require.FailNow(t, "no racer won", "race %d: %v / %v", i, errA, errB)
	}
	loser := errors.Join(errA, errB)
	require.ErrorIs(t, loser, backend.ErrConflict, "race %d: the loser must get a conflict", i)
	if errA == nil {
		return 0
	}
	return 1
}

func raceAcquire(t *testing.T, ctx context.Context, e *storeEnv) {
	key := e.key()
	var last uint64
	redone := 0
	for i := range races(e) {
		ra, rb := lease(key, "a"), lease(key, "b")
		var ga, gb backend.Acquired
		errA, errB := race(
			func() (err error) { ga, err = e.a.Acquire(ctx, backend.AcquireRequest{Record: ra}); return err },
			func() (err error) { gb, err = e.b.Acquire(ctx, backend.AcquireRequest{Record: rb}); return err },
		)
		if transient(errA) || transient(errB) {
			// A timeout under load says nothing about exclusion, and leaves
			// the key's state unknown: go on with a fresh key.
			redone++
			require.Less(t, redone, 10, "too many transient failures: %v / %v", errA, errB)
			t.Logf("race %d: transient store error, continuing on a fresh key: %v / %v", i, errA, errB)
			key, last = e.key(), 0
			continue
		}
		won := []backend.Acquired{ga, gb}[oneWinner(t, i, errA, errB)]
		var ce *backend.ConflictError
		require.ErrorAs(t, errors.Join(errA, errB), &ce)
		require.NotNil(t, ce.Current, "race %d: loser must see the winner's record", i)
		require.Equal(t, won.Record.Version, ce.Current.Version, "race %d: loser must see the winner's record", i)
		e.requireNextToken(t, last, won.Record.Token, fmt.Sprintf("race %d", i))
		last = won.Record.Token
		release(t, ctx, e.a, won.Record)
	}
}

// transient reports a store error that may go away on retry.
func transient(err error) bool {
	return errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous)
}

func raceUpdate(t *testing.T, ctx context.Context, e *storeEnv) {
	cur := acquireFree(t, ctx, e.a, lease(e.key(), "a")).Record
	for i := range races(e) {
		na, nb := cur, cur
		na.Version, nb.Version = newVersion(), newVersion()
		var ga, gb backend.Record
		errA, errB := race(
			func() (err error) { ga, err = e.a.Update(ctx, na, cur.Version); return err },
			func() (err error) { gb, err = e.b.Update(ctx, nb, cur.Version); return err },
		)
		cur = []backend.Record{ga, gb}[oneWinner(t, i, errA, errB)]
	}
	requireStored(t, ctx, e.b, cur)
}
