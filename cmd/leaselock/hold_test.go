//go:build unix

package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leaselock/leaselock/internal/testservers"
)

// TestHold: hold prints the token, holds the lock (others are refused)
// until SIGTERM, then releases it and exits 0; a force-release makes it
// exit 76.
func TestHold(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")

	t.Run("until a signal", func(t *testing.T) {
		t.Parallel()
		p := startProcess(t, "hold", "--store", te.url, "--owner", "operator", "--lease", "2s", "--heartbeat", "200ms", "maint")
		// The token goes to stdout first, then the message to stderr: two
		// pipes, read apart, so wait for both.
		eventually(t, 20*time.Second, "the token on stdout and the message on stderr", func() bool {
			return p.stdout.String() == "1\n" && strings.Contains(p.stderr.String(), "holding maint with token 1 as operator")
		})
		requireContains(t, mustCLI(t, "get", "--store", te.url, "maint").stdout, "state      held", "owner      operator")
		r := cli(t, nil, "run", "--store", te.url, "--no-wait", "maint", "--", "true")
		requireCode(t, r, exitTempFail)
		requireContains(t, r.stderr, "maint is held by operator")
		// Held across several heartbeats.
		time.Sleep(time.Second)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
		}
		requireContains(t, p.stderr.String(), "released maint (terminated)")
		requireContains(t, mustCLI(t, "get", "--store", te.url, "maint").stdout, "state      released")
	})
	t.Run("lost", func(t *testing.T) {
		t.Parallel()
		p := startProcess(t, "hold", "--store", te.url, "--lease", "2s", "--heartbeat", "100ms", "maint-lost")
		eventually(t, 20*time.Second, "the token on stdout", func() bool { return strings.HasSuffix(p.stdout.String(), "\n") })
		forceRelease(t, te.url, "maint-lost")
		if code := p.wait(t, 20*time.Second); code != exitLockLost {
			t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
		}
		requireContains(t, p.stderr.String(), "lost the lock on maint-lost", "stolen by force-release:", "must stop")
	})
}

// TestConflictExitCode: --conflict-exit-code replaces 75 when the lock is
// held (--no-wait) or --timeout runs out while it is held, for run and
// hold; other failures keep their codes.
func TestConflictExitCode(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	p := startProcess(t, "hold", "--store", te.url, "--owner", "keeper", "busy")
	eventually(t, 20*time.Second, "the lock to be held", func() bool { return p.stdout.String() == "1\n" })

	r := cli(t, nil, "run", "--store", te.url, "--no-wait", "--conflict-exit-code", "99", "busy", "--", "true")
	requireCode(t, r, 99)
	requireContains(t, r.stderr, "busy is held by keeper")
	r = cli(t, nil, "hold", "--store", te.url, "--timeout", "300ms", "--conflict-exit-code", "42", "busy")
	requireCode(t, r, 42)
	requireContains(t, r.stderr, "timed out after 300ms waiting for busy, held by keeper")
	// The command's own code is not touched.
	r = cli(t, nil, append([]string{"run", "--store", te.url, "--conflict-exit-code", "99", "free", "--"},
		childCommand("exit", "75")...)...)
	requireCode(t, r, 75)
	// A store failure is not a conflict.
	url := "dynamodb://locks?endpoint=http://" + closedPort(t)
	requireCode(t, cli(t, nil, "run", "--store", url, "--no-wait", "--conflict-exit-code", "99", "k", "--", "true"), exitUnavailable)
}
