package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leaselock/leaselock/lock"
)

const runHelp = `
Usage: leaselock run --store URL [flags] KEY -- COMMAND [ARGS...]

Runs COMMAND while holding the lock KEY: a distributed flock(1). It waits
for the lock (printing who holds it to stderr), runs the command with the
lock's fencing token in its environment, keeps the lease alive with
heartbeats while it runs, and releases the lock when it exits.

The command's environment gets:
  LEASELOCK_KEY       the lock's key (and LEASELOCK_SORT_KEY, with --sort)
  LEASELOCK_TOKEN     the fencing token: larger than that of every earlier
                      holder; pass it to what the lock protects and have it
                      refuse smaller ones
  LEASELOCK_OWNER     the owner name written on the lock

leaselock owns the command's whole process tree: a small supervisor
process (leaselock itself, in a process group of its own) starts the
command and, on Linux, adopts every process the command starts, even
those that leave its process group. Everything is stopped (SIGTERM, then
SIGKILL after --grace) before the lock can pass to anyone else:
  - when the lease has not been renewed (the store is unreachable) and
    has --grace left before the kill deadline, a twentieth of the lease
    before it lapses; SIGKILL at the deadline;
  - when the lock is lost (an operator force-released it);
  - when leaselock itself dies, even by SIGKILL: SIGKILL comes at the
    kill deadline of the lease it last renewed at the latest;
  - when the command exits: what it left running in the background.
The lock is released only once nothing is left. --grace is therefore at
most 0.9 x lease - heartbeat.

SIGINT, SIGTERM and SIGHUP are forwarded to the command (to its process
group). A holder that dies without releasing is taken over once a waiter
has seen its record unchanged for a whole lease.

Example:
  leaselock run --store 'dynamodb://locks?region=eu-west-1' --timeout 5m \
      nightly-report -- ./make-report.sh

Exit codes:
  the command's own  the command ran and exited (128+N: killed by signal N)
  64   usage
  69   the store unreachable before the command started (also when
       --timeout ran out while the store was unreachable or not answering)
  70   unexpected error
  75   timed out waiting for the lock (--timeout), or held (--no-wait);
       --conflict-exit-code chooses another code
  76   the lock was lost, or its lease came within --grace of lapsing,
       while the command ran; the command was stopped
  78   AWS or PostgreSQL configuration or credentials, missing table,
       a table that does not match the store URL
  126  the command could not be executed; 127 command not found
  128+N  leaselock got signal N while waiting for the lock
`

func runRun(ctx context.Context, e *env, args []string) error {
	const cmd = "run"
	fs := newFlags(cmd)
	f := defineLockFlags(fs)
	grace := fs.Duration("grace", 0, "how long the command has between SIGTERM and SIGKILL when it must stop "+
		"(default a quarter of the lease, at most 10s)")
	pos, argv, dashAt, err := parseDash(e, fs, runHelp, args, 1)
	if err != nil {
		return err
	}
	switch {
	case dashAt == 0:
		return usageErr(cmd, "missing KEY before --: leaselock run KEY -- COMMAND [ARGS...] "+
			"(the first word after -- is the command, never the key)")
	case len(pos) == 0:
		return usageErr(cmd, "missing KEY and COMMAND")
	case len(argv) == 0:
		return usageErr(cmd, "missing COMMAND: leaselock run KEY -- COMMAND [ARGS...]")
	}
	if err := f.validate(cmd); err != nil {
		return err
	}
	if err := checkGrace(cmd, grace, *f.lease, *f.heartbeat); err != nil {
		return err
	}
	if err := checkLockKey(e, cmd, f, pos[0]); err != nil {
		return err
	}

	// The command's output and ours may share a writer: when it is not a
	// file, exec copies into it from its own goroutines.
	e = &env{stdin: e.stdin, stdout: syncWriter(e.stdout), stderr: syncWriter(e.stderr), getenv: e.getenv, tel: e.tel}
	// Signals: while waiting they end the wait; later they go to the command.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)

	w := &waiter{e: e, cmd: cmd, f: f, key: pos[0]}
	client, l, err := w.acquire(ctx, sigs)
	if err != nil {
		return err
	}
	r := &runner{e: e, name: w.name(), grace: *grace, lease: *f.lease, heartbeat: *f.heartbeat}
	defer func() {
		if !r.abandon {
			_ = client.Close(context.WithoutCancel(ctx))
		}
	}()
	return r.runLocked(ctx, l, argv, sigs)
}

// killMargin is how long before an unrenewed lease lapses the command's
// tree must be dead: the local lease already ends before any waiter may
// take over (the 1% drift allowance), and this margin covers a supervisor
// whose timer fires late on a busy host.
func killMargin(lease time.Duration) time.Duration { return lease / 20 }

// maxGrace is the longest --grace for a lease: SIGTERM comes when an
// unrenewed lease has --grace (plus the kill margin) left, and that must
// come after at least one heartbeat was due, with room to spare.
func maxGrace(lease, beat time.Duration) time.Duration { return lease - beat - lease/10 }

// checkGrace validates --grace against the lease and fills in its default.
func checkGrace(cmd string, grace *time.Duration, lease, beat time.Duration) error {
	switch {
	case *grace < 0:
		return usageErr(cmd, "durations must not be negative")
	case *grace == 0:
		*grace = min(lease/4, 10*time.Second)
	case *grace > maxGrace(lease, beat):
		return usageErr(cmd, "--grace %v is too long for --lease %v with --heartbeat %v: the command gets SIGTERM when "+
			"an unrenewed lease has --grace left, which must come well after a heartbeat was due (at most %v)",
			*grace, lease, beat, maxGrace(lease, beat))
	}
	return nil
}

// checkLockKey validates KEY and --sort against the store URL's layout.
// A bad store URL is left for the store to report, after the key.
func checkLockKey(e *env, cmd string, f *lockFlags, key string) error {
	spec, err := resolveStoreURL(e, cmd, *f.store)
	if err != nil {
		return err
	}
	if err := checkKeys(spec, key, *f.sort, true); err != nil {
		return usageErr(cmd, "%v", err)
	}
	return nil
}

// runner runs the command under a held lock.
type runner struct {
	e         *env
	name      string // the lock's key, for messages
	grace     time.Duration
	lease     time.Duration
	heartbeat time.Duration
	// abandon: the lock must lapse, not be released (Close would release
	// it), because what the command started may still run.
	abandon bool
}

// runLocked runs the command under l and releases l once the command and
// everything it started are gone.
func (r *runner) runLocked(ctx context.Context, l *lock.Lock, argv []string, sigs <-chan os.Signal) error {
	env := append(os.Environ(),
		"LEASELOCK_KEY="+l.Key(),
		"LEASELOCK_TOKEN="+strconv.FormatUint(l.Token(), 10),
		"LEASELOCK_OWNER="+l.Owner())
	if l.SortKey() != "" {
		env = append(env, "LEASELOCK_SORT_KEY="+l.SortKey())
	}
	env = r.e.tel.childTraceEnv(ctx, env)
	c, err := startChild(r.e, argv, env, r.grace, l.LeaseRemaining(), killMargin(r.lease))
	if err != nil {
		relErr := releaseLock(ctx, l, r.lease)
		return fail(exitSoftware, errors.Join(fmt.Errorf("cannot start the command's supervisor: %w", err), relErr), "")
	}
	// The lease's end, as the supervisor knows it, follows every renewal.
	tick := time.NewTicker(min(max(r.heartbeat/8, 10*time.Millisecond), 250*time.Millisecond))
	defer tick.Stop()
	lost := l.Done()
	var (
		wasLost, leaseStop bool
		res                childResult
	)
wait:
	for {
		select {
		case sig := <-sigs:
			c.forward(sig)
		case <-lost:
			lost, wasLost = nil, true
			r.say("lost the lock on %s (%v): stopping the command", r.name, l.Err())
			c.stop()
		case <-tick.C:
			if rem := l.LeaseRemaining(); rem > 0 {
				c.leaseLeft(rem)
			}
		case ev := <-c.events():
			switch ev.kind {
			case childLeaseStop:
				leaseStop = true
			case childDone:
				res = ev.result
				break wait
			}
		}
	}
	switch {
	case res.err != nil:
		// The supervisor itself failed: what the command started may still
		// run, so the lock is not released; it lapses after its lease.
		r.say("%v; the lock on %s is left to lapse after its lease", res.err, r.name)
		r.abandon = true
		return exited(exitSoftware)
	case res.execErr != "":
		// Nothing ran: the lock can go back at once.
		relErr := releaseLock(ctx, l, r.lease)
		return fail(res.code, errors.Join(errors.New(res.execErr), relErr), "")
	case wasLost:
		return exited(exitLockLost)
	}
	// The lock may have been lost as the command exited: then it cannot
	// be said to have held the lock all along.
	if err := releaseLock(ctx, l, r.lease); err != nil {
		if errors.Is(err, lock.ErrLockLost) {
			r.say("lost the lock on %s as the command ended (%v)", r.name, err)
			return exited(exitLockLost)
		}
		r.say("warning: could not release %s (it lapses after its lease): %v", r.name, err)
	}
	if leaseStop {
		return exited(exitLockLost)
	}
	return exited(res.code)
}

// say prints even with --quiet: everything said while the command runs is
// a failure or a warning.
func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.e.stderr, "leaselock: "+format+"\n", args...)
}

// defaultOwner names this process: host, pid and a random suffix, so that
// operators can tell who holds a lock and no two processes share a name.
func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" || checkOwner(host) != nil {
		host = "localhost"
	}
	return fmt.Sprintf("%s.%d.%s", host, os.Getpid(), strings.ToLower(rand.Text()[:6]))
}

// lockedWriter serialises writes to a writer shared by goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// syncWriter returns w itself when it is a file (exec hands the command
// the descriptor) and a locked wrapper otherwise.
func syncWriter(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &lockedWriter{w: w}
}
