package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/internal/testservers/pgcluster"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/pgstore"
)

// pgEnv is one test's lock table on the shared PostgreSQL cluster, whose
// superuser has a password: every result of pg.cli is checked for it.
type pgEnv struct {
	cluster *pgcluster.Cluster
	table   string
	url     string // the store URL, password included
}

// newPGEnv names a fresh table; create makes it through the CLI.
func newPGEnv(t *testing.T, create bool) pgEnv {
	t.Helper()
	c := testservers.Postgres(t)
	pg := pgEnv{cluster: c, table: "locks_" + strings.ToLower(rand.Text()[:12])}
	pg.url = c.URL("postgres") + "&table=" + pg.table
	if create {
		r := pg.mustCLI(t, "table", "create", "--store", pg.url)
		requireContains(t, r.stdout, `created table "`+pg.table+`" in database "postgres" at `+c.Addr)
	}
	return pg
}

// cli runs leaselock in-process and fails the test if the password shows.
func (pg pgEnv) cli(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	r := cli(t, stdin, args...)
	pg.noPassword(t, r)
	return r
}

func (pg pgEnv) mustCLI(t *testing.T, args ...string) result {
	t.Helper()
	r := pg.cli(t, nil, args...)
	requireCode(t, r, exitOK)
	return r
}

// noPassword fails the test if the cluster's password is in r's output.
func (pg pgEnv) noPassword(t *testing.T, r result) {
	t.Helper()
	if pw := pg.cluster.Password; strings.Contains(r.stdout+r.stderr, pw) {
		t.Errorf("the password shows in the output:\n%v", r)
	}
}

// urlWith returns the store URL with its query replaced by query.
func (pg pgEnv) urlWith(query string) string {
	base, _, _ := strings.Cut(pg.url, "?")
	return base + "?" + query
}

// store opens the test table directly, for tests that set up or check
// records without the CLI.
func (pg pgEnv) store(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pg.cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st, err := pgstore.New(pool, pgstore.Options{Table: pg.table})
	if err != nil {
		t.Fatal(err)
	}
	return st, pool
}

// holder returns a lock client named owner on the test table.
func (pg pgEnv) holder(t *testing.T, owner string, lease, beat time.Duration) *lock.Client {
	t.Helper()
	st, _ := pg.store(t)
	return testHolder(t, st, owner, lease, beat)
}

func TestPostgresTable(t *testing.T) {
	t.Parallel()
	pg := newPGEnv(t, true)

	r := pg.mustCLI(t, "table", "create", "--store", pg.url)
	requireContains(t, r.stdout, `table "`+pg.table+`" in database "postgres" at `+pg.cluster.Addr+" already exists")
	pg.mustCLI(t, "table", "create", "--store", pg.url, "--if-not-exists")

	r = pg.mustCLI(t, "table", "describe", "--store", pg.url)
	requireContains(t, r.stdout, "table      public."+pg.table, "database   postgres at "+pg.cluster.Addr,
		"layout     "+pgstore.SchemaVersion, "columns    pkey text NOT NULL, skey text NOT NULL, owner text NOT NULL",
		"primary    (pkey, skey)", "rows       0", "matches: the table has pgstore's layout")

	st, pool := pg.store(t)
	if _, err := st.Acquire(testCtx(t), backend.AcquireRequest{Record: backend.Record{
		Key: backend.Key{Partition: "k"}, Owner: "o", Version: "v1", LeaseDuration: time.Second}}); err != nil {
		t.Fatal(err)
	}
	r = pg.mustCLI(t, "table", "describe", "--store", pg.url, "--json")
	var d pgTableDescription
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("describe --json: %v\n%s", err, r.stdout)
	}
	if d.Table != pg.table || d.Qualified != "public."+pg.table || d.Database != "postgres" || d.Server != pg.cluster.Addr ||
		len(d.Columns) != 9 || strings.Join(d.PrimaryKey, ",") != "pkey,skey" || d.Rows != 1 || !d.Matches {
		t.Errorf("describe --json: %+v", d)
	}

	// A schema-qualified name.
	if _, err := pool.Exec(testCtx(t), `CREATE SCHEMA IF NOT EXISTS cli_locks`); err != nil {
		t.Fatal(err)
	}
	qualified := pg.urlWith("sslmode=disable&table=cli_locks." + pg.table)
	pg.mustCLI(t, "table", "create", "--store", qualified)
	requireContains(t, pg.mustCLI(t, "table", "describe", "--store", qualified).stdout, "table      cli_locks."+pg.table)

	// DynamoDB's flags do not apply.
	r = pg.cli(t, nil, "table", "create", "--store", pg.url, "--ttl", "expiresAt")
	requireCode(t, r, exitUsage)
	requireContains(t, r.stderr, "--ttl applies to DynamoDB tables only")
}

// TestPostgresWrongSchema: a table of another layout is described with
// its differences and refused by every command, never altered.
func TestPostgresWrongSchema(t *testing.T) {
	t.Parallel()
	pg := newPGEnv(t, false)
	_, pool := pg.store(t)
	if _, err := pool.Exec(testCtx(t), fmt.Sprintf(`CREATE TABLE %s (pkey text PRIMARY KEY, owner integer)`, pg.table)); err != nil {
		t.Fatal(err)
	}
	r := pg.cli(t, nil, "table", "describe", "--store", pg.url)
	requireCode(t, r, exitConfig)
	requireContains(t, r.stdout, "layout     -", "columns    pkey text NOT NULL, owner integer", "primary    (pkey)",
		"DOES NOT MATCH: missing column skey", "column owner is integer, want text", "primary key is (pkey), want (pkey, skey)")
	requireContains(t, r.stderr, "table schema mismatch", "'leaselock table describe' shows the differences")

	r = pg.cli(t, nil, "table", "create", "--store", pg.url)
	requireCode(t, r, exitConfig)
	requireContains(t, r.stdout, "already exists")
	requireContains(t, r.stderr, "missing column skey")
	var comment *string
	if err := pool.QueryRow(testCtx(t), `SELECT obj_description(to_regclass($1), 'pg_class')`, pg.table).Scan(&comment); err != nil || comment != nil {
		t.Errorf("table create touched the existing table's comment: %v %v", comment, err)
	}
	for _, args := range [][]string{
		{"ls", "--store", pg.url}, {"get", "--store", pg.url, "k"}, {"release", "--force", "--yes", "--store", pg.url, "k"},
		{"run", "--store", pg.url, "--no-wait", "k", "--", "true"},
	} {
		r := pg.cli(t, nil, args...)
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "table schema mismatch", "not a lock table of pgstore's layout")
	}
}

func TestPostgresLsAndGet(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	pg := newPGEnv(t, true)
	alice := pg.holder(t, "alice", time.Minute, 15*time.Second)
	bob := pg.holder(t, "bob", time.Minute, 15*time.Second)

	r := pg.mustCLI(t, "ls", "--store", pg.url)
	requireContains(t, r.stderr, "no locks")

	if _, err := alice.Acquire(ctx, "orders", lock.WithData([]byte("batch 7"))); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		l, err := bob.Acquire(ctx, "invoices")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	orders, err := alice.Get(ctx, "orders", "")
	if err != nil {
		t.Fatal(err)
	}
	r = pg.mustCLI(t, "ls", "--store", pg.url)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "KEY OWNER TOKEN STATE LEASE RENEWED VERSION" {
		t.Fatalf("want a header without SORT and 2 rows:\n%s", r.stdout)
	}
	requireRow(t, r.stdout, "invoices bob 2 released 1m0s")
	requireRow(t, r.stdout, "orders alice 1 held 1m0s")

	r = pg.mustCLI(t, "ls", "--store", pg.url, "--partition", "orders", "--json")
	var views []lockView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(views) != 1 || views[0].Owner != "alice" || views[0].Token != 1 || string(views[0].Data) != "batch 7" ||
		views[0].WrittenAt == nil || views[0].Version != orders.Version {
		t.Errorf("ls --partition orders --json: %+v", views)
	}
	r = pg.mustCLI(t, "get", "--store", pg.url, "orders")
	requireContains(t, r.stdout, "state      held", "owner      alice", "token      1", "version    "+orders.Version,
		`data       "batch 7" (7 bytes)`, "by the writer's clock")
	requireContains(t, pg.mustCLI(t, "get", "--store", pg.url, "nothing-here").stdout, "state      free (no record)")

	// Sort keys are optional per key on PostgreSQL: ls shows the column
	// once a record has one, and get takes --sort or not.
	if _, err := alice.Acquire(ctx, "db", lock.WithSortKey("shard-1")); err != nil {
		t.Fatal(err)
	}
	r = pg.mustCLI(t, "ls", "--store", pg.url)
	requireContains(t, r.stdout, "SORT")
	requireRow(t, r.stdout, "db shard-1 alice 1 held")
	requireContains(t, pg.mustCLI(t, "get", "--store", pg.url, "--sort", "shard-1", "db").stdout,
		"sort key   shard-1", "owner      alice")
	requireContains(t, pg.mustCLI(t, "get", "--store", pg.url, "db").stdout, "state      free")
}

func TestPostgresReleaseForce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	pg := newPGEnv(t, true)
	st, _ := pg.store(t)
	alice := pg.holder(t, "alice", 2*time.Second, 100*time.Millisecond)
	l, err := alice.Acquire(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}

	// The holder heartbeats while the operator reads the question: the
	// conditional write on the version read must not clobber it.
	r := pg.cli(t, &heartbeatThenYes{t: t, l: l}, "release", "--force", "--store", pg.url, "orders")
	requireCode(t, r, exitTempFail)
	requireContains(t, r.stderr, "changed since it was read", "owner alice, token 1, held", "nothing was written")
	if l.Err() != nil {
		t.Fatalf("lock lost: %v", l.Err())
	}

	// A live holder heartbeats every 100ms, and may land between the read
	// and the write at any time: the operator runs the command again.
	r = forceRelease(t, pg.url, "orders")
	pg.noPassword(t, r)
	requireContains(t, r.stdout, "released orders (was held by alice with token 1); the next acquirer gets token 2")
	requireToldOfForceRelease(t, l)
	rec, err := st.Get(ctx, backend.Key{Partition: "orders"})
	if err != nil || !rec.Released || rec.Token != 1 {
		t.Fatalf("record after release: %+v %v", rec, err)
	}
	l2, err := alice.Acquire(ctx, "orders")
	if err != nil || l2.Token() != 2 {
		t.Fatalf("re-acquire: %v %v", l2, err)
	}
	requireContains(t, pg.mustCLI(t, "release", "--force", "--yes", "--store", pg.url, "no-such-lock").stdout,
		"no record: nothing to release")
}

// TestPostgresStoreErrors: the exit codes and hints of docs/cli.md, and
// never the password.
func TestPostgresStoreErrors(t *testing.T) {
	t.Parallel()
	pg := newPGEnv(t, false)

	t.Run("missing table", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"ls", "--store", pg.url}, {"get", "--store", pg.url, "k"},
			{"release", "--force", "--yes", "--store", pg.url, "k"},
			{"run", "--store", pg.url, "k", "--", "true"}, {"table", "describe", "--store", pg.url},
		} {
			r := pg.cli(t, nil, args...)
			requireCode(t, r, exitConfig)
			requireContains(t, r.stderr, fmt.Sprintf("table %q in database \"postgres\" at %s: table not found", pg.table, pg.cluster.Addr),
				"leaselock table create")
		}
	})
	t.Run("refused connection", func(t *testing.T) {
		t.Parallel()
		url := strings.Replace(pg.url, pg.cluster.Addr, closedPort(t), 1)
		r := pg.cli(t, nil, "ls", "--store", url)
		requireCode(t, r, exitUnavailable)
		requireContains(t, r.stderr, "connection refused", "Cannot reach PostgreSQL")
		r = pg.cli(t, nil, "run", "--store", url, "--no-wait", "k", "--", "true")
		requireCode(t, r, exitUnavailable)
		requireContains(t, r.stderr, "Cannot reach PostgreSQL")
		// run retries until --timeout, start-up included.
		r = pg.cli(t, nil, "run", "--store", url, "--timeout", "1s", "k", "--", "true")
		requireCode(t, r, exitUnavailable)
		requireContains(t, r.stderr, "cannot reach the store (dial tcp", "connection refused); retrying",
			"timed out after 1s waiting for k: the store is unreachable")
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		url := strings.Replace(pg.url, ":"+pg.cluster.Password+"@", ":not-the-password@", 1)
		for _, args := range [][]string{
			{"ls", "--store", url}, {"table", "create", "--store", url}, {"run", "--store", url, "k", "--", "true"},
		} {
			r := pg.cli(t, nil, args...)
			requireCode(t, r, exitConfig)
			requireContains(t, r.stderr, `password authentication failed for user "postgres"`, "Check the user and password")
			if strings.Contains(r.stderr, "not-the-password") {
				t.Errorf("the wrong password shows:\n%s", r.stderr)
			}
		}
	})
	t.Run("missing database", func(t *testing.T) {
		t.Parallel()
		url := strings.Replace(pg.url, "/postgres?", "/nosuchdb?", 1)
		r := pg.cli(t, nil, "get", "--store", url, "k")
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, `database "nosuchdb" does not exist`, "Check the database")
	})
	t.Run("bad URLs", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"ls", "--store", pg.urlWith("tabel=x")}, `unknown parameter "tabel"`},
			{[]string{"ls", "--store", pg.urlWith("search_path=x")}, "options=-c NAME=VALUE"},
			{[]string{"ls", "--store", pg.urlWith("table=a&table=b")}, "table= given more than once"},
			{[]string{"ls", "--store", pg.urlWith("sslmode=disable&sslmode=require")}, "sslmode= given more than once"},
			{[]string{"ls", "--store", pg.urlWith("table=")}, "table= is empty"},
			{[]string{"ls", "--store", pg.urlWith("table=lock-table")}, "table=lock-table is not TABLE or SCHEMA.TABLE"},
			{[]string{"ls", "--store", pg.urlWith("table=a.b.c")}, "table=a.b.c is not TABLE or SCHEMA.TABLE"},
			{[]string{"ls", "--store", pg.urlWith("table=" + strings.Repeat("t", 64))}, "at most 63 bytes"},
			{[]string{"ls", "--store", pg.urlWith("region=eu-west-1")}, "region= is a parameter of dynamodb:// URLs"},
			{[]string{"ls", "--store", pg.urlWith("sslmode=sometimes")}, "sslmode"},
			{[]string{"ls", "--store", pg.urlWith("connect_timeout=soon")}, "connect_timeout"},
			{[]string{"get", "--store", pg.url, strings.Repeat("k", 1025)}, "the PostgreSQL store allows at most 1024"},
			{[]string{"get", "--store", pg.url, "a\x00b"}, "contains a NUL byte: PostgreSQL text cannot hold one"},
			{[]string{"table", "create", "--store", pg.url, "--billing", "provisioned", "--read", "1", "--write", "1"},
				"--billing applies to DynamoDB tables only"},
		} {
			r := pg.cli(t, nil, tc.args...)
			if r.code != exitUsage {
				t.Errorf("%q: want exit %d, got %v", tc.args, exitUsage, r)
				continue
			}
			requireContains(t, r.stderr, tc.want)
			if strings.Contains(r.stderr, "bad store URL") {
				requireContains(t, r.stderr, "bad store URL postgres://postgres:xxxxx@"+pg.cluster.Addr)
			}
		}
	})
	t.Run("postgresql scheme and store from environment", func(t *testing.T) {
		t.Parallel()
		pg := newPGEnv(t, true)
		url := strings.Replace(pg.url, "postgres://", "postgresql://", 1)
		r := runProcess(t, []string{storeEnv + "=" + url}, "ls")
		requireCode(t, r, exitOK)
		requireContains(t, r.stderr, "no locks")
		pg.noPassword(t, r)
	})
}

func TestParsePostgresURL(t *testing.T) {
	t.Parallel()
	spec, err := parsePostgresURL("postgres://app:p%40ss?w@db.internal:6432/locks?sslmode=disable&table=ops.leases&connect_timeout=7")
	if err != nil {
		t.Fatal(err)
	}
	c := spec.conn.ConnConfig
	if spec.table != "ops.leases" || c.Host != "db.internal" || c.Port != 6432 || c.Database != "locks" ||
		c.User != "app" || c.Password != "p@ss?w" || c.ConnectTimeout != 7*time.Second || len(c.RuntimeParams) != 0 {
		t.Errorf("got table %q, config %+v", spec.table, c)
	}
	if spec.masked != "postgres://app:xxxxx@db.internal:6432/locks?sslmode=disable&table=ops.leases&connect_timeout=7" {
		t.Errorf("masked %s", spec.masked)
	}
	for _, raw := range []string{"postgresql://h/db", "POSTGRES://h/db"} {
		if spec, err := parsePostgresURL(raw); err != nil || spec.table != pgstore.DefaultTable || spec.conn.ConnConfig.Host != "h" {
			t.Errorf("%s: %+v %v", raw, spec, err)
		}
	}
	spec, err = parsePostgresURL("postgres://h1,h2:5433/db?options=-c%20search_path%3Dlocks")
	if err != nil || spec.server() != "h1:5432" || !slices.ContainsFunc(spec.conn.ConnConfig.Fallbacks,
		func(f *pgconn.FallbackConfig) bool { return f.Host == "h2" && f.Port == 5433 }) ||
		spec.conn.ConnConfig.RuntimeParams["options"] != "-c search_path=locks" {
		t.Errorf("several hosts and options=: %v %+v", err, spec.conn.ConnConfig)
	}
	for raw, want := range map[string]string{
		"postgres://u:secret@h/db":                   "postgres://u:xxxxx@h/db",
		"postgres://u:se@cr/et@h/db?table=t":         "postgres://u:xxxxx@h/db?table=t",
		"postgres://u@h:5432/db?password=secret&x=1": "postgres://u@h:5432/db?password=xxxxx&x=1",
		"postgres://h:5432/db?application_name=me":   "postgres://h:5432/db?application_name=me",
		"mysql://u:secret@h/db":                      "mysql://u:xxxxx@h/db",
	} {
		if got := maskPassword(raw); got != want {
			t.Errorf("maskPassword(%s) = %s, want %s", raw, got, want)
		}
	}
}

// TestPostgresHelp: help lists both URL forms, and --store's own help too.
func TestPostgresHelp(t *testing.T) {
	t.Parallel()
	requireContains(t, mustCLI(t, "--help").stdout, "dynamodb://TABLE?", "postgres://USER:PASSWORD@HOST:PORT/DATABASE?table=NAME",
		"PG* environment variables")
	requireContains(t, mustCLI(t, "ls", "--help").stdout, "dynamodb://TABLE?", " or postgres://USER:PASSWORD@HOST")
	requireContains(t, mustCLI(t, "table", "create", "--help").stdout, "PostgreSQL: creates table=")
}
