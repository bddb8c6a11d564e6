package pgstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
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

// ownCluster starts a private cluster for one test, stopped and removed
// when it ends: for tests that restart or reconfigure the server, which
// would disturb the shared one. Start costs about a second here.
func ownCluster(t testing.TB, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	needCluster(t)
	c, err := pgcluster.Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the test's own cluster: %v", err)
		}
	})
	return c
}
