package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// hungAfter is how long a store request may go unanswered before a
// waiter says so. A DynamoDB request takes milliseconds; the SDK's
// retries of a failing one take about a second.
const hungAfter = 2 * time.Second

// progressEvery is how often a waiter repeats who holds the lock.
const progressEvery = 30 * time.Second

// waiter gets the lock for run and hold: it opens the store, checks the
// table, and waits for the key, reporting to stderr who holds it and
// whether the store answers, until --timeout or a signal.
type waiter struct {
	e   *env
	cmd string
	f   *lockFlags
	key string
	ctx context.Context // the wait's, then the hold's context: its end is not the store's failure; guarded by mu

	mu        sync.Mutex
	holder    string        // last holder seen while waiting
	holderTok uint64        // and its token
	waited    bool          // a holder was seen: the lock was not free at once
	takeover  string        // owner whose expired lease we replaced
	storeErr  error         // the store's last failure; nil once it answers
	inflight  time.Time     // when the oldest unanswered request was sent; zero if none
	calls     int           // requests in flight
	hungSaid  bool          // "no answer" was printed for the current hang
	hungFor   time.Duration // the last request that failed had waited this long; 0 after an answer
	waitStart time.Time
	// storeWhere names the opened store (table, region, endpoint).
	storeWhere string
	life       context.Context // the command's context: the store is closed when it ends
}

// errTimeout is the cause of the waiter's context when --timeout runs out.
var errTimeout = errors.New("timed out")

// signalled is the cause of the waiter's context when a signal ends the wait.
type signalled struct{ sig os.Signal }

func (s signalled) Error() string { return s.sig.String() }

// acquire returns the lock, or an error with its exit code. The client it
// returns must be closed by the caller.
func (w *waiter) acquire(ctx context.Context, sigs <-chan os.Signal) (*lock.Client, *lock.Lock, error) {
	w.waitStart = time.Now()
	w.life = ctx
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if t := *w.f.timeout; t > 0 {
		var stop context.CancelFunc
		wctx, stop = context.WithTimeoutCause(wctx, t, errTimeout)
		defer stop()
	}
	type result struct {
		c   *lock.Client
		l   *lock.Lock
		err error
	}
	w.ctx = wctx
	res := make(chan result, 1)
	go func() {
		c, l, err := w.get(wctx)
		res <- result{c, l, err}
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	var r result
wait:
	for {
		select {
		case r = <-res:
			break wait
		case sig := <-sigs:
			cancel(signalled{sig})
		case now := <-tick.C:
			w.reportHang(now)
			if now.Sub(lastProgress) >= progressEvery {
				lastProgress = now
				if h := w.lastHolder(); h != "" {
					w.say("still waiting for %s, held by %s (%v so far)", w.name(), shown(h, msgWidth),
						time.Since(w.waitStart).Round(time.Second))
				}
			}
		}
	}
	if r.err == nil {
		if s, ok := context.Cause(wctx).(signalled); ok {
			// Acquired just as the signal came: give the lock back.
			w.giveBack(ctx, r.c, r.l)
			return nil, nil, fail(signalExitCode(s.sig), fmt.Errorf("%v while waiting for %s", s.sig, w.name()), "")
		}
		w.reportAcquired(r.l)
		// Heartbeats go on reporting store failures under the caller's
		// context once the wait's has ended.
		w.mu.Lock()
		w.ctx = ctx
		w.mu.Unlock()
		return r.c, r.l, nil
	}
	if r.c != nil {
		_ = r.c.Close(context.WithoutCancel(ctx))
	}
	return nil, nil, w.failure(ctx, wctx, r.err)
}

// get does the work of acquire under wctx.
func (w *waiter) get(wctx context.Context) (*lock.Client, *lock.Lock, error) {
	spec, err := resolveStoreURL(w.e, w.cmd, *w.f.store)
	if err != nil {
		return nil, nil, err
	}
	var st store
	err = w.track(func() (err error) {
		st, err = openStore(wctx, w.e, spec, w.f.attemptTimeout())
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	// The lock outlives the wait: the store's connections go when the
	// command's context ends.
	context.AfterFunc(w.life, st.close)
	w.mu.Lock()
	w.storeWhere = st.where()
	w.mu.Unlock()
	// The table check retries while the store is unreachable, as the wait
	// does: the docs promise that run retries until --timeout.
	for {
		err := w.track(func() error { return st.check(wctx) })
		if err == nil || *w.f.noWait || !unavailable(err) || wctx.Err() != nil {
			if err != nil {
				return nil, nil, err
			}
			break
		}
		select {
		case <-wctx.Done():
			return nil, nil, err
		case <-time.After(*w.f.poll):
		}
	}
	c, err := lock.New(&watchStore{Store: st, w: w}, append([]lock.Option{lock.WithOwner(*w.f.owner),
		lock.WithLeaseDuration(*w.f.lease), lock.WithHeartbeatPeriod(*w.f.heartbeat), lock.WithPollPeriod(*w.f.poll)},
		w.e.tel.lockOptions()...)...)
	if err != nil {
		return nil, nil, usageErr(w.cmd, "%v", err)
	}
	opts := []lock.AcquireOption{}
	if *w.f.sort != "" {
		opts = append(opts, lock.WithSortKey(*w.f.sort))
	}
	var l *lock.Lock
	if *w.f.noWait {
		l, err = c.TryAcquire(wctx, w.key, opts...)
	} else {
		l, err = c.Acquire(wctx, w.key, opts...)
	}
	if err != nil {
		return c, nil, err
	}
	return c, l, nil
}

// failure turns a failed acquire into the message and exit code to give.
func (w *waiter) failure(ctx, wctx context.Context, err error) error {
	var held *lock.LockedError
	if errors.As(err, &held) {
		return fail(*w.f.conflictCode, fmt.Errorf("%s is held by %s", w.name(), shown(held.Owner, msgWidth)), "")
	}
	if ctx.Err() != nil {
		return err
	}
	switch cause := context.Cause(wctx); {
	case errors.As(cause, new(signalled)):
		s := cause.(signalled)
		return fail(signalExitCode(s.sig), fmt.Errorf("%v while waiting for %s", s.sig, w.name()), "")
	case errors.Is(cause, errTimeout):
		msg := fmt.Sprintf("timed out after %v waiting for %s", *w.f.timeout, w.name())
		if trouble := w.storeTrouble(); trouble != "" {
			return fail(exitUnavailable, errors.New(msg+": "+trouble), hintFailing)
		}
		if h := w.lastHolder(); h != "" {
			msg += ", held by " + shown(h, msgWidth)
		}
		return fail(*w.f.conflictCode, errors.New(msg), "")
	}
	return err
}

// storeTrouble says why the store, not a holder, is to blame for a
// timeout: it failed last, a request hangs, or it never told us who holds
// the lock. "" when the store answered and the lock was simply held.
func (w *waiter) storeTrouble() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.calls > 0 && time.Since(w.inflight) >= hungAfter:
		return fmt.Sprintf("the store has not answered for %v (%s)", time.Since(w.inflight).Round(100*time.Millisecond), w.where())
	case w.hungFor > 0:
		return fmt.Sprintf("the store has not answered for %v (%s)", w.hungFor.Round(100*time.Millisecond), w.where())
	case w.storeErr != nil:
		return fmt.Sprintf("the store is unreachable: %v", w.storeErr)
	case w.holder == "":
		return fmt.Sprintf("the store did not answer in time (%s)", w.where())
	}
	return ""
}

// where names the store for messages; callers hold w.mu.
func (w *waiter) where() string {
	if w.storeWhere != "" {
		return w.storeWhere
	}
	return "loading the AWS configuration"
}

// track runs one store request, keeping count of what is in flight and of
// the store's last failure.
func (w *waiter) track(call func() error) error {
	start := time.Now()
	w.mu.Lock()
	if w.calls == 0 {
		w.inflight = start
	}
	w.calls++
	w.mu.Unlock()
	err := call()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls--
	if w.calls == 0 {
		w.inflight = time.Time{}
	}
	if err != nil && w.ctx.Err() != nil {
		// Our own context ended the request: that says nothing of the
		// store, and the last verdict stands.
		if took := time.Since(start); took >= hungAfter {
			w.hungFor = took
		}
		return err
	}
	w.hungFor = 0
	switch {
	case err == nil:
		if w.storeErr != nil || w.hungSaid {
			w.say("the store answers again")
		}
		w.storeErr, w.hungSaid = nil, false
	case unavailable(err):
		if w.storeErr == nil {
			w.say("cannot reach the store (%s); retrying", brief(err))
		}
		w.storeErr = err
	default:
		w.storeErr = nil // an answer, if a refusal
	}
	return err
}

// reportHang prints once per hang that a request has gone unanswered.
func (w *waiter) reportHang(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.calls == 0 || w.hungSaid || now.Sub(w.inflight) < hungAfter {
		return
	}
	w.hungSaid = true
	w.say("no answer from the store for %v (%s); still trying", now.Sub(w.inflight).Round(time.Second), w.where())
}

func (w *waiter) say(format string, args ...any) {
	if !*w.f.quiet {
		fmt.Fprintf(w.e.stderr, "leaselock: "+format+"\n", args...)
	}
}

// name is the lock's key for messages.
func (w *waiter) name() string {
	k := backend.Key{Partition: w.key, Sort: *w.f.sort}
	return shown(k.String(), msgWidth)
}

// seen is called with every record read or refused while waiting: it
// reports a new holder once.
func (w *waiter) seen(rec backend.Record) {
	if rec.Released {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if rec.Owner == w.holder && rec.Token == w.holderTok {
		return
	}
	w.holder, w.holderTok, w.waited = rec.Owner, rec.Token, true
	if *w.f.noWait {
		return
	}
	w.say("waiting for %s, held by %s (%s, lease %v)...", w.name(), shown(rec.Owner, msgWidth),
		tokenPhrase(rec.Token), rec.LeaseDuration)
}

func (w *waiter) lastHolder() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.holder
}

func (w *waiter) reportAcquired(l *lock.Lock) {
	w.mu.Lock()
	waited, takeover := w.waited, w.takeover
	w.mu.Unlock()
	switch {
	case takeover != "":
		w.say("took over %s from %s, whose lease expired (token %d)", w.name(), shown(takeover, msgWidth), l.Token())
	case waited:
		w.say("acquired %s after %v (token %d)", w.name(), time.Since(w.waitStart).Round(10*time.Millisecond), l.Token())
	}
}

// giveBack releases a lock acquired too late to use, bounded by a lease.
func (w *waiter) giveBack(ctx context.Context, c *lock.Client, l *lock.Lock) {
	_ = releaseLock(ctx, l, *w.f.lease)
	_ = c.Close(context.WithoutCancel(ctx))
}

// releaseLock gives the lock back, bounded by one lease: after that it has
// lapsed anyway.
func releaseLock(ctx context.Context, l *lock.Lock, lease time.Duration) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lease)
	defer cancel()
	return l.Release(rctx)
}

// watchStore reports to the waiter what the engine reads and whether the
// store answers, and notices a takeover of an expired lease.
type watchStore struct {
	backend.Store
	w *waiter
}

// ReleaseByDelete passes the store's answer on (backend.ReleaseDeleter):
// in format=python the format's other clients read any item as held, so
// the engine must release by deleting.
func (s *watchStore) ReleaseByDelete() bool {
	rd, ok := s.Store.(backend.ReleaseDeleter)
	return ok && rd.ReleaseByDelete()
}

func (s *watchStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	var rec backend.Record
	var err error
	_ = s.w.track(func() error {
		rec, err = s.Store.Get(ctx, key)
		err = noAnswer(ctx, err)
		if errors.Is(err, backend.ErrNotFound) {
			return nil // an answer
		}
		return err
	})
	if err == nil {
		s.w.seen(rec)
	}
	return rec, err
}

func (s *watchStore) Acquire(ctx context.Context, req backend.AcquireRequest) (got backend.Acquired, err error) {
	var ce *backend.ConflictError
	_ = s.w.track(func() error {
		got, err = s.Store.Acquire(ctx, req)
		err = noAnswer(ctx, err)
		if errors.As(err, &ce) {
			return nil // an answer
		}
		return err
	})
	switch {
	case err == nil && req.ExpectVersion != "" && got.Replaced != nil && !got.Replaced.Released:
		s.w.mu.Lock()
		s.w.takeover = got.Replaced.Owner
		s.w.mu.Unlock()
	case ce != nil && ce.Current != nil && ce.Current.Owner != req.Record.Owner:
		s.w.seen(*ce.Current)
	}
	return got, err
}

func (s *watchStore) Update(ctx context.Context, rec backend.Record, expect string) (got backend.Record, err error) {
	var ce *backend.ConflictError
	_ = s.w.track(func() error {
		got, err = s.Store.Update(ctx, rec, expect)
		if errors.As(err, &ce) {
			return nil
		}
		return err
	})
	return got, err
}

// noAnswer marks a request the SDK gave up on after its attempts timed out
// (the store took the request and never answered) as the store being
// unavailable, while the caller still waits: the engine then retries, as
// for a refused connection. A read changed nothing, and a write the store
// did not report ambiguous was not sent. The caller's own deadline is left
// as it is.
func noAnswer(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous) {
		return err
	}
	return fmt.Errorf("%w: no answer: %w", backend.ErrUnavailable, err)
}
