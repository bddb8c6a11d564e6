// Package pgcluster starts a private PostgreSQL server for tests: initdb
// into a temporary directory and pg_ctl start on a free loopback port, as
// the user nobody when the tests run as root (PostgreSQL refuses to run as
// root, and CI runs as root). Stop stops it and removes the directory.
// Restart, StopServer and StartServer take the server down and up again
// on the same port and data, for tests of what clients see meanwhile.
//
// It uses only the standard library, so it lives in the library's module,
// whose go.mod must not gain a PostgreSQL driver, and every module that
// tests against PostgreSQL (pgstore, the CLI) shares it.
//
// The server binaries come from LEASELOCK_PG_BINDIR when it is set, else
// from PATH or Debian's /usr/lib/postgresql/VERSION/bin. Without them
// Start fails with ErrNotInstalled; scripts/install-postgres.sh installs
// Debian's package.
package pgcluster

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// BinDirEnv names the environment variable that points Start at another
// installation's bin directory.
const BinDirEnv = "LEASELOCK_PG_BINDIR"

// ErrNotInstalled reports that initdb or pg_ctl is missing.
var ErrNotInstalled = errors.New("pgcluster: PostgreSQL not installed")

// serverUser runs the server when the tests run as root.
const serverUser = "nobody"

// dirPrefix starts the name of every cluster directory under the system's
// temporary directory; legacyPrefix is the one pgstore's tests used before.
const (
	dirPrefix    = "leaselock-pg-"
	legacyPrefix = "pgstore-test-"
)

// Options configure Start.
type Options struct {
	// Password, when set, is the superuser's password, and connections
	// over TCP must give it (scram-sha-256). Without it every connection
	// is trusted, whatever password it gives.
	Password string
	// Settings are extra server settings (postgres -c name=value), on top
	// of the defaults Start sets; a setting named here wins.
	Settings map[string]string
}

// Mode is how pg_ctl shuts a server down (pg_ctl -m).
type Mode string

// The shutdown modes tests use. Fast terminates every session (each gets
// FATAL 57P01) and shuts down cleanly; Immediate kills every process at
// once, as a crash would, and the next start runs crash recovery.
const (
	Fast      Mode = "fast"
	Immediate Mode = "immediate"
)

// Cluster is a running private server.
type Cluster struct {
	Addr     string // 127.0.0.1:PORT
	User     string // the superuser
	Password string // the superuser's password; "" when every connection is trusted

	dir, data, pgctl string
	serverOpts       string // postgres options, the same at every start
	asRoot           bool
	stop             sync.Once
	stopErr          error

	mu      sync.Mutex // serialises pg_ctl runs; guards running
	running bool
}

// Start creates a cluster and starts its server. The caller must Stop it.
// A cluster left behind by an earlier test run that was killed before its
// cleanup (a -timeout panic skips it) is stopped and removed first.
func Start(opts Options) (*Cluster, error) {
	initdb, err := findBin("initdb")
	if err != nil {
		return nil, err
	}
	pgctl, err := findBin("pg_ctl")
	if err != nil {
		return nil, err
	}
	c := &Cluster{User: "postgres", Password: opts.Password, pgctl: pgctl, asRoot: os.Geteuid() == 0}
	stopStale(pgctl, c.asRoot)
	if c.dir, err = os.MkdirTemp("", dirPrefix); err != nil {
		return nil, err
	}
	c.data = filepath.Join(c.dir, "data")
	if err := c.start(initdb, opts.Settings); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(initdb string, extra map[string]string) error {
	// The test process's pid, so that a later run can tell a cluster whose
	// tests were killed.
	if err := os.WriteFile(filepath.Join(c.dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	args := []string{"-D", c.data, "-U", c.User, "-E", "UTF8", "--no-sync", "--auth-local=trust"}
	if c.Password == "" {
		args = append(args, "--auth-host=trust")
	} else {
		pwfile := filepath.Join(c.dir, "pwfile")
		if err := os.WriteFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
			return err
		}
		args = append(args, "--auth-host=scram-sha-256", "--pwfile="+pwfile)
	}
	if c.asRoot {
		if err := chownAll(c.dir); err != nil {
			return err
		}
	}
	if out, err := c.run(initdb, args...); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	// fsync off: the cluster is thrown away, and durability is not what
	// the tests measure. The socket directory is the private one.
	settings := map[string]string{
		"listen_addresses": "127.0.0.1", "fsync": "off", "synchronous_commit": "off",
		"full_page_writes": "off", "max_connections": "300",
	}
	for k, v := range extra {
		settings[k] = v
	}
	c.serverOpts = fmt.Sprintf("-p %d -k %s", port, c.dir)
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		c.serverOpts += fmt.Sprintf(" -c %s=%s", k, quoteOpt(settings[k]))
	}
	c.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return c.StartServer()
}

// quoteOpt quotes a setting's value for pg_ctl -o, which passes the
// options through a shell.
func quoteOpt(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// StartServer starts the server of a cluster that StopServer stopped, on
// the same port and data, and waits until it accepts connections. After
// an immediate stop it runs crash recovery first.
func (c *Cluster) StartServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	if out, err := c.run(c.pgctl, "-D", c.data, "-l", c.logFile(), "-o", c.serverOpts, "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl start: %w: %s\n%s", err, out, c.logTail())
	}
	c.running = true
	return nil
}

// StopServer stops the server and keeps its data, so StartServer can
// start it again. Sessions end as mode says; new connections are refused
// until StartServer.
func (c *Cluster) StopServer(mode Mode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if out, err := c.run(c.pgctl, "-D", c.data, "-m", string(mode), "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop -m %s: %w: %s", mode, err, strings.TrimSpace(string(out)))
	}
	c.running = false
	return nil
}

// Restart stops the server as mode says and starts it again on the same
// port and data (pg_ctl restart), waiting until it accepts connections.
func (c *Cluster) Restart(mode Mode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// -o again: restart would reuse postmaster.opts, which a server that
	// is not running may not have left.
	out, err := c.run(c.pgctl, "-D", c.data, "-l", c.logFile(), "-o", c.serverOpts, "-m", string(mode),
		"-w", "-t", "60", "restart")
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl restart -m %s: %w: %s\n%s", mode, err, out, c.logTail())
	}
	c.running = true
	return nil
}

// logFile is the server's log. Every start names it: a server started
// without one writes to pg_ctl's output, which the server would then
// hold open, and run would wait for it to exit.
func (c *Cluster) logFile() string { return filepath.Join(c.dir, "server.log") }

// logTail is the end of the server's log, for errors.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// URL returns a connection URL for database as the superuser, with the
// password when there is one, and TLS off (the server has none).
func (c *Cluster) URL(database string) string {
	u := c.User
	if c.Password != "" {
		u += ":" + c.Password
	}
	return "postgres://" + u + "@" + c.Addr + "/" + database + "?sslmode=disable"
}

// Stop stops the server at once (pg_ctl stop -m immediate), unless
// StopServer already did, and removes the cluster's directory. It is safe
// to call more than once.
func (c *Cluster) Stop() error {
	c.stop.Do(func() {
		c.stopErr = c.StopServer(Immediate)
		os.RemoveAll(c.dir)
	})
	return c.stopErr
}

// run runs bin in the cluster's directory, as serverUser when the tests
// run as root.
func (c *Cluster) run(bin string, args ...string) ([]byte, error) {
	return runAs(c.asRoot, c.dir, bin, args...)
}

func runAs(asRoot bool, dir, bin string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if asRoot {
		cmd = exec.Command("runuser", append([]string{"-u", serverUser, "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = dir // a directory the server's user can enter
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// chownAll gives dir and the files in it to serverUser.
func chownAll(dir string) error {
	u, err := user.Lookup(serverUser)
	if err != nil {
		return fmt.Errorf("pgcluster: running as root and no %q user to run PostgreSQL as: %w", serverUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
}

// findBin looks in LEASELOCK_PG_BINDIR when set (PostgreSQL installed
// somewhere else, or a test of what happens without it), else on PATH and
// in Debian's per-version directories.
func findBin(name string) (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s not found in %s: %w", ErrNotInstalled, name, BinDirEnv, err)
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
	return "", fmt.Errorf("%w: %s not found on PATH or under /usr/lib/postgresql (scripts/install-postgres.sh installs it)",
		ErrNotInstalled, name)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stopStale stops and removes the clusters of earlier test runs that were
// killed before their cleanup ran: their owner.pid names a process that no
// longer exists. Clusters of runs still going are left alone.
func stopStale(pgctl string, asRoot bool) {
	var dirs []string
	for _, prefix := range []string{dirPrefix, legacyPrefix} {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
		dirs = append(dirs, m...)
	}
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
