//go:build unix

package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/leaselock/leaselock/internal/testservers"
)

// TestSilentStore: a store that takes connections and never answers is
// reported (exit 69) within --timeout by every command, start-up included.
func TestSilentStore(t *testing.T) {
	t.Parallel()
	url := "dynamodb://locks?endpoint=" + newSilentEndpoint(t)
	for _, tc := range []struct {
		args  []string
		limit time.Duration
		want  []string
	}{
		{[]string{"run", "--store", url, "--timeout", "3s", "k", "--", "true"}, 3 * time.Second,
			[]string{"no answer from the store for 2s", "timed out after 3s waiting for k: the store has not answered for"}},
		{[]string{"ls", "--store", url, "--timeout", "2s"}, 2 * time.Second,
			[]string{`table "locks" in region us-east-1 at http://`, "did not answer within --timeout 2s"}},
		{[]string{"get", "--store", url, "--timeout", "1s", "k"}, time.Second, []string{"did not answer within --timeout 1s"}},
		{[]string{"release", "--force", "--yes", "--store", url, "--timeout", "1s", "k"}, time.Second,
			[]string{"did not answer within --timeout 1s"}},
		{[]string{"table", "describe", "--store", url, "--timeout", "1s"}, time.Second, []string{"did not answer within --timeout 1s"}},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := cli(t, nil, tc.args...)
			took := time.Since(start)
			requireCode(t, r, exitUnavailable)
			requireContains(t, r.stderr, tc.want...)
			if took < tc.limit || took > tc.limit+10*time.Second {
				t.Errorf("gave up after %v; want just after %v", took, tc.limit)
			}
		})
	}
}

// TestRunStoreHangsWhileWaiting: a waiter whose store goes silent while it
// waits exits 69 (the store), not 75 (the holder), when --timeout runs out.
func TestRunStoreHangsWhileWaiting(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	proxy, endpoint := newCutProxy(t, te.srv.Endpoint)
	alice := te.holder(t, "alice", nil, time.Minute, 15*time.Second)
	if _, err := alice.Acquire(testCtx(t), "hang-wait"); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "run", "--store", "dynamodb://"+te.table+"?endpoint="+endpoint, "--timeout", "6s", "--poll", "50ms",
		"hang-wait", "--", "true")
	eventually(t, 20*time.Second, "the run to wait", func() bool {
		return strings.Contains(p.stderr.String(), "waiting for hang-wait, held by alice")
	})
	proxy.hang()
	if code := p.wait(t, 20*time.Second); code != exitUnavailable {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitUnavailable, p.stderr.String())
	}
	requireContains(t, p.stderr.String(), "no answer from the store for 2s", "timed out after 6s waiting for hang-wait: the store")
}

// TestRunRetriesStartUp: a store that refuses connections at start-up is
// retried until it answers (within --timeout), and the run then goes on.
func TestRunRetriesStartUp(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	addr := closedPort(t)
	p := startProcess(t, append([]string{"run", "--store", "dynamodb://" + te.table + "?endpoint=http://" + addr,
		"--timeout", "30s", "--poll", "50ms", "late-store", "--"}, childCommand("exit", "0")...)...)
	eventually(t, 20*time.Second, "the run to retry", func() bool {
		return strings.Contains(p.stderr.String(), "cannot reach the store")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	startProxy(t, ln, strings.TrimPrefix(te.srv.Endpoint, "http://"))
	if code := p.wait(t, 25*time.Second); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
	}
	requireContains(t, p.stderr.String(), "the store answers again")
}

// TestRunWaitsOutASilentStore: without --timeout, a waiter whose store goes
// silent keeps trying (each request times out and is retried on a new
// connection), says so, and takes the lock once the store answers again
// and the holder has let go.
func TestRunWaitsOutASilentStore(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	proxy, endpoint := newCutProxy(t, te.srv.Endpoint)
	alice := te.holder(t, "alice", nil, time.Minute, 15*time.Second)
	l, err := alice.Acquire(testCtx(t), "silent-wait")
	if err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, append([]string{"run", "--store", "dynamodb://" + te.table + "?endpoint=" + endpoint, "--lease", "4s",
		"--poll", "50ms", "silent-wait", "--"}, childCommand("exit", "0")...)...)
	eventually(t, 20*time.Second, "the run to wait", func() bool {
		return strings.Contains(p.stderr.String(), "waiting for silent-wait, held by alice")
	})
	proxy.hang()
	eventually(t, 30*time.Second, "the run to report the silence", func() bool {
		return strings.Contains(p.stderr.String(), "cannot reach the store (no answer within the request timeout); retrying")
	})
	proxy.resume()
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
	}
	requireContains(t, p.stderr.String(), "no answer from the store for 2s", "the store answers again", "acquired silent-wait after")
}
