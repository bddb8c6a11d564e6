package pgstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers/pgcluster"
)

// cluster is the private PostgreSQL server every test in this package
// uses (see internal/testservers/pgcluster), stopped and removed when the
// tests end. Empty addr means none could be started (see skipReason).
var cluster struct {
	addr       string // 127.0.0.1:port
	skipReason string
}

func TestMain(m *testing.M) {
	c, err := pgcluster.Start(pgcluster.Options{})
	if err != nil {
		if os.Getenv("LEASELOCK_REQUIRE_SERVERS") == "1" {
			fmt.Fprintf(os.Stderr, "pgstore: PostgreSQL is required (LEASELOCK_REQUIRE_SERVERS=1): %v\n", err)
			os.Exit(1)
		}
		cluster.skipReason = "no PostgreSQL: " + err.Error()
	}
	if c != nil {
		cluster.addr = c.Addr
	}
	code := m.Run()
	if faults.c != nil {
		if err := faults.c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgstore: %v\n", err)
		}
	}
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgstore: %v\n", err)
		}
	}
	os.Exit(code)
}

// needCluster skips (or, with LEASELOCK_REQUIRE_SERVERS=1, TestMain has
// already failed) when there is no server.
func needCluster(t testing.TB) string {
	t.Helper()
	if cluster.addr == "" {
		t.Skip(cluster.skipReason)
	}
	return cluster.addr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func dsn(addr string) string {
	return "postgres://postgres@" + addr + "/postgres?sslmode=disable&connect_timeout=5"
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// faults is a second private cluster, for the tests that kill backends
// and stop or restart the server: they end every session on it, which
// would disturb tests on the shared one. Its commits are durable against
// a crash of the server (synchronous_commit = local: each commit's WAL is
// written before the answer; fsync stays off, which only an operating
// system crash would expose). With the shared cluster's
// synchronous_commit = off, an immediate stop loses the commits of the
// last few hundred milliseconds, acquisitions and heartbeats the clients
// were told had succeeded (docs/postgres.md, "Durability"). It also waits
// for a synchronous standby that never comes (absentStandby), which only
// sessions that ask for synchronous_commit = on notice. Started on first
// use (about a second here); TestMain stops it.
var faults struct {
	once sync.Once
	c    *pgcluster.Cluster
	err  error
}

func faultCluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	needCluster(t)
	faults.once.Do(func() {
		faults.c, faults.err = pgcluster.Start(pgcluster.Options{
			Settings: map[string]string{"synchronous_commit": "local", "synchronous_standby_names": absentStandby}})
	})
	require.NoError(t, faults.err)
	// Running, even if an earlier test failed while it was stopped.
	require.NoError(t, faults.c.StartServer())
	return faults.c
}
