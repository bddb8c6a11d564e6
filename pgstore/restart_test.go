package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers/pgcluster"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/pgstore"
)

// TestServerRestart restarts the server (pg_ctl restart -m fast, then -m
// immediate, which is a crash and crash recovery) while one client holds
// three locks with heartbeats and another waits for one of them.
//
// Required: every held lock either keeps heartbeating (its record gets a
// new version after the restart) or its loss is reported as an expiry,
// never as a steal; the store never reports a conflict to the holder
// (nobody else wrote its records) and fails only as unavailable or
// ambiguous; the waiter does not get the key while the holder's lease
// lasts, and gets it when the holder releases it; tokens grow.
func TestServerRestart(t *testing.T) {
	c := faultCluster(t)
	const lease, beat, poll = 3 * time.Second, 250 * time.Millisecond, 100 * time.Millisecond
	for _, mode := range []pgcluster.Mode{pgcluster.Fast, pgcluster.Immediate} {
		t.Run(string(mode), func(t *testing.T) {
			t.Cleanup(func() { _ = c.StartServer() })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			table := freshTable()
			direct := newStoreOn(t, c.Addr, table, true)
			holder, hs := newFaultClient(t, c.Addr, table, "holder", lease, beat, poll)
			waiter, ws := newFaultClient(t, c.Addr, table, "waiter", lease, beat, poll)

			keys := []string{"a", "b", "c"}
			held := map[string]*lock.Lock{}
			for _, k := range keys {
				l, err := holder.Acquire(ctx, k)
				require.NoError(t, err)
				held[k] = l
			}
			got := waitFor(ctx, waiter, "a", held["a"])
			select {
			case <-ws.refused:
			case r := <-got:
				t.Fatalf("the waiter's acquire of a held key ended: %v", r.err)
			}

			require.NoError(t, c.Restart(mode))
			// Heartbeats resume (each record gets a version newer than the
			// one it held once the server answered again), or the lock
			// reports its loss.
			at := map[string]string{}
			for _, k := range keys {
				at[k] = storedEventually(ctx, t, direct, k).Version
			}
			kept := 0
			for _, k := range keys {
				l := held[k]
				for l.Err() == nil && storedEventually(ctx, t, direct, k).Version == at[k] {
					select {
					case <-ctx.Done():
						t.Fatalf("%s: neither renewed nor reported lost after the restart", k)
					case <-time.After(10 * time.Millisecond):
					}
				}
				if err := l.Err(); err != nil {
					requireExpired(t, err)
					t.Logf("%s: lost across the restart: %v", k, err)
					continue
				}
				kept++
			}
			t.Logf("restart -m %s: %d of %d locks kept; holder's store errors: %v; waiter's: %v",
				mode, kept, len(keys), hs.counts(), ws.counts())
			hs.requireOnly(t, "the holder's", false)
			ws.requireOnly(t, "the waiter's", true)

			if held["a"].Err() == nil {
				select {
				case r := <-got:
					t.Fatalf("the waiter got the key the holder still holds: %v", r.err)
				default:
				}
				require.NoError(t, held["a"].Release(ctx))
			}
			r := <-got
			require.NoError(t, r.err)
			require.Zero(t, r.holderLeft, "the waiter got the key with the holder's lease still running")
			require.Greater(t, r.l.Token(), held["a"].Token())
			require.NoError(t, r.l.Release(ctx))
			require.NoError(t, holder.Close(ctx), "releasing the locks kept across the restart")
		})
	}
}

// TestServerStop stops the server (pg_ctl stop -m fast, then -m
// immediate) for longer than a lease while one client holds a lock with
// heartbeats and another waits for it, and calls the store meanwhile.
//
// Required: every call during the outage fails within its deadline, as
// unavailable (the one exception: the first write on a connection that an
// immediate stop ended may be ambiguous, since that connection was ended
// without an error; it must not have landed); the holder reports its loss
// as an expiry when its lease runs out, not as a steal; once the server
// is back the waiter gets the key, never while the holder's lease lasts,
// with a larger token; and both clients work again.
func TestServerStop(t *testing.T) {
	c := faultCluster(t)
	const lease, beat, poll = time.Second, 250 * time.Millisecond, 100 * time.Millisecond
	for _, mode := range []pgcluster.Mode{pgcluster.Fast, pgcluster.Immediate} {
		t.Run(string(mode), func(t *testing.T) {
			t.Cleanup(func() { _ = c.StartServer() })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			table := freshTable()
			direct := newStoreOn(t, c.Addr, table, true)
			holder, hs := newFaultClient(t, c.Addr, table, "holder", lease, beat, poll)
			waiter, ws := newFaultClient(t, c.Addr, table, "waiter", lease, beat, poll)
			// A store whose one connection exists before the outage and is
			// never pinged, so its first call meets the ended session.
			stale := newStoreOn(t, c.Addr, table, false, func(c *pgxpool.Config) {
				c.MaxConns = 1
				c.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
			})
			_, err := stale.Get(ctx, backend.Key{Partition: "a"})
			require.ErrorIs(t, err, backend.ErrNotFound)

			l, err := holder.Acquire(ctx, "a")
			require.NoError(t, err)
			got := waitFor(ctx, waiter, "a", l)
			select {
			case <-ws.refused:
			case r := <-got:
				t.Fatalf("the waiter's acquire of a held key ended: %v", r.err)
			}

			require.NoError(t, c.StopServer(mode))
			// A store with no connection yet dials a server that is gone.
			fresh := newStoreOn(t, c.Addr, table, false)
			third, err := lock.New(fresh, lock.WithOwner("third"), lock.WithLeaseDuration(lease),
				lock.WithHeartbeatPeriod(beat), lock.WithPollPeriod(poll))
			require.NoError(t, err)
			defer third.Close(context.Background())
			probes := outageProbes(stale, fresh, third)
			ambiguous := 0
			for i, p := range probes {
				err := p.run(t)
				if i == 0 && mode == pgcluster.Immediate && errors.Is(err, backend.ErrAmbiguous) {
					t.Logf("%s: ambiguous on the connection the immediate stop ended: %v", p.name, err)
					ambiguous++
					continue
				}
				require.ErrorIs(t, err, p.want, "%s during the outage", p.name)
				require.False(t, errors.Is(err, backend.ErrAmbiguous), "%s: ambiguous, with nothing sent: %v", p.name, err)
			}
			t.Logf("stop -m %s: %d calls during the outage, each ended within its deadline: %d as expected, %d ambiguous",
				mode, len(probes), len(probes)-ambiguous, ambiguous)

			select {
			case <-l.Done():
			case <-ctx.Done():
				t.Fatal("the holder's lease never ran out with the server down")
			}
			requireExpired(t, l.Err())
			t.Logf("stop -m %s: the holder lost its lock: %v", mode, l.Err())
			select {
			case r := <-got:
				t.Fatalf("the waiter's acquire ended with the server down: %v", r.err)
			default:
			}

			require.NoError(t, c.StartServer())
			back := time.Now()
			r := <-got
			require.NoError(t, r.err)
			t.Logf("stop -m %s: the waiter got the key %v after the server was back, token %d",
				mode, time.Since(back).Round(10*time.Millisecond), r.l.Token())
			require.Zero(t, r.holderLeft, "the waiter got the key with the holder's lease still running")
			require.Greater(t, r.l.Token(), l.Token())
			rec := storedEventually(ctx, t, direct, "a")
			require.Equal(t, "waiter", rec.Owner)
			for _, k := range []string{"probe-stale", "probe-fresh"} {
				_, found := readEventually(ctx, t, direct, k)
				require.False(t, found, "%s: an acquire made with the server down landed", k)
			}
			require.NoError(t, r.l.Release(ctx))

			// Both clients work again on the restarted server.
			l2, err := holder.Acquire(ctx, "b")
			require.NoError(t, err)
			require.NoError(t, l2.Release(ctx))
			t.Logf("stop -m %s: holder's store errors: %v; waiter's: %v", mode, hs.counts(), ws.counts())
			hs.requireOnly(t, "the holder's", false)
			ws.requireOnly(t, "the waiter's", true)
		})
	}
}

// probe is one call made while the server is down.
type probe struct {
	name string
	want error // what the error must be
	call func(ctx context.Context) error
}

// run makes the call with a two-second deadline and requires it to end
// by then, give or take two seconds for a busy machine.
func (p probe) run(t *testing.T) error {
	t.Helper()
	const deadline = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := p.call(ctx)
	took := time.Since(start)
	require.Error(t, err, "%s succeeded with the server down", p.name)
	require.Less(t, took, 2*deadline, "%s hung past its deadline", p.name)
	require.False(t, errors.Is(err, backend.ErrConflict), "%s: a conflict with the server down: %v", p.name, err)
	return err
}

// outageProbes calls every kind of store operation on a store whose
// connection the outage ended (first a write that would succeed), then on
// one that has to dial, then through the engine.
func outageProbes(stale, fresh *pgstore.Store, third *lock.Client) []probe {
	noop := func(context.Context, pgx.Tx) error { return nil }
	var probes []probe
	for _, s := range []struct {
		name  string
		store *pgstore.Store
	}{{"stale", stale}, {"fresh", fresh}} {
		probes = append(probes,
			probe{s.name + " acquire", backend.ErrUnavailable, func(ctx context.Context) error {
				_, err := s.store.Acquire(ctx, backend.AcquireRequest{Record: lease(backend.Key{Partition: "probe-" + s.name}, "probe", "p1")})
				return err
			}},
			probe{s.name + " get", backend.ErrUnavailable, func(ctx context.Context) error {
				_, err := s.store.Get(ctx, backend.Key{Partition: "a"})
				return err
			}},
			probe{s.name + " update", backend.ErrUnavailable, func(ctx context.Context) error {
				_, err := s.store.Update(ctx, lease(backend.Key{Partition: "a"}, "probe", "p2"), "p1")
				return err
			}},
			probe{s.name + " delete", backend.ErrUnavailable, func(ctx context.Context) error {
				return s.store.Delete(ctx, backend.Key{Partition: "a"}, "p1")
			}},
			probe{s.name + " list", backend.ErrUnavailable, func(ctx context.Context) error {
				_, err := s.store.List(ctx, backend.ListRequest{})
				return err
			}},
			probe{s.name + " guarded write", backend.ErrUnavailable, func(ctx context.Context) error {
				return s.store.WriteGuarded(ctx, backend.Guard{Key: backend.Key{Partition: "a"}, Owner: "probe", Token: 1}, noop)
			}},
			probe{s.name + " commit-release", backend.ErrUnavailable, func(ctx context.Context) error {
				return s.store.CommitRelease(ctx, backend.CommitReleaseRequest{
					Record: lease(backend.Key{Partition: "a"}, "probe", "p2"), ExpectVersion: "p1", Ops: noop})
			}},
		)
	}
	return append(probes,
		probe{"engine try-acquire", backend.ErrUnavailable, func(ctx context.Context) error {
			_, err := third.TryAcquire(ctx, "c")
			return err
		}},
		// A waiting acquire retries an unavailable store until its
		// context ends, and then says so.
		probe{"engine acquire", context.DeadlineExceeded, func(ctx context.Context) error {
			_, err := third.Acquire(ctx, "c")
			return err
		}},
	)
}

// acquired is a waiter's acquisition, with the lease the holder had left
// by its own clock when the waiter's Acquire returned.
type acquired struct {
	l          *lock.Lock
	err        error
	holderLeft time.Duration
}

// waitFor starts c's Acquire of key, which holder holds.
func waitFor(ctx context.Context, c *lock.Client, key string, holder *lock.Lock) <-chan acquired {
	got := make(chan acquired, 1)
	go func() {
		l, err := c.Acquire(ctx, key)
		got <- acquired{l: l, err: err, holderLeft: holder.LeaseRemaining()}
	}()
	return got
}

// requireExpired checks a reported loss: an expiry. A steal would be
// false, since nobody may take a lock over before its lease ran out.
func requireExpired(t *testing.T, err error) {
	t.Helper()
	var lost *lock.LostError
	require.ErrorAs(t, err, &lost)
	require.Equal(t, lock.Expired, lost.Reason, "%v", err)
}

// storedEventually reads key's record directly, retrying while the store
// is unavailable (a pooled connection the restart ended, the server still
// recovering).
func storedEventually(ctx context.Context, t *testing.T, s *pgstore.Store, key string) backend.Record {
	t.Helper()
	rec, found := readEventually(ctx, t, s, key)
	require.True(t, found, "%s: no record", key)
	return rec
}

// readEventually is storedEventually for a key that may hold no record.
func readEventually(ctx context.Context, t *testing.T, s *pgstore.Store, key string) (backend.Record, bool) {
	t.Helper()
	for {
		rec, err := s.Get(ctx, backend.Key{Partition: key})
		switch {
		case err == nil:
			return rec, true
		case errors.Is(err, backend.ErrNotFound):
			return rec, false
		}
		require.ErrorIs(t, err, backend.ErrUnavailable)
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no answer from the store: %v", key, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// newFaultClient is a lock client on its own pool, whose store records the
// errors it returns.
func newFaultClient(t *testing.T, addr, table, owner string, lease, beat, poll time.Duration) (*lock.Client, *faultStore) {
	s := &faultStore{Store: newStoreOn(t, addr, table, false), errs: map[string]int{}, refused: make(chan struct{})}
	c, err := lock.New(s, lock.WithOwner(owner), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(beat), lock.WithPollPeriod(poll))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, s
}

// faultStore counts the errors a client's store calls return, by kind,
// and closes refused at the first refused acquisition (a waiter has met
// the holder).
type faultStore struct {
	*pgstore.Store
	mu      sync.Mutex
	errs    map[string]int
	refused chan struct{}
	once    sync.Once
}

func (s *faultStore) note(op string, err error) {
	if err == nil {
		return
	}
	kind := "other"
	switch {
	case errors.Is(err, backend.ErrConflict):
		kind = "conflict"
		if op == "acquire" {
			s.once.Do(func() { close(s.refused) })
		}
	case errors.Is(err, backend.ErrNotFound):
		kind = "not found"
	case errors.Is(err, backend.ErrAmbiguous):
		kind = "ambiguous"
	case errors.Is(err, backend.ErrUnavailable):
		kind = "unavailable"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[op+" "+kind]++
	if kind == "other" {
		s.errs["example: "+err.Error()]++
	}
}

func (s *faultStore) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.errs))
	for k, v := range s.errs {
		out[k] = v
	}
	return out
}

// requireOnly checks that the store failed only as unavailable or
// ambiguous; a waiter's acquisitions are also refused while the key is
// held, which is no failure.
func (s *faultStore) requireOnly(t *testing.T, whose string, waiter bool) {
	t.Helper()
	for k := range s.counts() {
		switch k {
		case "acquire unavailable", "acquire ambiguous", "update unavailable", "update ambiguous",
			"get unavailable", "delete unavailable", "delete ambiguous":
		case "acquire conflict":
			require.True(t, waiter, "%s store refused an acquisition", whose)
		default:
			require.Fail(t, fmt.Sprintf("%s store failed as %q", whose, k), "all: %v", s.counts())
		}
	}
}

func (s *faultStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := s.Store.Acquire(ctx, req)
	s.note("acquire", err)
	return got, err
}

func (s *faultStore) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	got, err := s.Store.Update(ctx, rec, expect)
	s.note("update", err)
	return got, err
}

func (s *faultStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	got, err := s.Store.Get(ctx, key)
	if !errors.Is(err, backend.ErrNotFound) {
		s.note("get", err)
	}
	return got, err
}

func (s *faultStore) Delete(ctx context.Context, key backend.Key, expect string) error {
	err := s.Store.Delete(ctx, key, expect)
	s.note("delete", err)
	return err
}
