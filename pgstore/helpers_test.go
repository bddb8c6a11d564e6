package pgstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/pgstore"
)

// handles maps each store a test made to the pool and tables behind it,
// so that guarded ops (which receive only the store) know where to write.
var handles sync.Map // *pgstore.Store -> handle

type handle struct {
	pool     *pgxpool.Pool
	appTable string
}

func newPool(t testing.TB, addr string, cfgs ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn(addr))
	require.NoError(t, err)
	for _, f := range cfgs {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// freshTable returns a table name no other test uses.
func freshTable() string {
	// Lower case: the tests splice names into SQL unquoted, where
	// PostgreSQL folds them, while the store quotes them.
	return "locks_" + strings.ToLower(rand.Text()[:12])
}

// newStoreOn opens a store on table through addr; the first handle on a
// table creates it, with an application table beside it.
func newStoreOn(t testing.TB, addr, table string, create bool, cfgs ...func(*pgxpool.Config)) *pgstore.Store {
	t.Helper()
	pool := newPool(t, addr, cfgs...)
	s, err := pgstore.New(pool, pgstore.Options{Table: table})
	require.NoError(t, err)
	app := "app_" + table
	if create {
		require.NoError(t, s.CreateTable(testCtx(t)))
		_, err := pool.Exec(testCtx(t), fmt.Sprintf(`CREATE TABLE %s (id text PRIMARY KEY)`, app))
		require.NoError(t, err)
	}
	handles.Store(s, handle{pool: pool, appTable: app})
	t.Cleanup(func() { handles.Delete(s) })
	return s
}

// newPair is the harness's NewStores: two pools, two handles, one table.
func newPair(t *testing.T) (backend.Store, backend.Store) {
	addr := needCluster(t)
	table := freshTable()
	return newStoreOn(t, addr, table, true), newStoreOn(t, addr, table, false)
}

func handleOf(t testing.TB, s backend.Store) handle {
	h, ok := handles.Load(s)
	require.True(t, ok, "store %p was not made by newStoreOn", s)
	return h.(handle)
}

// guardedOpDuring writes one row into the application table from inside
// the store's transaction, calling during after the insert, before commit.
func guardedOpDuring(t *testing.T, s backend.Store, during func()) (any, func() bool) {
	h := handleOf(t, s)
	id := rand.Text()
	ops := func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id) VALUES ($1)`, h.appTable), id); err != nil {
			return err
		}
		during()
		return nil
	}
	written := func() bool {
		var n int
		err := h.pool.QueryRow(context.Background(),
			fmt.Sprintf(`SELECT count(*) FROM %s WHERE id = $1`, h.appTable), id).Scan(&n)
		require.NoError(t, err)
		return n == 1
	}
	return ops, written
}

var errAppCondition = errors.New("application condition does not hold")

// failingOp writes a row and then finds its own condition false, as an
// application's optimistic check would: the store must apply none of it.
func failingOp(t *testing.T, s backend.Store) any {
	h := handleOf(t, s)
	return func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id) VALUES ($1)`, h.appTable), rand.Text()); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE id = 'never'`, h.appTable)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errAppCondition
		}
		return nil
	}
}

// cancelsDirect makes a pool behind a netfault proxy send pgx's cancel
// requests straight to the server. After a connection fails mid-query,
// pgx opens a second connection in the background to cancel the query;
// through the proxy, that connection would count as one of the next
// call's request-answer turns whenever it happens to start after the
// sweep set its next cut, so the turn a cut lands on would vary from run
// to run. The cancel is no part of any write, and the server has finished
// the statement anyway.
func cancelsDirect(serverAddr string) func(*pgxpool.Config) {
	return func(c *pgxpool.Config) {
		var d net.Dialer
		c.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if fromCancelRequest() {
				addr = serverAddr
			}
			return d.DialContext(ctx, network, addr)
		}
	}
}

func fromCancelRequest() bool {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, ".(*PgConn).CancelRequest") {
			return true
		}
		if !more {
			return false
		}
	}
}
