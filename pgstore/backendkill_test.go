package pgstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/pgstore"
)

// absentStandby is the synchronous standby the kill tests' cluster waits
// for and never gets. Sessions keep the cluster's synchronous_commit =
// local and so never wait; a session that sets it on waits in its COMMIT,
// after the commit record is written and visible to others, until the
// wait is cancelled: the one way to hold a backend inside COMMIT after
// the point of no return. faultCluster sets it.
const absentStandby = "leaselock_absent_standby"

// killPoint is where on the server a pgstore call is when its backend is
// terminated.
type killPoint string

const (
	// The pooled connection's backend is killed while idle, between calls;
	// the next call is sent on the dead connection (the pool's ping of
	// connections idle for a second is off, so it is not replaced first).
	killIdle killPoint = "idle before the call"
	// The call's statement waits for the lock row, which an admin
	// transaction holds FOR UPDATE.
	killRowLock killPoint = "waiting on the lock row"
	// Transactions only: the application's TxFunc has written its row and
	// pauses; the backend is idle in the transaction, COMMIT not yet sent.
	killInTx killPoint = "idle in the transaction"
	// Transactions only: the application's own statement waits on a row
	// an admin transaction holds.
	killAppStatement killPoint = "the application's statement on a row lock"
	// Transactions only: COMMIT runs a deferred constraint trigger that
	// waits on a row an admin transaction holds: COMMIT has been sent,
	// the commit record is not written.
	killCommitBefore killPoint = "in COMMIT, before the commit record"
	// COMMIT (for one statement, the statement's own commit) waits for the
	// absent synchronous standby: the commit record is written and the
	// write visible; only the answer is missing.
	killCommitAfter killPoint = "in COMMIT, after the commit record"
)

var (
	statementPoints   = []killPoint{killIdle, killRowLock, killCommitAfter}
	transactionPoints = []killPoint{killIdle, killRowLock, killInTx, killAppStatement, killCommitBefore, killCommitAfter}
)

// killOp is one kind of pgstore call under test.
type killOp struct {
	name string
	// tx: the call is a transaction that runs the application's TxFunc.
	tx bool
	// seed puts the key in the state the call expects.
	seed func(t *testing.T, f *killFixture)
	// call makes the call; ops is nil for a one-statement call.
	call func(ctx context.Context, f *killFixture, ops pgstore.TxFunc) error
	// landed reports whether the call's write is in the table.
	landed func(t *testing.T, f *killFixture) bool
}

// TestBackendKilled terminates the backend serving a pgstore call, with
// pg_terminate_backend from a second connection, at each point the call
// can be at on the server, for every kind of write, and holds what pgstore
// reports against what the table holds afterwards (read directly):
//
//   - ErrUnavailable only when nothing was applied, and exactly that
//     where the server answered with the kill (FATAL 57P01) or the
//     transaction never reached its commit record;
//   - a *backend.AmbiguousError where the commit record was written and
//     only the answer was lost, and there the write did land;
//   - never success without the write, never a conflict or guard failure
//     (nobody else touched the key);
//   - the application's rows of a guarded write or commit-release commit
//     only together with the lock check and the release;
//   - and afterwards the store works again: the pool dials a new backend.
func TestBackendKilled(t *testing.T) {
	c := faultCluster(t)
	var mu sync.Mutex
	figures := map[string]int{}
	for _, op := range killOps() {
		points := statementPoints
		if op.tx {
			points = transactionPoints
		}
		for _, point := range points {
			t.Run(op.name+"/"+string(point), func(t *testing.T) {
				f := newKillFixture(t, c.Addr)
				op.seed(t, f)
				err := f.killDuring(point, func(ctx context.Context, ops pgstore.TxFunc) error {
					if !op.tx {
						ops = nil
					}
					return op.call(ctx, f, ops)
				})
				landed := op.landed(t, f)
				outcome := requireTruthful(t, err, landed)
				switch point {
				case killCommitAfter:
					var amb *backend.AmbiguousError
					require.ErrorAs(t, err, &amb, "the commit record was written and the answer lost")
					require.True(t, landed, "the backend was killed after its commit record, yet the write is not there")
				default:
					require.ErrorIs(t, err, backend.ErrUnavailable, "killed before the commit record")
				}
				f.requireRecovers()
				mu.Lock()
				figures[string(point)+": "+outcome]++
				mu.Unlock()
			})
		}
	}
	logFigures(t, figures)
}

// requireTruthful checks the invariants every kill must keep and names
// the outcome for the figures.
func requireTruthful(t *testing.T, err error, landed bool) string {
	t.Helper()
	require.False(t, errors.Is(err, backend.ErrConflict), "a conflict invented by a kill: %v", err)
	require.False(t, errors.Is(err, backend.ErrGuardFailed), "a guard failure invented by a kill: %v", err)
	switch {
	case err == nil:
		require.True(t, landed, "reported success, yet the write is not in the table")
		return "succeeded, applied"
	case errors.Is(err, backend.ErrAmbiguous):
		require.False(t, errors.Is(err, backend.ErrUnavailable), "both ambiguous and unavailable: %v", err)
		if landed {
			return "ambiguous, applied"
		}
		return "ambiguous, not applied"
	case errors.Is(err, backend.ErrUnavailable):
		require.False(t, landed, "reported unavailable, yet the write is in the table: %v", err)
		return "unavailable, not applied"
	}
	t.Fatalf("neither unavailable nor ambiguous (applied: %v): %v", landed, err)
	return ""
}

func logFigures(t *testing.T, figures map[string]int) {
	var lines []string
	total := 0
	for k, n := range figures {
		lines = append(lines, fmt.Sprintf("%3d  %s", n, k))
		total += n
	}
	slices.Sort(lines)
	t.Logf("%d backends killed:\n%s", total, strings.Join(lines, "\n"))
}

func killOps() []killOp {
	const alice, bob = "alice", "bob"
	held := func(t *testing.T, f *killFixture) {
		_, err := f.direct.Acquire(f.ctx, backend.AcquireRequest{Record: lease(f.key, alice, "v1")})
		require.NoError(t, err)
	}
	version := func(t *testing.T, f *killFixture) (string, bool) {
		rec, err := f.direct.Get(f.ctx, f.key)
		if errors.Is(err, backend.ErrNotFound) {
			return "", false
		}
		require.NoError(t, err)
		return rec.Version, rec.Released
	}
	// The lock row is as seeded or as the call meant to leave it: a kill
	// never leaves a third state.
	isEither := func(t *testing.T, f *killFixture, seeded, wrote string, wroteReleased bool) bool {
		v, rel := version(t, f)
		if v == wrote {
			require.Equal(t, wroteReleased, rel)
			return true
		}
		require.Equal(t, seeded, v, "the lock row is neither as seeded nor as written")
		return false
	}
	return []killOp{{
		name: "acquire",
		seed: func(t *testing.T, f *killFixture) {
			held(t, f)
			rel := lease(f.key, alice, "v1r")
			rel.Released = true
			_, err := f.direct.Update(f.ctx, rel, "v1")
			require.NoError(t, err)
		},
		call: func(ctx context.Context, f *killFixture, _ pgstore.TxFunc) error {
			_, err := f.s.Acquire(ctx, backend.AcquireRequest{Record: lease(f.key, bob, "v2")})
			return err
		},
		landed: func(t *testing.T, f *killFixture) bool { return isEither(t, f, "v1r", "v2", false) },
	}, {
		name: "heartbeat",
		seed: held,
		call: func(ctx context.Context, f *killFixture, _ pgstore.TxFunc) error {
			_, err := f.s.Update(ctx, lease(f.key, alice, "v2"), "v1")
			return err
		},
		landed: func(t *testing.T, f *killFixture) bool { return isEither(t, f, "v1", "v2", false) },
	}, {
		name: "release",
		seed: held,
		call: func(ctx context.Context, f *killFixture, _ pgstore.TxFunc) error {
			rel := lease(f.key, alice, "v2")
			rel.Released = true
			_, err := f.s.Update(ctx, rel, "v1")
			return err
		},
		landed: func(t *testing.T, f *killFixture) bool { return isEither(t, f, "v1", "v2", true) },
	}, {
		name: "delete",
		seed: held,
		call: func(ctx context.Context, f *killFixture, _ pgstore.TxFunc) error {
			return f.s.Delete(ctx, f.key, "v1")
		},
		landed: func(t *testing.T, f *killFixture) bool {
			v, _ := version(t, f)
			if v != "" {
				require.Equal(t, "v1", v)
			}
			return v == ""
		},
	}, {
		name: "guarded write",
		tx:   true,
		seed: held,
		call: func(ctx context.Context, f *killFixture, ops pgstore.TxFunc) error {
			return f.s.WriteGuarded(ctx, backend.Guard{Key: f.key, Owner: alice, Token: 1}, ops)
		},
		landed: func(t *testing.T, f *killFixture) bool {
			v, rel := version(t, f)
			require.Equal(t, "v1", v, "a guarded write changed the lock row")
			require.False(t, rel)
			return f.appRowWritten(t)
		},
	}, {
		name: "commit-release",
		tx:   true,
		seed: held,
		call: func(ctx context.Context, f *killFixture, ops pgstore.TxFunc) error {
			rel := lease(f.key, alice, "v2")
			rel.Released = true
			return f.s.CommitRelease(ctx, backend.CommitReleaseRequest{Record: rel, ExpectVersion: "v1", Ops: ops})
		},
		landed: func(t *testing.T, f *killFixture) bool {
			released := isEither(t, f, "v1", "v2", true)
			wrote := f.appRowWritten(t)
			require.Equal(t, released, wrote, "the release and the application's row did not commit together")
			return wrote
		},
	}}
}

// killFixture is one kill: a lock table with an application table beside
// it, a store under test on one named connection, and an admin pool on
// the same server that locks rows, watches the store's backend in
// pg_stat_activity and terminates it.
type killFixture struct {
	t      *testing.T
	ctx    context.Context
	addr   string
	direct *pgstore.Store // on the admin pool
	admin  *pgxpool.Pool
	table  string // the lock table
	app    string // the application table
	gate   string // the row a deferred trigger on the application table waits for

	s       *pgstore.Store // under test: one connection, application_name appName
	pool    *pgxpool.Pool
	appName string
	key     backend.Key
	rowID   string // the application's row of this call
	killed  int32  // the pid terminated
}

func newKillFixture(t *testing.T, addr string) *killFixture {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	table := freshTable()
	direct := newStoreOn(t, addr, table, true)
	h := handleOf(t, direct)
	f := &killFixture{t: t, ctx: ctx, addr: addr, direct: direct, admin: h.pool, table: table, app: h.appTable,
		gate: "gate_" + table, key: backend.Key{Partition: "k"}, rowID: "row-" + strings.ToLower(rand.Text()[:8]),
		appName: "pgfault_" + strings.ToLower(rand.Text()[:10])}
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY)`, f.gate),
		fmt.Sprintf(`INSERT INTO %s VALUES (1)`, f.gate),
		fmt.Sprintf(`CREATE FUNCTION wait_%[1]s() RETURNS trigger LANGUAGE plpgsql AS
			$$BEGIN PERFORM 1 FROM %[1]s WHERE id = 1 FOR UPDATE; RETURN NULL; END$$`, f.gate),
		fmt.Sprintf(`CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON %s DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW WHEN (NEW.id LIKE 'gated-%%') EXECUTE FUNCTION wait_%s()`, f.app, f.gate),
		fmt.Sprintf(`INSERT INTO %s VALUES ('contended')`, f.app),
	} {
		_, err := f.admin.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	f.s = newStoreOn(t, addr, table, false, func(c *pgxpool.Config) {
		c.MaxConns = 1
		c.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
		c.ConnConfig.RuntimeParams["application_name"] = f.appName
	})
	f.pool = handleOf(t, f.s).pool
	return f
}

// activity is the store's backend as pg_stat_activity shows it.
type activity struct {
	pid                        int32
	state, waitType, waitEvent string
	query                      string
}

func (a activity) String() string {
	return fmt.Sprintf("pid %d, state %q, waiting on %s/%s, query %.40q", a.pid, a.state, a.waitType, a.waitEvent, a.query)
}

// backend returns the store's backend; found is false when it has none.
func (f *killFixture) backend() (a activity, found bool) {
	err := f.admin.QueryRow(f.ctx, `SELECT pid, coalesce(state, ''), coalesce(wait_event_type, ''),
		coalesce(wait_event, ''), query FROM pg_stat_activity WHERE application_name = $1`, f.appName).
		Scan(&a.pid, &a.state, &a.waitType, &a.waitEvent, &a.query)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, false
	}
	require.NoError(f.t, err)
	return a, true
}

// awaitBackend polls pg_stat_activity until the store's backend is as
// cond says, or the call ends first (it then failed before reaching that
// point, which fails the test), or the fixture's deadline passes.
func (f *killFixture) awaitBackend(what string, done <-chan error, cond func(activity) bool) activity {
	f.t.Helper()
	var last activity
	for {
		if a, ok := f.backend(); ok {
			last = a
			if cond(a) {
				return a
			}
		}
		select {
		case err := <-done:
			f.t.Fatalf("the call ended (%v) before its backend was %s; last seen: %v", err, what, last)
		case <-f.ctx.Done():
			f.t.Fatalf("the store's backend never was %s; last seen: %v", what, last)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// terminate ends the backend pid and waits until it has exited.
func (f *killFixture) terminate(pid int32) {
	f.t.Helper()
	var ok bool
	require.NoError(f.t, f.admin.QueryRow(f.ctx, `SELECT pg_terminate_backend($1, 20000)`, pid).Scan(&ok))
	require.True(f.t, ok, "backend %d did not exit", pid)
	f.killed = pid
}

// hold takes a row lock in an admin transaction, rolled back when the
// test ends or release is called.
func (f *killFixture) hold(query string, args ...any) (release func()) {
	tx, err := f.admin.Begin(f.ctx)
	require.NoError(f.t, err)
	var one int
	require.NoError(f.t, tx.QueryRow(f.ctx, query, args...).Scan(&one))
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(context.Background()) }) }
	f.t.Cleanup(release)
	return release
}

// killDuring runs call and terminates its backend at point. call gets the
// application's TxFunc, which writes f.rowID (and, per point, first waits
// on a row or then pauses); a one-statement call ignores it. It returns
// the call's error.
func (f *killFixture) killDuring(point killPoint, call func(context.Context, pgstore.TxFunc) error) error {
	t := f.t
	// Connect, so that the call meets a backend that exists already.
	if _, err := f.s.Get(f.ctx, f.key); !errors.Is(err, backend.ErrNotFound) {
		require.NoError(t, err)
	}
	if point == killCommitBefore {
		f.rowID = "gated-" + f.rowID
	}
	paused, resume := make(chan struct{}), make(chan struct{})
	ops := func(ctx context.Context, tx pgx.Tx) error {
		if point == killAppStatement {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET id = id WHERE id = 'contended'`, f.app)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id) VALUES ($1)`, f.app), f.rowID); err != nil {
			return err
		}
		if point == killInTx {
			close(paused)
			<-resume
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	start := func() <-chan error {
		done := make(chan error, 1)
		go func() { done <- call(ctx, ops) }()
		return done
	}
	waitingOnLock := func(a activity) bool { return a.waitType == "Lock" }

	switch point {
	case killIdle:
		a, ok := f.backend()
		require.True(t, ok, "the store has no backend")
		require.Equal(t, "idle", a.state)
		f.terminate(a.pid)
		return call(ctx, ops)
	case killRowLock:
		release := f.hold(fmt.Sprintf(`SELECT 1 FROM %s WHERE pkey = $1 AND skey = $2 FOR UPDATE`, f.table), f.key.Partition, f.key.Sort)
		defer release()
		done := start()
		f.terminate(f.awaitBackend("waiting on the lock row", done, waitingOnLock).pid)
		return <-done
	case killInTx:
		done := start()
		select {
		case <-paused:
		case err := <-done:
			t.Fatalf("the call ended (%v) before the application's statements ran", err)
		}
		a, ok := f.backend()
		require.True(t, ok, "the store has no backend")
		require.Equal(t, "idle in transaction", a.state)
		f.terminate(a.pid)
		close(resume)
		return <-done
	case killAppStatement:
		release := f.hold(fmt.Sprintf(`SELECT 1 FROM %s WHERE id = 'contended' FOR UPDATE`, f.app))
		defer release()
		done := start()
		f.terminate(f.awaitBackend("running the application's statement", done, waitingOnLock).pid)
		return <-done
	case killCommitBefore:
		release := f.hold(fmt.Sprintf(`SELECT 1 FROM %s WHERE id = 1 FOR UPDATE`, f.gate))
		defer release()
		done := start()
		f.terminate(f.awaitBackend("in COMMIT's deferred trigger", done, func(a activity) bool {
			return waitingOnLock(a) && strings.EqualFold(strings.TrimSpace(a.query), "commit")
		}).pid)
		return <-done
	case killCommitAfter:
		// Ask the store's session (the pool's one connection) to wait for
		// the standby at its next commit: a transaction's COMMIT, or a
		// single statement's own.
		_, err := f.pool.Exec(f.ctx, `SET synchronous_commit = on`)
		require.NoError(t, err)
		done := start()
		f.terminate(f.awaitBackend("waiting for the synchronous standby", done, func(a activity) bool {
			return a.waitEvent == "SyncRep"
		}).pid)
		return <-done
	}
	t.Fatalf("unknown kill point %q", point)
	return nil
}

// appRowWritten reports whether this call's application row committed.
func (f *killFixture) appRowWritten(t *testing.T) bool {
	var n int
	require.NoError(t, f.admin.QueryRow(f.ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE id = $1`, f.app), f.rowID).Scan(&n))
	return n == 1
}

// requireRecovers checks that the store works after the kill: its next
// calls succeed, on a new backend.
func (f *killFixture) requireRecovers() {
	t := f.t
	require.NotZero(t, f.killed)
	next := backend.Key{Partition: "after-" + f.rowID}
	_, err := f.s.Acquire(f.ctx, backend.AcquireRequest{Record: lease(next, "carol", "a1")})
	require.NoError(t, err, "the first call after the kill")
	_, err = f.s.Get(f.ctx, next)
	require.NoError(t, err)
	a, ok := f.backend()
	require.True(t, ok, "the store has no backend after the kill")
	require.NotEqual(t, f.killed, a.pid, "the store still uses the killed backend")
}

// TestBackendKilledUnderTheEngine kills the backend under the engine's
// calls, where the engine resolves what the store reports: a heartbeat,
// an acquisition and a commit-and-release whose answers were lost after
// their commit records are settled as applied by reading the record back
// (not as failures, not as steals); a release killed while waiting for the
// row leaves the lock held and can be retried; a guarded write whose
// application statement was killed is unavailable and loses nothing.
func TestBackendKilledUnderTheEngine(t *testing.T) {
	c := faultCluster(t)
	newClient := func(t *testing.T, f *killFixture) *lock.Client {
		// Background heartbeats come far apart, so that every store call
		// here is one the test makes.
		cl, err := lock.New(f.s, lock.WithOwner("alice"), lock.WithLeaseDuration(time.Minute),
			lock.WithHeartbeatPeriod(30*time.Second))
		require.NoError(t, err)
		t.Cleanup(func() { _ = cl.Close(context.Background()) })
		return cl
	}
	stored := func(t *testing.T, f *killFixture) backend.Record {
		rec, err := f.direct.Get(f.ctx, f.key)
		require.NoError(t, err)
		return rec
	}

	t.Run("acquire/"+string(killCommitAfter), func(t *testing.T) {
		f := newKillFixture(t, c.Addr)
		cl := newClient(t, f)
		var l *lock.Lock
		err := f.killDuring(killCommitAfter, func(ctx context.Context, _ pgstore.TxFunc) (err error) {
			l, err = cl.Acquire(ctx, f.key.Partition)
			return err
		})
		require.NoError(t, err, "the acquisition landed; the engine must find it")
		rec := stored(t, f)
		require.Equal(t, "alice", rec.Owner)
		require.Equal(t, rec.Token, l.Token())
		require.NoError(t, l.Heartbeat(f.ctx), "the engine holds the version it wrote")
		f.requireRecovers()
	})

	t.Run("heartbeat/"+string(killCommitAfter), func(t *testing.T) {
		f := newKillFixture(t, c.Addr)
		cl := newClient(t, f)
		l, err := cl.Acquire(f.ctx, f.key.Partition)
		require.NoError(t, err)
		before := stored(t, f).Version
		err = f.killDuring(killCommitAfter, func(ctx context.Context, _ pgstore.TxFunc) error { return l.Heartbeat(ctx) })
		require.NoError(t, err, "the heartbeat landed; the engine must find it")
		require.NotEqual(t, before, stored(t, f).Version)
		require.NoError(t, l.Err())
		require.NoError(t, l.Heartbeat(f.ctx), "the engine adopted the version the lost answer carried")
		f.requireRecovers()
	})

	t.Run("commit-and-release/"+string(killCommitAfter), func(t *testing.T) {
		f := newKillFixture(t, c.Addr)
		cl := newClient(t, f)
		l, err := cl.Acquire(f.ctx, f.key.Partition)
		require.NoError(t, err)
		err = f.killDuring(killCommitAfter, func(ctx context.Context, ops pgstore.TxFunc) error {
			return pgstore.CommitAndRelease(ctx, l, ops)
		})
		require.NoError(t, err, "the commit landed; the engine must find its release")
		require.ErrorIs(t, l.Err(), lock.ErrReleased)
		require.True(t, stored(t, f).Released)
		require.True(t, f.appRowWritten(t))
		f.requireRecovers()
	})

	t.Run("release/"+string(killRowLock), func(t *testing.T) {
		f := newKillFixture(t, c.Addr)
		cl := newClient(t, f)
		l, err := cl.Acquire(f.ctx, f.key.Partition)
		require.NoError(t, err)
		err = f.killDuring(killRowLock, func(ctx context.Context, _ pgstore.TxFunc) error { return l.Release(ctx) })
		require.ErrorIs(t, err, backend.ErrUnavailable)
		require.NoError(t, l.Err(), "a release that was not applied leaves the lock held")
		require.False(t, stored(t, f).Released)
		f.requireRecovers()
		require.NoError(t, l.Release(f.ctx), "the release again, on a new backend")
		require.True(t, stored(t, f).Released)
	})

	t.Run("guarded write/"+string(killAppStatement), func(t *testing.T) {
		f := newKillFixture(t, c.Addr)
		cl := newClient(t, f)
		l, err := cl.Acquire(f.ctx, f.key.Partition)
		require.NoError(t, err)
		err = f.killDuring(killAppStatement, func(ctx context.Context, ops pgstore.TxFunc) error {
			return pgstore.WriteGuarded(ctx, l, ops)
		})
		require.ErrorIs(t, err, backend.ErrUnavailable)
		require.NoError(t, l.Err(), "a guarded write that was not applied changes nothing of the lock")
		require.False(t, f.appRowWritten(t))
		f.requireRecovers()
		require.NoError(t, pgstore.WriteGuarded(f.ctx, l, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id) VALUES ($1)`, f.app), f.rowID)
			return err
		}), "the guarded write again, on a new backend")
		require.True(t, f.appRowWritten(t))
	})
}
