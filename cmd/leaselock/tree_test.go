//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leaselock/leaselock/internal/testservers"
)

// treePids reads the pids the tree, sleeper and background children
// logged.
func treePids(t *testing.T, file string) []int {
	t.Helper()
	var pids []int
	for _, line := range strings.Split(string(must(os.ReadFile(file))), "\n") {
		if f, ok := strings.CutPrefix(line, "pid "); ok {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("bad line %q", line)
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

func anyAlive(pids []int) []int {
	var live []int
	for _, p := range pids {
		if alive(p) {
			live = append(live, p)
		}
	}
	return live
}

// TestRunStopsTreeOnLoss force-releases the lock under a command that
// ignores SIGTERM and has started a grandchild (also ignoring SIGTERM) and
// a daemon in a session of its own: by the time leaselock exits 76, every
// one of them is dead.
func TestRunStopsTreeOnLoss(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	file := filepath.Join(t.TempDir(), "tree")
	p := startProcess(t, append([]string{"run", "--store", te.url, "--lease", "2s", "--heartbeat", "200ms",
		"--grace", "300ms", "tree-lost", "--"}, childCommand("tree", file)...)...)
	eventually(t, 20*time.Second, "the tree to start", fileContains(file, "ready"))
	pids := treePids(t, file)
	if len(pids) != 3 {
		t.Fatalf("want 3 pids, got %v", pids)
	}
	forceRelease(t, te.url, "tree-lost")
	if code := p.wait(t, 20*time.Second); code != exitLockLost {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitLockLost, p.stderr.String())
	}
	if live := anyAlive(pids); len(live) > 0 {
		t.Fatalf("processes %v outlived leaselock run (of %v)\nstderr:\n%s", live, pids, p.stderr.String())
	}
	requireContains(t, p.stderr.String(), "lost the lock on tree-lost", "stopping the command",
		"the command outlived --grace 300ms: killing it and everything it started")
}

// TestRunSIGKILLStopsTree kills leaselock run with SIGKILL while its
// command (ignoring SIGTERM, with a grandchild and a daemon) runs, and a
// waiter is queued: every process of the tree must be dead before the
// waiter's command starts. In the second case the store was cut off just
// before: heartbeats fail, and SIGKILL must come by the time the lease run
// last renewed lapses, whatever the grace period.
func TestRunSIGKILLStopsTree(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	const lease = 2 * time.Second
	for _, tc := range []struct {
		name  string
		grace string
		cut   bool
	}{
		{"short grace", "300ms", false},
		{"store cut off, long grace", "1600ms", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			key := strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			treeFile, takeLog := filepath.Join(dir, "tree"), filepath.Join(dir, "taker")
			proxy, endpoint := newCutProxy(t, te.srv.Endpoint)
			holder := startProcess(t, append([]string{"run", "--store", "dynamodb://" + te.table + "?endpoint=" + endpoint,
				"--owner", "doomed", "--lease", lease.String(), "--heartbeat", "200ms", "--grace", tc.grace, key, "--"},
				childCommand("tree", treeFile)...)...)
			eventually(t, 20*time.Second, "the tree to start", fileContains(treeFile, "ready"))
			pids := treePids(t, treeFile)
			taker := startProcess(t, append([]string{"run", "--store", te.url, "--owner", "taker", "--lease", lease.String(),
				"--poll", "20ms", key, "--"}, childCommand("log", takeLog, "0s")...)...)
			eventually(t, 20*time.Second, "the taker to wait", func() bool {
				return strings.Contains(taker.stderr.String(), "held by doomed")
			})

			cutAt := time.Now()
			if tc.cut {
				proxy.cutOff()
				time.Sleep(100 * time.Millisecond)
			}
			killedAt := time.Now()
			if err := holder.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Watch the tree die, as closely as polling allows.
			var goneAt time.Time
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
				if len(anyAlive(pids)) == 0 {
					goneAt = time.Now()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("processes %v still alive 20s after SIGKILL", anyAlive(pids))
				}
			}
			if code := taker.wait(t, 20*time.Second); code != 0 {
				t.Fatalf("taker exit %d\nstderr:\n%s", code, taker.stderr.String())
			}
			ivs := readIntervals(t, takeLog)
			if len(ivs) != 1 {
				t.Fatalf("taker's runs: %+v", ivs)
			}
			t.Logf("%s: tree gone %v after SIGKILL of run; the taker's command started %v after it",
				tc.name, goneAt.Sub(killedAt).Round(time.Millisecond), ivs[0].start.Sub(killedAt).Round(time.Millisecond))
			if !goneAt.Before(ivs[0].start) {
				t.Errorf("the tree was still alive when the next holder's command started")
			}
			// The last renewal was sent before the cut: the tree must be
			// dead a twentieth of the lease before the local lease
			// (shortened by the 1% drift allowance) ends, 1.86s after it.
			if tc.cut {
				if d := goneAt.Sub(cutAt); d > lease+300*time.Millisecond {
					t.Errorf("tree gone %v after the store was cut off: later than the lease", d)
				}
			}
		})
	}
}

// TestRunStopsLeftovers: a command that exits and leaves a process running
// (ignoring SIGTERM) is not done: the leftover is stopped before the lock
// is released, and leaselock exits with the command's own code.
func TestRunStopsLeftovers(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	file := filepath.Join(t.TempDir(), "bg")
	r := cli(t, nil, append([]string{"run", "--store", te.url, "--grace", "300ms", "leftover", "--"},
		childCommand("background", file)...)...)
	requireCode(t, r, 3)
	pids := treePids(t, file)
	if len(pids) != 1 {
		t.Fatalf("want the sleeper's pid, got %v", pids)
	}
	if live := anyAlive(pids); len(live) > 0 {
		t.Fatalf("the leftover %v outlived leaselock run\n%v", live, r)
	}
	requireContains(t, r.stderr, "the command exited and left 1 process running: stopping it",
		"what the command left running outlived --grace 300ms: killing it")
	requireContains(t, mustCLI(t, "get", "--store", te.url, "leftover").stdout, "state      released")
}

// TestRunCommandGetsNoPipes: the supervisor's control and report pipes are
// not passed on to the command, which could otherwise read run's control
// lines or hold the report pipe open.
func TestRunCommandGetsNoPipes(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	r := cli(t, nil, append([]string{"run", "--store", te.url, "pipes", "--"}, childCommand("pipes")...)...)
	requireCode(t, r, 0)
	if r.stdout != "" {
		t.Errorf("the command inherited pipes:\n%s", r.stdout)
	}
}

// TestRunSupervisorKilled: if the supervisor itself is killed, the command
// dies with it, leaselock exits 70, and the lock is left to lapse rather
// than released, since what the command started may still run.
func TestRunSupervisorKilled(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	file := filepath.Join(t.TempDir(), "hang")
	p := startProcess(t, append([]string{"run", "--store", te.url, "--lease", "2s", "--heartbeat", "200ms", "orphaned", "--"},
		childCommand("hang", file)...)...)
	eventually(t, 20*time.Second, "the command to start", fileContains(file, "start "))
	f := strings.Fields(string(must(os.ReadFile(file))))
	cmdPid, _ := strconv.Atoi(f[len(f)-1])
	supervisor := parentOf(t, cmdPid)
	if err := syscall.Kill(supervisor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 20*time.Second); code != exitSoftware {
		t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
	}
	requireContains(t, p.stderr.String(), "the command's supervisor died", "left to lapse after its lease")
	eventually(t, 5*time.Second, "the command to die", func() bool { return !alive(cmdPid) })
	requireContains(t, mustCLI(t, "get", "--store", te.url, "orphaned").stdout, "state      held")
}

// parentOf reads a process's parent pid from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	stat := string(must(os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")))
	f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("stat of %d: %q", pid, stat)
	}
	return ppid
}
