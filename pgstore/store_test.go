package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/netfault"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/pgstore"
)

func lease(key backend.Key, owner, version string) backend.Record {
	return backend.Record{Key: key, Owner: owner, Version: version, LeaseDuration: 20 * time.Second}
}

// A refused connection sends nothing, so every kind of call is
// unavailable, and a write is never ambiguous.
func TestRefusedConnectionIsUnavailable(t *testing.T) {
	port, err := freePort() // closed again: nothing listens there
	require.NoError(t, err)
	pool := newPool(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	s, err := pgstore.New(pool, pgstore.Options{})
	require.NoError(t, err)
	ctx := testCtx(t)
	key := backend.Key{Partition: "k"}

	_, err = s.Get(ctx, key)
	requireUnavailable(t, "Get", err)
	_, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice", "v1")})
	requireUnavailable(t, "Acquire", err)
	_, err = s.Update(ctx, lease(key, "alice", "v2"), "v1")
	requireUnavailable(t, "Update", err)
	requireUnavailable(t, "Delete", s.Delete(ctx, key, "v1"))
	_, err = s.List(ctx, backend.ListRequest{})
	requireUnavailable(t, "List", err)
	ops := func(context.Context, pgx.Tx) error { return nil }
	requireUnavailable(t, "WriteGuarded", s.WriteGuarded(ctx, backend.Guard{Key: key, Owner: "alice", Token: 1}, ops))
	requireUnavailable(t, "CommitRelease", s.CommitRelease(ctx, backend.CommitReleaseRequest{
		Record: lease(key, "alice", "v2"), ExpectVersion: "v1", Ops: ops}))
}

func requireUnavailable(t *testing.T, op string, err error) {
	t.Helper()
	require.ErrorIs(t, err, backend.ErrUnavailable, "%s on a refused connection", op)
	require.False(t, errors.Is(err, backend.ErrAmbiguous), "%s sent nothing, so it cannot be ambiguous: %v", op, err)
}

// proxied returns a store behind a fresh netfault proxy and one beside it,
// on one new table.
func proxied(t *testing.T) (behind, direct *pgstore.Store, p *netfault.Proxy) {
	addr := needCluster(t)
	p = netfault.Start(t, addr)
	table := freshTable()
	direct = newStoreOn(t, addr, table, true)
	// One connection, so the cut always meets the connection whose
	// statements are already prepared, and the turns counted are ours.
	behind = newStoreOn(t, p.Addr(), table, false, cancelsDirect(addr), func(c *pgxpool.Config) { c.MaxConns = 1 })
	return behind, direct, p
}

// An acquire whose answer is lost after the server ran it is ambiguous,
// and it did land; the engine then reads it back.
func TestLostAnswerIsAmbiguous(t *testing.T) {
	behind, direct, p := proxied(t)
	ctx := testCtx(t)
	// Warm the connection (and its statement cache) on another key.
	_, err := behind.Acquire(ctx, backend.AcquireRequest{Record: lease(backend.Key{Partition: "warm"}, "alice", "w1")})
	require.NoError(t, err)

	key := backend.Key{Partition: "k"}
	p.SetMode(netfault.CutAfterRequest)
	_, err = behind.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice", "v1")})
	p.SetMode(netfault.Pass)
	require.ErrorIs(t, err, backend.ErrAmbiguous)
	require.False(t, errors.Is(err, backend.ErrUnavailable), "a write that landed reported unavailable: %v", err)
	got, err := direct.Get(ctx, key)
	require.NoError(t, err)
	require.Equal(t, "v1", got.Version, "the cut acquire landed")
	require.Positive(t, p.Cuts())
}

// A guarded write cut at each of its exchanges in turn: before COMMIT it
// is unavailable and nothing of it exists; a lost COMMIT answer is
// ambiguous (and there it did commit).
func TestGuardedWriteCutAtEachTurn(t *testing.T) {
	behind, direct, p := proxied(t)
	ctx := testCtx(t)
	key := backend.Key{Partition: "k"}
	held, err := behind.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice", "v1")})
	require.NoError(t, err)
	g := backend.Guard{Key: key, Owner: "alice", Token: held.Record.Token}
	h := handleOf(t, direct)

	sawLostCommit := false
	for n := 0; ; n++ {
		require.Less(t, n, 20, "the guarded write never completed uncut")
		id := fmt.Sprintf("row-%d", n)
		ops := func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id) VALUES ($1)`, h.appTable), id)
			return err
		}
		cutsBefore := p.Cuts()
		p.SetModeAfter(n, netfault.CutAfterRequest)
		err := behind.WriteGuarded(ctx, g, ops)
		p.SetMode(netfault.Pass)
		var count int
		require.NoError(t, h.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE id = $1`, h.appTable), id).Scan(&count))
		if p.Cuts() == cutsBefore {
			require.NoError(t, err, "uncut")
			require.Equal(t, 1, count)
			break
		}
		require.Error(t, err, "cut at turn %d", n)
		switch {
		case errors.Is(err, backend.ErrUnavailable):
			require.Zero(t, count, "turn %d: reported unavailable, yet the write committed", n)
		case errors.Is(err, backend.ErrAmbiguous):
			if count == 1 {
				sawLostCommit = true
			}
		default:
			t.Fatalf("turn %d: neither unavailable nor ambiguous: %v", n, err)
		}
	}
	require.True(t, sawLostCommit, "no cut met the COMMIT")
}

func TestCheckTable(t *testing.T) {
	addr := needCluster(t)
	ctx := testCtx(t)
	pool := newPool(t, addr)

	_, err := pgstore.New(pool, pgstore.Options{Table: "locks; DROP TABLE x"})
	require.ErrorIs(t, err, backend.ErrInvalid)
	_, err = pgstore.New(pool, pgstore.Options{Table: "a.b.c"})
	require.ErrorIs(t, err, backend.ErrInvalid)

	table := freshTable()
	s, err := pgstore.New(pool, pgstore.Options{Table: table})
	require.NoError(t, err)
	require.ErrorIs(t, s.CheckTable(ctx), pgstore.ErrSchema, "the table does not exist yet")
	require.NoError(t, s.CreateTable(ctx))
	require.NoError(t, s.CreateTable(ctx), "creating again is a no-op")
	require.NoError(t, s.CheckTable(ctx))
	var comment string
	require.NoError(t, pool.QueryRow(ctx, `SELECT obj_description(to_regclass($1), 'pg_class')`, table).Scan(&comment))
	require.Equal(t, pgstore.SchemaVersion, comment)

	// A table of another layout is reported, column by column.
	wrong := freshTable()
	_, err = pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (pkey text PRIMARY KEY, owner text NOT NULL,
		version text NOT NULL, token integer NOT NULL, lease_ns bigint NOT NULL, data bytea,
		released boolean NOT NULL, attrs jsonb NOT NULL)`, wrong))
	require.NoError(t, err)
	w, err := pgstore.New(pool, pgstore.Options{Table: wrong})
	require.NoError(t, err)
	err = w.CreateTable(ctx)
	require.ErrorIs(t, err, pgstore.ErrSchema)
	require.ErrorContains(t, err, "missing column skey")
	require.ErrorContains(t, err, "column token is integer, want bigint")
	require.ErrorContains(t, err, "primary key is (pkey), want (pkey, skey)")

	// Schema-qualified names work.
	_, err = pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS locks`)
	require.NoError(t, err)
	q, err := pgstore.New(pool, pgstore.Options{Table: "locks." + freshTable()})
	require.NoError(t, err)
	require.NoError(t, q.CreateTable(ctx))
	_, err = q.Acquire(ctx, backend.AcquireRequest{Record: lease(backend.Key{Partition: "k"}, "alice", "v1")})
	require.NoError(t, err)
}

// Tokens are bigint: the largest is 2^63-1, and the acquisition after it
// is refused as invalid, with nothing written, instead of wrapping.
func TestTokenAtBigintLimit(t *testing.T) {
	a, _ := newPair(t)
	s := a.(*pgstore.Store)
	h := handleOf(t, s)
	ctx := testCtx(t)
	key := backend.Key{Partition: "k"}
	first, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice", "v1")})
	require.NoError(t, err)
	table := h.appTable[len("app_"):]
	_, err = h.pool.Exec(ctx, fmt.Sprintf(`UPDATE %s SET token = $1, released = true`, table), int64(math.MaxInt64-1))
	require.NoError(t, err)

	got, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "bob", "v2")})
	require.NoError(t, err)
	require.Equal(t, uint64(math.MaxInt64), got.Record.Token)
	require.Equal(t, uint64(math.MaxInt64-1), got.Replaced.Token)
	rel := got.Record
	rel.Version, rel.Released = "v3", true
	_, err = s.Update(ctx, rel, "v2")
	require.NoError(t, err)

	_, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "carol", "v4")})
	require.ErrorIs(t, err, backend.ErrInvalid)
	stored, err := s.Get(ctx, key)
	require.NoError(t, err)
	require.Equal(t, "v3", stored.Version, "the refused acquisition wrote nothing")
	require.Equal(t, uint64(math.MaxInt64), stored.Token)
	require.NotEqual(t, first.Record.Token, stored.Token)
}

// Values PostgreSQL text cannot hold are refused before any I/O.
func TestNULRefused(t *testing.T) {
	port, err := freePort()
	require.NoError(t, err)
	s, err := pgstore.New(newPool(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))), pgstore.Options{})
	require.NoError(t, err)
	ctx := testCtx(t)
	_, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(backend.Key{Partition: "a\x00b"}, "alice", "v1")})
	require.ErrorIs(t, err, backend.ErrInvalidKey)
	_, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(backend.Key{Partition: "k"}, "al\x00ice", "v1")})
	require.ErrorIs(t, err, backend.ErrInvalid)
	rec := lease(backend.Key{Partition: "k"}, "alice", "v1")
	rec.Attributes = map[string]string{"a": "\xff"}
	_, err = s.Update(ctx, rec, "v0")
	require.ErrorIs(t, err, backend.ErrInvalid)
}

// countingDial counts the writes a pool's connections make: pgx sends each
// request in one write and waits for its answer, so writes are round trips.
func countingDial(n *atomic.Int64) func(*pgxpool.Config) {
	return func(c *pgxpool.Config) {
		c.MaxConns = 1
		var d net.Dialer
		c.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, n: n}, nil
		}
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

// TestRoundTrips pins the figures in docs/postgres.md: once a connection
// has prepared its statements, acquire, heartbeat, release and delete are
// one round trip each, a free-key acquire included.
func TestRoundTrips(t *testing.T) {
	addr := needCluster(t)
	table := freshTable()
	newStoreOn(t, addr, table, true)
	var n atomic.Int64
	s := newStoreOn(t, addr, table, false, countingDial(&n))
	ctx := testCtx(t)
	h := handleOf(t, s)

	cycle := func(i int) map[string]int64 {
		trips := map[string]int64{}
		measure := func(op string, f func() error) {
			before := n.Load()
			require.NoError(t, f(), op)
			trips[op] = n.Load() - before
		}
		key := backend.Key{Partition: "k"}
		v := func(s string) string { return fmt.Sprintf("%s-%d", s, i) }
		var held backend.Record
		measure("acquire", func() error {
			got, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice", v("a"))})
			held = got.Record
			return err
		})
		measure("heartbeat", func() error {
			next := held
			next.Version = v("h")
			_, err := s.Update(ctx, next, held.Version)
			return err
		})
		measure("refused acquire", func() error {
			_, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "bob", v("b"))})
			var ce *backend.ConflictError
			if !errors.As(err, &ce) || ce.Current == nil || ce.Current.Owner != "alice" {
				return fmt.Errorf("want a conflict naming alice, got %v", err)
			}
			return nil
		})
		measure("guarded write", func() error {
			return s.WriteGuarded(ctx, backend.Guard{Key: key, Owner: "alice", Token: held.Token},
				func(ctx context.Context, tx pgx.Tx) error { return nil })
		})
		measure("release", func() error {
			next := held
			next.Version, next.Released = v("r"), true
			_, err := s.Update(ctx, next, v("h"))
			return err
		})
		measure("get", func() error { _, err := s.Get(ctx, key); return err })
		measure("delete-acquire", func() error {
			_, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice", v("d"))})
			return err
		})
		measure("delete", func() error { return s.Delete(ctx, key, v("d")) })
		got, err := s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice", v("c"))})
		require.NoError(t, err)
		rel := got.Record
		rel.Version, rel.Released = v("cr"), true
		measure("commit-release", func() error {
			return s.CommitRelease(ctx, backend.CommitReleaseRequest{Record: rel, ExpectVersion: v("c"),
				Ops: func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id) VALUES ($1)`, h.appTable), v("id"))
					return err
				}})
		})
		return trips
	}
	cycle(0) // prepares every statement on the connection
	got := cycle(1)
	t.Logf("round trips per call on a warm connection: %v", got)
	for _, op := range []string{"acquire", "heartbeat", "refused acquire", "release", "get", "delete-acquire", "delete"} {
		require.Equal(t, int64(1), got[op], "%s must be one round trip", op)
	}
	// BEGIN, the guard's SELECT FOR SHARE, COMMIT (the ops sent nothing).
	require.Equal(t, int64(3), got["guarded write"])
	// BEGIN, SELECT FOR UPDATE, the application's INSERT, the release, COMMIT.
	require.Equal(t, int64(5), got["commit-release"])
}

// The typed helpers drive the engine's guarded write and commit-and-release
// with a pgx transaction: the writes land with the lock held, the release
// lands with the last of them, and a released lock guards nothing.
func TestTypedHelpers(t *testing.T) {
	a, _ := newPair(t)
	h := handleOf(t, a)
	ctx := testCtx(t)
	c, err := lock.New(a, lock.WithOwner("alice"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close(context.Background())) })
	l, err := c.Acquire(ctx, "k")
	require.NoError(t, err)
	insert := func(id string) pgstore.TxFunc {
		return func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id) VALUES ($1)`, h.appTable), id)
			return err
		}
	}
	count := func() int {
		var n int
		require.NoError(t, h.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s`, h.appTable)).Scan(&n))
		return n
	}
	require.NoError(t, pgstore.WriteGuarded(ctx, l, insert("guarded")))
	require.Equal(t, 1, count())
	require.NoError(t, pgstore.CommitAndRelease(ctx, l, insert("last")))
	require.Equal(t, 2, count())
	rec, err := a.Get(ctx, backend.Key{Partition: "k"})
	require.NoError(t, err)
	require.True(t, rec.Released, "released in the same commit")
	require.Error(t, pgstore.WriteGuarded(ctx, l, insert("late")))
	require.Equal(t, 2, count(), "a released lock guards nothing")
}
