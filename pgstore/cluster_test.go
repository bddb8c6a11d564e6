package pgstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cluster is the private PostgreSQL server every test in this package
// uses: initdb into a temporary directory, pg_ctl start on a free loopback
// port, stopped and removed when the tests end. Empty addr means none
// could be started (see skipReason).
var cluster struct {
	addr       string // 127.0.0.1:port
	skipReason string
}

// pgUser is who runs the server when the tests run as root: PostgreSQL
// refuses to run as root, and CI does.
const pgUser = "nobody"

func TestMain(m *testing.M) {
	stop, err := startCluster()
	if err != nil {
		if os.Getenv("LEASELOCK_REQUIRE_SERVERS") == "1" {
			fmt.Fprintf(os.Stderr, "pgstore: PostgreSQL is required (LEASELOCK_REQUIRE_SERVERS=1): %v\n", err)
			os.Exit(1)
		}
		cluster.skipReason = "no PostgreSQL: " + err.Error()
	}
	code := m.Run()
	if stop != nil {
		stop()
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

// findBin looks in LEASELOCK_PG_BINDIR when set (PostgreSQL installed
// somewhere else, or a test of what happens without it), else on PATH and
// in Debian's per-version directories.
func findBin(name string) (string, error) {
	if dir := os.Getenv("LEASELOCK_PG_BINDIR"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found in LEASELOCK_PG_BINDIR: %w", name, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found on PATH or under /usr/lib/postgresql (scripts/install-postgres.sh installs it)", name)
}

func startCluster() (stop func(), err error) {
	initdb, err := findBin("initdb")
	if err != nil {
		return nil, err
	}
	pgctl, err := findBin("pg_ctl")
	if err != nil {
		return nil, err
	}
	asRoot := os.Geteuid() == 0
	stopStale(pgctl, asRoot)
	dir, err := os.MkdirTemp("", "pgstore-test-")
	if err != nil {
		return nil, err
	}
	// The test process's pid, so that a later run can tell a cluster whose
	// tests were killed (a -timeout panic skips TestMain's cleanup).
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if asRoot {
		u, err := user.Lookup(pgUser)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no %q user to run PostgreSQL as: %w", pgUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	run := func(bin string, args ...string) ([]byte, error) { return runAs(asRoot, dir, bin, args...) }
	data := filepath.Join(dir, "data")
	if out, err := run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// fsync off: the cluster is thrown away, and durability is not what
	// these tests measure. The socket directory is the private one.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", port, dir)
	if out, err := run(pgctl, "-D", data, "-l", filepath.Join(dir, "server.log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, log)
	}
	cluster.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return func() {
		if out, err := run(pgctl, "-D", data, "-m", "immediate", "-w", "stop"); err != nil {
			fmt.Fprintf(os.Stderr, "pgstore: pg_ctl stop: %v: %s\n", err, strings.TrimSpace(string(out)))
		}
		os.RemoveAll(dir)
	}, nil
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

// runAs runs bin in dir, as pgUser when the tests run as root.
func runAs(asRoot bool, dir, bin string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if asRoot {
		cmd = exec.Command("runuser", append([]string{"-u", pgUser, "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = dir // a directory the server's user can enter
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// stopStale stops and removes the clusters of earlier test runs that were
// killed before their cleanup ran: their owner.pid names a process that no
// longer exists. Clusters of runs still going are left alone.
func stopStale(pgctl string, asRoot bool) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgstore-test-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			continue
		}
		_, _ = runAs(asRoot, dir, pgctl, "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
}
