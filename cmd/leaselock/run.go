package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leaselock/leaselock/backend"
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

SIGINT, SIGTERM and SIGHUP are forwarded to the command (to its process
group). If the lock is lost while the command runs (its lease could not be
renewed, or an operator force-released it), the command is sent SIGTERM,
then SIGKILL after --grace, and leaselock exits 76. On Linux the command
is also killed if leaselock itself dies.

A holder that dies without releasing is taken over once a waiter has seen
its record unchanged for a whole lease.

Example:
  leaselock run --store 'dynamodb://locks?region=eu-west-1' --timeout 5m \
      nightly-report -- ./make-report.sh

Exit codes:
  the command's own  the command ran and exited (128+N: killed by signal N)
  64   usage
  69   DynamoDB unreachable before the command started (also when
       --timeout ran out while the store was unreachable)
  70   unexpected error
  75   timed out waiting for the lock (--timeout), or held (--no-wait)
  76   the lock was lost while the command ran; the command was stopped
  78   AWS configuration or credentials, missing table, key schema mismatch
  126  the command could not be executed; 127 command not found
  128+N  leaselock got signal N while waiting for the lock
`

func runRun(ctx context.Context, e *env, args []string) error {
	const cmd = "run"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	sortKey := fs.String("sort", "", "the lock's sort `key` (tables with a sort key)")
	owner := fs.String("owner", "", "owner `name` written on the lock (default HOST.PID.RANDOM)")
	lease := fs.Duration("lease", lock.DefaultLeaseDuration, "lease `duration`: how long the lock outlives a holder that stopped heartbeating")
	beat := fs.Duration("heartbeat", 0, "heartbeat `period`, at most half the lease (default lease/4)")
	poll := fs.Duration("poll", 0, "how often to read a held lock while waiting (default lease/10, at most 1s)")
	timeout := fs.Duration("timeout", 0, "give up waiting after this `duration` and exit 75 (default: wait forever)")
	noWait := fs.Bool("no-wait", false, "exit 75 at once if the lock is held")
	grace := fs.Duration("grace", 10*time.Second, "after SIGTERM, how long the command has before SIGKILL, when the lock is lost")
	quiet := fs.Bool("quiet", false, "print nothing while waiting")
	pos, argv, err := parse(e, fs, runHelp, args, 1)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageErr(cmd, "missing KEY and COMMAND")
	case len(argv) == 0:
		return usageErr(cmd, "missing COMMAND: leaselock run KEY -- COMMAND [ARGS...]")
	case *lease <= 0:
		return usageErr(cmd, "--lease must be positive")
	case *beat < 0 || *poll < 0 || *timeout < 0 || *grace < 0:
		return usageErr(cmd, "durations must not be negative")
	case *noWait && *timeout > 0:
		return usageErr(cmd, "--no-wait and --timeout exclude each other")
	}
	if *beat == 0 {
		*beat = *lease / 4
	}
	if *poll == 0 {
		*poll = min(*lease/10, time.Second)
	}
	if *owner == "" {
		*owner = defaultOwner()
	}
	key := pos[0]

	st, err := openStore(ctx, e, cmd, *storeURL)
	if err != nil {
		return err
	}
	// The command's output and ours may share a writer: when it is not a
	// file, exec copies into it from its own goroutines.
	e = &env{stdin: e.stdin, stdout: syncWriter(e.stdout), stderr: syncWriter(e.stderr), getenv: e.getenv}
	r := &runner{e: e, key: key, quiet: *quiet, grace: *grace, noWait: *noWait}
	lockOpts := []lock.Option{lock.WithOwner(*owner), lock.WithLeaseDuration(*lease),
		lock.WithHeartbeatPeriod(*beat), lock.WithPollPeriod(max(*poll, time.Millisecond))}
	// watchStore passes the store's ReleaseByDelete on (format=python: the
	// format's other clients read any item as held).
	client, err := lock.New(&watchStore{Store: st, r: r}, lockOpts...)
	if err != nil {
		return usageErr(cmd, "%v", err)
	}
	defer client.Close(context.WithoutCancel(ctx))
	if err := st.check(ctx); err != nil {
		return err
	}

	// Signals: while waiting they end the wait; later they go to the command.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)

	l, err := r.acquire(ctx, client, sigs, *sortKey, *lease, *beat, *timeout, *noWait)
	if err != nil {
		return err
	}
	return r.runLocked(ctx, l, argv, sigs)
}

// runner is one run invocation.
type runner struct {
	e      *env
	key    string
	quiet  bool
	noWait bool
	grace  time.Duration

	mu        sync.Mutex
	holder    string // last holder seen while waiting
	holderTok uint64
	waitStart time.Time
	waited    bool
	takeover  string // owner whose expired lease we replaced
	storeErr  error  // the store's last failure while waiting; nil once it answers
}

// storeAnswered tracks whether the store is reachable while we wait, and
// says so when that changes.
func (r *runner) storeAnswered(err error) {
	failing := errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous)
	if err != nil && !failing {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case failing && r.storeErr == nil:
		r.say("cannot reach the store (%v); retrying", err)
	case !failing && r.storeErr != nil:
		r.say("the store answers again")
	}
	r.storeErr = nil
	if failing {
		r.storeErr = err
	}
}

func (r *runner) say(format string, args ...any) {
	if !r.quiet {
		fmt.Fprintf(r.e.stderr, "leaselock: "+format+"\n", args...)
	}
}

// seen is called by the store wrapper with every record read or refused
// while waiting: it reports a new holder once.
func (r *runner) seen(rec backend.Record) {
	if rec.Released {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.Owner == r.holder && rec.Token == r.holderTok {
		return
	}
	r.holder, r.holderTok, r.waited = rec.Owner, rec.Token, true
	if r.noWait {
		return
	}
	r.say("waiting for %s, held by %s (token %d, lease %v)...", r.key, rec.Owner, rec.Token, rec.LeaseDuration)
}

func (r *runner) lastHolder() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holder
}

// acquire waits for the lock, reporting progress, until the timeout or a
// signal.
func (r *runner) acquire(ctx context.Context, client *lock.Client, sigs <-chan os.Signal, sortKey string,
	lease, beat, timeout time.Duration, noWait bool,
) (*lock.Lock, error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timeout > 0 {
		var stop context.CancelFunc
		actx, stop = context.WithTimeoutCause(actx, timeout, errTimeout)
		defer stop()
	}
	opts := []lock.AcquireOption{
		// Warn before the lease runs out locally; the command is stopped if it does.
		lock.OnDanger((beat+lease)/2, func(l *lock.Lock) {
			r.say("%s: lease not renewed for %v (store unreachable?); the command will be stopped if it lapses",
				r.key, (beat+lease)/2)
		}),
	}
	if sortKey != "" {
		opts = append(opts, lock.WithSortKey(sortKey))
	}

	type acquired struct {
		l   *lock.Lock
		err error
	}
	res := make(chan acquired, 1)
	r.waitStart = time.Now()
	go func() {
		var a acquired
		if noWait {
			a.l, a.err = client.TryAcquire(actx, r.key, opts...)
		} else {
			a.l, a.err = client.Acquire(actx, r.key, opts...)
		}
		res <- a
	}()
	// Report the holder at least every 30s while waiting.
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	var a acquired
wait:
	for {
		select {
		case a = <-res:
			break wait
		case <-tick.C:
			if h := r.lastHolder(); h != "" {
				r.say("still waiting for %s, held by %s (%v so far)", r.key, h, time.Since(r.waitStart).Round(time.Second))
			}
		case sig := <-sigs:
			cancel()
			if a := <-res; a.err == nil {
				// Acquired just as the signal came: give the lock back.
				_ = r.release(ctx, a.l)
			}
			return nil, fail(signalExitCode(sig), fmt.Errorf("%v while waiting for %s", sig, r.key), "")
		}
	}

	l, err := a.l, a.err
	var held *lock.LockedError
	switch {
	case err == nil:
	case errors.As(err, &held):
		return nil, fail(exitTempFail, fmt.Errorf("%s is held by %s", r.key, held.Owner), "")
	case errors.Is(context.Cause(actx), errTimeout) && ctx.Err() == nil:
		r.mu.Lock()
		storeErr := r.storeErr
		r.mu.Unlock()
		if storeErr != nil {
			return nil, fail(exitUnavailable, fmt.Errorf("timed out after %v waiting for %s: the store is unreachable: %w",
				timeout, r.key, storeErr), "")
		}
		msg := fmt.Sprintf("timed out after %v waiting for %s", timeout, r.key)
		if h := r.lastHolder(); h != "" {
			msg += ", held by " + h
		}
		return nil, fail(exitTempFail, errors.New(msg), "")
	default:
		return nil, err
	}
	r.mu.Lock()
	waited, takeover := r.waited, r.takeover
	r.mu.Unlock()
	switch {
	case takeover != "":
		r.say("took over %s from %s, whose lease expired (token %d)", r.key, takeover, l.Token())
	case waited:
		r.say("acquired %s after %v (token %d)", r.key, time.Since(r.waitStart).Round(10*time.Millisecond), l.Token())
	}
	return l, nil
}

var errTimeout = errors.New("timed out")

// runLocked runs the command under l and releases l afterwards.
func (r *runner) runLocked(ctx context.Context, l *lock.Lock, argv []string, sigs <-chan os.Signal) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.e.stdin, r.e.stdout, r.e.stderr
	cmd.Env = append(os.Environ(),
		"LEASELOCK_KEY="+l.Key(),
		"LEASELOCK_TOKEN="+strconv.FormatUint(l.Token(), 10),
		"LEASELOCK_OWNER="+l.Owner())
	if l.SortKey() != "" {
		cmd.Env = append(cmd.Env, "LEASELOCK_SORT_KEY="+l.SortKey())
	}
	restoreTTY := configureChild(cmd, r.e.stdin)

	// Start and Wait on one locked OS thread: on Linux the command's
	// parent-death signal fires when the thread that started it ends.
	started := make(chan error, 1)
	ended := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		ended <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		relErr := r.release(ctx, l)
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFound
		}
		return fail(code, errors.Join(fmt.Errorf("cannot run %s: %w", argv[0], err), relErr), "")
	}

	var waitErr error
	lost := false
wait:
	for {
		select {
		case sig := <-sigs:
			_ = signalChild(cmd, sig)
		case <-l.Done():
			lost = true
			r.sayAlways("lost the lock on %s (%v): stopping the command", r.key, l.Err())
			_ = signalChild(cmd, terminateSignal)
			kill := time.NewTimer(r.grace)
			select {
			case waitErr = <-ended:
				kill.Stop()
			case <-kill.C:
				r.sayAlways("the command outlived --grace %v: killing it", r.grace)
				_ = signalChild(cmd, killSignal)
				waitErr = <-ended
			}
			break wait
		case waitErr = <-ended:
			break wait
		}
	}
	restoreTTY()
	code := 0
	if waitErr != nil {
		code = exitStatus(waitErr)
	}
	if lost {
		return exited(exitLockLost)
	}
	// The lock may have been lost as the command exited: then it cannot
	// be said to have held the lock all along.
	if err := r.release(ctx, l); err != nil {
		if errors.Is(err, lock.ErrLockLost) {
			r.sayAlways("lost the lock on %s as the command ended (%v)", r.key, err)
			return exited(exitLockLost)
		}
		r.sayAlways("warning: could not release %s (it lapses after its lease): %v", r.key, err)
	}
	return exited(code)
}

// release gives the lock back, bounded by one lease.
func (r *runner) release(ctx context.Context, l *lock.Lock) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return l.Release(rctx)
}

// sayAlways prints even with --quiet: these are failures.
func (r *runner) sayAlways(format string, args ...any) {
	fmt.Fprintf(r.e.stderr, "leaselock: "+format+"\n", args...)
}

// defaultOwner names this process: host, pid and a random suffix, so that
// operators can tell who holds a lock and no two processes share a name.
func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s.%d.%s", host, os.Getpid(), strings.ToLower(rand.Text()[:6]))
}

// watchStore reports to the runner what the engine reads while waiting,
// and notices a takeover of an expired lease.
type watchStore struct {
	backend.Store
	r *runner
}

// ReleaseByDelete passes the store's answer on (backend.ReleaseDeleter).
func (w *watchStore) ReleaseByDelete() bool {
	rd, ok := w.Store.(backend.ReleaseDeleter)
	return ok && rd.ReleaseByDelete()
}

func (w *watchStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	rec, err := w.Store.Get(ctx, key)
	w.r.storeAnswered(err)
	if err == nil {
		w.r.seen(rec)
	}
	return rec, err
}

func (w *watchStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := w.Store.Acquire(ctx, req)
	w.r.storeAnswered(err)
	var ce *backend.ConflictError
	switch {
	case err == nil && req.ExpectVersion != "" && got.Replaced != nil && !got.Replaced.Released:
		w.r.mu.Lock()
		w.r.takeover = got.Replaced.Owner
		w.r.mu.Unlock()
	case errors.As(err, &ce) && ce.Current != nil && ce.Current.Owner != req.Record.Owner:
		w.r.seen(*ce.Current)
	}
	return got, err
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
