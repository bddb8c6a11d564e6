//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leaselock/leaselock/internal/testservers"
)

func TestRunCommand(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")

	t.Run("environment and exit code", func(t *testing.T) {
		t.Parallel()
		r := cli(t, nil, append([]string{"run", "--store", te.url, "--owner", "tester", "env-key", "--"}, childCommand("env")...)...)
		requireCode(t, r, exitOK)
		requireContains(t, r.stdout, "LEASELOCK_KEY=env-key\n", "LEASELOCK_TOKEN=1\n", "LEASELOCK_OWNER=tester\n", "LEASELOCK_SORT_KEY=\n")
		r = cli(t, nil, append([]string{"run", "--store", te.url, "env-key", "--"}, childCommand("env")...)...)
		requireContains(t, r.stdout, "LEASELOCK_TOKEN=2\n")

		r = cli(t, nil, append([]string{"run", "--store", te.url, "exit-key", "--"}, childCommand("exit", "7")...)...)
		requireCode(t, r, 7)
		// The lock was released on exit.
		r = mustCLI(t, "get", "--store", te.url, "exit-key")
		requireContains(t, r.stdout, "state      released")
	})
	t.Run("command not found", func(t *testing.T) {
		t.Parallel()
		r := cli(t, nil, "run", "--store", te.url, "nf-key", "--", "/no/such/command")
		requireCode(t, r, exitNotFound)
		requireContains(t, r.stderr, "cannot run /no/such/command")
		r = mustCLI(t, "get", "--store", te.url, "nf-key")
		requireContains(t, r.stdout, "state      released")

		r = cli(t, nil, "run", "--store", te.url, "nf-key", "--", os.DevNull)
		requireCode(t, r, exitCannotExec)
	})
	t.Run("timeout and no-wait", func(t *testing.T) {
		t.Parallel()
		alice := te.holder(t, "alice", nil, time.Minute, 15*time.Second)
		if _, err := alice.Acquire(testCtx(t), "busy"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r := cli(t, nil, "run", "--store", te.url, "--timeout", "300ms", "busy", "--", "true")
		requireCode(t, r, exitTempFail)
		requireContains(t, r.stderr, "waiting for busy, held by alice (token 1, lease 1m0s)...",
			"timed out after 300ms waiting for busy, held by alice")
		if d := time.Since(start); d < 300*time.Millisecond || d > 10*time.Second {
			t.Errorf("gave up after %v", d)
		}
		r = cli(t, nil, "run", "--store", te.url, "--no-wait", "busy", "--", "true")
		requireCode(t, r, exitTempFail)
		requireContains(t, r.stderr, "busy is held by alice")
	})
	t.Run("sort key", func(t *testing.T) {
		t.Parallel()
		ts := newTable(t, testservers.Dynalite, "sk=part")
		r := cli(t, nil, append([]string{"run", "--store", ts.url, "--sort", "shard-3", "db", "--"}, childCommand("env")...)...)
		requireCode(t, r, exitOK)
		requireContains(t, r.stdout, "LEASELOCK_KEY=db\n", "LEASELOCK_SORT_KEY=shard-3\n")
	})
}

// interval is one run of a command under the lock, as the command logged it.
type interval struct {
	token      int
	start, end time.Time
}

// readIntervals parses the "start TOKEN NANOS" / "end TOKEN NANOS" lines
// the log child appends.
func readIntervals(t *testing.T, file string) []interval {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	byToken := map[int]*interval{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("bad log line %q", line)
		}
		tok, err1 := strconv.Atoi(f[1])
		ns, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad log line %q", line)
		}
		iv := byToken[tok]
		if iv == nil {
			iv = &interval{token: tok}
			byToken[tok] = iv
		}
		switch f[0] {
		case "start":
			if !iv.start.IsZero() {
				t.Fatalf("token %d started twice", tok)
			}
			iv.start = time.Unix(0, ns)
		case "end":
			iv.end = time.Unix(0, ns)
		}
	}
	var out []interval
	for _, iv := range byToken {
		out = append(out, *iv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// TestRunNeverOverlaps runs three leaselock processes, twice each, on one
// key: the commands' intervals must not overlap and their tokens must
// increase in the order they ran.
func TestRunNeverOverlaps(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	requireRunsNeverOverlap(t, te.url, 3, 2, func(result) {})
}

// requireRunsNeverOverlap runs workers leaselock processes, rounds runs
// each, on one key of the store at url, and requires that their commands
// never overlap and their tokens increase in the order they ran. check
// sees every run's result.
func requireRunsNeverOverlap(t *testing.T, url string, workers, rounds int, check func(result)) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "log")
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				r := runProcess(t, nil, append([]string{"run", "--store", url, "--owner", fmt.Sprint("worker-", w),
					"--lease", "2s", "--poll", "20ms", "shared", "--"}, childCommand("log", logFile, "150ms")...)...)
				check(r)
				if r.code != 0 {
					t.Errorf("worker %d: %v", w, r)
				}
			}
		})
	}
	wg.Wait()
	ivs := readIntervals(t, logFile)
	if len(ivs) != workers*rounds {
		t.Fatalf("want %d runs, got %d: %+v", workers*rounds, len(ivs), ivs)
	}
	for i, iv := range ivs {
		if iv.end.IsZero() || iv.end.Before(iv.start) {
			t.Errorf("run with token %d did not end properly: %+v", iv.token, iv)
		}
		if i == 0 {
			continue
		}
		prev := ivs[i-1]
		if iv.start.Before(prev.end) {
			t.Errorf("token %d started at %v, before token %d ended at %v", iv.token, iv.start, prev.token, prev.end)
		}
		if iv.token <= prev.token {
			t.Errorf("tokens do not increase in run order: %d after %d", iv.token, prev.token)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// started is a leaselock process running in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

func startProcess(t *testing.T, args ...string) *started {
	t.Helper()
	p := &started{cmd: process(t, nil, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		default:
			p.code = -1
		}
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to exit and returns its code.
func (p *started) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		t.Fatalf("process still running after %v\nstderr:\n%s", within, p.stderr.String())
		return 0
	}
}

// eventually polls cond every 10ms until it holds or the time is up.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileContains(file, s string) func() bool {
	return func() bool {
		b, _ := os.ReadFile(file)
		return bytes.Contains(b, []byte(s))
	}
}

// TestRunTakeoverAfterSIGKILL kills a holder with SIGKILL: a waiting run
// takes the lock over once it has seen the holder's record unchanged for a
// lease, with a higher token, and (on Linux) the dead holder's command was
// killed with it.
func TestRunTakeoverAfterSIGKILL(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	dir := t.TempDir()
	holdLog, takeLog := filepath.Join(dir, "holder"), filepath.Join(dir, "taker")
	const lease, beat = time.Second, 200 * time.Millisecond
	holder := startProcess(t, append([]string{"run", "--store", te.url, "--owner", "doomed", "--lease", lease.String(),
		"--heartbeat", beat.String(), "key", "--"}, childCommand("hang", holdLog)...)...)
	eventually(t, 10*time.Second, "the holder's command to start", fileContains(holdLog, "start 1 "))
	taker := startProcess(t, append([]string{"run", "--store", te.url, "--owner", "taker", "--lease", lease.String(),
		"--poll", "20ms", "key", "--"}, childCommand("log", takeLog, "0s")...)...)
	eventually(t, 10*time.Second, "the taker to wait", func() bool {
		return strings.Contains(taker.stderr.String(), "waiting for key, held by doomed (token 1, lease 1s)")
	})

	killedAt := time.Now()
	if err := holder.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := holder.wait(t, 5*time.Second); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("holder exit %d", code)
	}
	if code := taker.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("taker exit %d\nstderr:\n%s", code, taker.stderr.String())
	}
	requireContains(t, taker.stderr.String(), "took over key from doomed, whose lease expired (token 2)")
	ivs := readIntervals(t, takeLog)
	if len(ivs) != 1 || ivs[0].token != 2 {
		t.Fatalf("taker's runs: %+v", ivs)
	}
	// The holder's last heartbeat was at most one period before the kill;
	// the taker must have watched the record for a whole lease after it.
	if gap := ivs[0].start.Sub(killedAt); gap < lease-beat-100*time.Millisecond || gap > 8*time.Second {
		t.Errorf("taker started %v after the kill; want about a lease (%v)", gap, lease)
	}

	if runtime.GOOS == "linux" {
		f := strings.Fields(strings.TrimSpace(string(must(os.ReadFile(holdLog)))))
		pid, _ := strconv.Atoi(f[len(f)-1])
		eventually(t, 5*time.Second, "the dead holder's command to die", func() bool { return !alive(pid) })
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestRunLockLost force-releases the lock under a running command: the
// command gets SIGTERM (and SIGKILL after --grace if it ignores it), and
// leaselock exits 76.
func TestRunLockLost(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	for _, tc := range []struct {
		name, child string
		want        []string
	}{
		{"command stops on SIGTERM", "trap", []string{"got terminated"}},
		{"command killed after grace", "ignore-term", []string{"ready"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "child")
			key := strings.ReplaceAll(tc.name, " ", "-")
			args := []string{"run", "--store", te.url, "--lease", "1s", "--heartbeat", "100ms", "--grace", "300ms", key, "--"}
			p := startProcess(t, append(args, childCommand(tc.child, file, "9")...)...)
			eventually(t, 10*time.Second, "the command to start", fileContains(file, "ready"))
			forceRelease(t, te.url, key)
			if code := p.wait(t, 10*time.Second); code != exitLockLost {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitLockLost, p.stderr.String())
			}
			requireContains(t, p.stderr.String(), "lost the lock on "+key, "stolen by force-release:", "stopping the command")
			requireContains(t, string(must(os.ReadFile(file))), tc.want...)
			if tc.child == "ignore-term" {
				requireContains(t, p.stderr.String(), "the command outlived --grace 300ms: killing it")
			}
		})
	}
}

// TestRunSignals: SIGINT, SIGTERM and SIGHUP reach the command, whose exit
// code leaselock returns; a signal while waiting ends the wait with 128+N.
func TestRunSignals(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run("forward "+sig.String(), func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "child")
			key := "sig-" + strconv.Itoa(int(sig))
			p := startProcess(t, append([]string{"run", "--store", te.url, key, "--"}, childCommand("trap", file, "5")...)...)
			eventually(t, 10*time.Second, "the command to start", fileContains(file, "ready"))
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t, 10*time.Second); code != 5 {
				t.Fatalf("exit %d, want the command's 5\nstderr:\n%s", code, p.stderr.String())
			}
			requireContains(t, string(must(os.ReadFile(file))), "got "+sig.String())
			r := mustCLI(t, "get", "--store", te.url, key)
			requireContains(t, r.stdout, "state      released")
		})
	}
	t.Run("while waiting", func(t *testing.T) {
		t.Parallel()
		alice := te.holder(t, "alice", nil, time.Minute, 15*time.Second)
		if _, err := alice.Acquire(testCtx(t), "held"); err != nil {
			t.Fatal(err)
		}
		p := startProcess(t, "run", "--store", te.url, "held", "--", "true")
		eventually(t, 10*time.Second, "the run to wait", func() bool {
			return strings.Contains(p.stderr.String(), "waiting for held, held by alice")
		})
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 10*time.Second); code != 128+int(syscall.SIGTERM) {
			t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
		}
		requireContains(t, p.stderr.String(), "terminated while waiting for held")
	})
}

// TestRunStoreOutage cuts the store off: a waiting run that times out says
// the store is unreachable (69), and a holder whose heartbeats fail warns,
// then stops its command when the lease lapses (76).
func TestRunStoreOutage(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")

	t.Run("while waiting", func(t *testing.T) {
		t.Parallel()
		proxy, endpoint := newCutProxy(t, te.srv.Endpoint)
		viaProxy := "dynamodb://" + te.table + "?endpoint=" + endpoint
		alice := te.holder(t, "alice", nil, time.Minute, 15*time.Second)
		if _, err := alice.Acquire(testCtx(t), "outage-wait"); err != nil {
			t.Fatal(err)
		}
		p := startProcess(t, "run", "--store", viaProxy, "--timeout", "2s", "--poll", "50ms", "outage-wait", "--", "true")
		eventually(t, 10*time.Second, "the run to wait", func() bool {
			return strings.Contains(p.stderr.String(), "waiting for outage-wait, held by alice")
		})
		proxy.cutOff()
		if code := p.wait(t, 20*time.Second); code != exitUnavailable {
			t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitUnavailable, p.stderr.String())
		}
		requireContains(t, p.stderr.String(), "cannot reach the store", "timed out after 2s waiting for outage-wait: the store is unreachable")
	})
	for _, silent := range []bool{false, true} {
		name := "while holding, connection refused"
		if silent {
			name = "while holding, store silent"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			proxy, endpoint := newCutProxy(t, te.srv.Endpoint)
			viaProxy := "dynamodb://" + te.table + "?endpoint=" + endpoint
			key := fmt.Sprint("outage-hold-", silent)
			stderr := runThroughOutage(t, proxy, viaProxy, key, silent)
			if !silent {
				requireContains(t, stderr, "cannot reach the store (dial tcp", "connection refused); retrying")
			}
		})
	}
}

// runThroughOutage runs a command under key on the store at url, reached
// through proxy, then cuts the store off (or, silent, makes it take
// requests and never answer). leaselock must stop the command before the
// lease lapses and exit 76; it returns leaselock's stderr.
func runThroughOutage(t *testing.T, proxy *cutProxy, url, key string, silent bool) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "child")
	p := startProcess(t, append([]string{"run", "--store", url, "--lease", "1s", "--heartbeat", "200ms",
		"--grace", "300ms", key, "--"}, childCommand("trap", file, "9")...)...)
	eventually(t, 10*time.Second, "the command to start", fileContains(file, "ready"))
	if silent {
		proxy.hang()
	} else {
		proxy.cutOff()
	}
	if code := p.wait(t, 20*time.Second); code != exitLockLost {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitLockLost, p.stderr.String())
	}
	stderr := p.stderr.String()
	requireContains(t, stderr, "the lease on "+key+" has not been renewed: stopping the command (SIGTERM; SIGKILL in",
		"before the lease lapses)")
	requireContains(t, string(must(os.ReadFile(file))), "got terminated")
	return stderr
}
