//go:build unix

package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPostgresRun(t *testing.T) {
	t.Parallel()
	pg := newPGEnv(t, true)

	r := pg.cli(t, nil, append([]string{"run", "--store", pg.url, "--owner", "tester", "env-key", "--"}, childCommand("env")...)...)
	requireCode(t, r, exitOK)
	requireContains(t, r.stdout, "LEASELOCK_KEY=env-key\n", "LEASELOCK_TOKEN=1\n", "LEASELOCK_OWNER=tester\n")
	r = pg.cli(t, nil, append([]string{"run", "--store", pg.url, "--sort", "s1", "env-key", "--"}, childCommand("env")...)...)
	requireContains(t, r.stdout, "LEASELOCK_TOKEN=1\n", "LEASELOCK_SORT_KEY=s1\n") // another lock
	r = pg.cli(t, nil, append([]string{"run", "--store", pg.url, "env-key", "--"}, childCommand("env")...)...)
	requireContains(t, r.stdout, "LEASELOCK_TOKEN=2\n")

	r = pg.cli(t, nil, append([]string{"run", "--store", pg.url, "exit-key", "--"}, childCommand("exit", "7")...)...)
	requireCode(t, r, 7)
	requireContains(t, pg.mustCLI(t, "get", "--store", pg.url, "exit-key").stdout, "state      released")

	// Held by another: --no-wait gives up at once, --timeout after waiting.
	alice := pg.holder(t, "alice", time.Minute, 15*time.Second)
	if _, err := alice.Acquire(testCtx(t), "busy"); err != nil {
		t.Fatal(err)
	}
	r = pg.cli(t, nil, "run", "--store", pg.url, "--no-wait", "busy", "--", "true")
	requireCode(t, r, exitTempFail)
	requireContains(t, r.stderr, "busy is held by alice")
	r = pg.cli(t, nil, "run", "--store", pg.url, "--timeout", "300ms", "busy", "--", "true")
	requireCode(t, r, exitTempFail)
	requireContains(t, r.stderr, "waiting for busy, held by alice (token 1, lease 1m0s)...",
		"timed out after 300ms waiting for busy, held by alice")
}

// TestPostgresRunNeverOverlaps runs two leaselock processes, twice each,
// on one key: the commands' intervals must not overlap and their tokens
// must increase in the order they ran.
func TestPostgresRunNeverOverlaps(t *testing.T) {
	t.Parallel()
	pg := newPGEnv(t, true)
	requireRunsNeverOverlap(t, pg.url, 2, 2, func(r result) { pg.noPassword(t, r) })
}

// TestPostgresHold: hold prints the token and holds the lock until
// SIGTERM, then releases it; a force-release makes it exit 76.
func TestPostgresHold(t *testing.T) {
	t.Parallel()
	pg := newPGEnv(t, true)

	p := startProcess(t, "hold", "--store", pg.url, "--owner", "operator", "--lease", "2s", "--heartbeat", "200ms", "maint")
	eventually(t, 20*time.Second, "the token on stdout", func() bool { return p.stdout.String() == "1\n" })
	requireContains(t, pg.mustCLI(t, "get", "--store", pg.url, "maint").stdout, "state      held", "owner      operator")
	requireCode(t, pg.cli(t, nil, "run", "--store", pg.url, "--no-wait", "maint", "--", "true"), exitTempFail)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
	}
	requireContains(t, p.stderr.String(), "released maint (terminated)")
	requireContains(t, pg.mustCLI(t, "get", "--store", pg.url, "maint").stdout, "state      released")

	lost := startProcess(t, "hold", "--store", pg.url, "--lease", "2s", "--heartbeat", "100ms", "maint-lost")
	eventually(t, 20*time.Second, "the token on stdout", func() bool { return strings.HasSuffix(lost.stdout.String(), "\n") })
	pg.noPassword(t, forceRelease(t, pg.url, "maint-lost"))
	if code := lost.wait(t, 20*time.Second); code != exitLockLost {
		t.Fatalf("exit %d\nstderr:\n%s", code, lost.stderr.String())
	}
	requireContains(t, lost.stderr.String(), "lost the lock on maint-lost", "stolen by force-release:")
	for _, out := range []string{p.stdout.String(), p.stderr.String(), lost.stdout.String(), lost.stderr.String()} {
		pg.noPassword(t, result{stdout: out})
	}
}

// TestPostgresRunStoreOutage is TestRunStoreOutage on PostgreSQL: the
// server goes away (connections refused) or silent (connections open,
// never answered) under a running command; leaselock stops the command
// before the lease lapses and exits 76. A silent PostgreSQL is the harder
// case: nothing fails, every statement just waits, so only the request
// bound ends the heartbeats' wait.
func TestPostgresRunStoreOutage(t *testing.T) {
	t.Parallel()
	pg := newPGEnv(t, true)
	for _, silent := range []bool{false, true} {
		name := "connection refused"
		if silent {
			name = "server silent"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			proxy, endpoint := newCutProxy(t, "tcp://"+pg.cluster.Addr)
			viaProxy := strings.Replace(pg.url, "@"+pg.cluster.Addr+"/", "@"+strings.TrimPrefix(endpoint, "http://")+"/", 1)
			if viaProxy == pg.url {
				t.Fatalf("no %s in the store URL to replace", pg.cluster.Addr)
			}
			key := fmt.Sprint("outage-", silent)
			pg.noPassword(t, result{stderr: runThroughOutage(t, proxy, viaProxy, key, silent)})
			// The record still names the stopped holder: nothing was
			// released behind the proxy, and a waiter takes it over.
			r := pg.mustCLI(t, "run", "--store", pg.url, "--owner", "next", key, "--", "true")
			requireContains(t, r.stderr, "took over "+key)
		})
	}
}
