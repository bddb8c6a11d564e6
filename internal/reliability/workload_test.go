package reliability

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// workload is the contention workload: every client runs workers
// goroutines; each picks a random key, takes it (Acquire, TryAcquire or
// Do), holds it for a while and releases it, until target acquisitions
// have been made. Some holds stall: their heartbeats stop (MaxHold) while
// the holder goes on holding until it is told it lost the lock, which is
// what a paused or partitioned process looks like to the others.
type workload struct {
	clients []*lock.Client
	keys    []string
	workers int   // goroutines per client
	target  int64 // acquisitions to make

	hold      func(r *rand.Rand) time.Duration
	stallRate float64       // fraction of holds that stop heartbeating
	stallMax  time.Duration // a stalled hold stops renewing within this
	pause     time.Duration // back-off after a failed attempt
	tryRate   float64       // fraction of attempts that use TryAcquire
	doRate    float64       // fraction of attempts that use Do
	beatRate  float64       // fraction of holds that also heartbeat with new data
	resource  *fencedResource
	hist      *history
	seed      uint64

	// cuts, when set, holds one cutStore per client: half the stalled holds
	// are then cut off from the store (every write of that one lock
	// fails, its release after expiry included) instead of stopping their
	// heartbeats with MaxHold, so waiters must take over by watching the
	// record for a whole lease on their own clocks.
	cuts []*cutStore

	// atTarget, when set, runs once, as soon as the target is reached and
	// before the workers stop: while they still hold keys.
	atTarget func()
	once     sync.Once

	// faults says store errors are expected; without it any error other
	// than the lock's own outcomes is a failure.
	faults bool

	// judge, when set, classifies every Stolen report as true (a takeover
	// named a version of that holder) or false.
	judge *stealJudge

	res workloadResult
}

// workloadResult counts what happened.
type workloadResult struct {
	acquisitions  atomic.Int64
	viaTry, viaDo atomic.Int64
	stalls        atomic.Int64
	cutOff        atomic.Int64
	lost          atomic.Int64 // told by Done during the hold
	lostAtRelease atomic.Int64 // told by Release's error
	releaseRetry  atomic.Int64
	releaseGaveUp atomic.Int64
	heartbeats    atomic.Int64

	mu       sync.Mutex
	locks    []*lock.Lock
	onLost   map[*lock.Lock]int
	reasons  map[string]int
	errs     map[string]int    // acquire/heartbeat/release errors by class
	examples map[string]string // one message per class
	problems []string
}

func (r *workloadResult) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 50 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *workloadResult) countErr(class string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errs == nil {
		r.errs, r.examples = map[string]int{}, map[string]string{}
	}
	r.errs[class]++
	if _, ok := r.examples[class]; !ok && err != nil {
		r.examples[class] = err.Error()
	}
}

func (r *workloadResult) acquired(l *lock.Lock) {
	r.acquisitions.Add(1)
	r.mu.Lock()
	r.locks = append(r.locks, l)
	r.mu.Unlock()
}

func (r *workloadResult) onLostCallback(l *lock.Lock, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.onLost == nil {
		r.onLost = map[*lock.Lock]int{}
	}
	r.onLost[l]++
	if !errors.Is(err, lock.ErrLockLost) {
		r.problems = append(r.problems, fmt.Sprintf("OnLost for %s with %v, not a *LostError", l.Key(), err))
	}
}

// run runs the workload until target acquisitions, or ctx ends.
func (w *workload) run(ctx context.Context) {
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for ci, c := range w.clients {
		for g := range w.workers {
			rng := rand.New(rand.NewPCG(w.seed, uint64(ci*1000+g)))
			wg.Go(func() { w.worker(stop, cancel, ci, c, rng) })
		}
	}
	wg.Wait()
}

func (w *workload) worker(stop context.Context, cancel context.CancelFunc, ci int, c *lock.Client, rng *rand.Rand) {
	for stop.Err() == nil {
		if w.res.acquisitions.Load() >= w.target {
			if w.atTarget != nil {
				w.once.Do(w.atTarget)
			}
			cancel()
			return
		}
		key := w.keys[rng.IntN(len(w.keys))]
		switch x := rng.Float64(); {
		case x < w.doRate:
			w.doOnce(stop, c, key, rng)
		default:
			w.acquireOnce(stop, ci, c, key, rng, x < w.doRate+w.tryRate)
		}
	}
}

func (w *workload) acquireOnce(stop context.Context, ci int, c *lock.Client, key string, rng *rand.Rand, try bool) {
	opts := []lock.AcquireOption{lock.OnLost(w.res.onLostCallback)}
	stall := rng.Float64() < w.stallRate
	cut := stall && w.cuts != nil && rng.IntN(2) == 0
	if stall && !cut {
		opts = append(opts, lock.MaxHold(time.Duration(rng.Int64N(int64(w.stallMax)+1))))
	}
	var l *lock.Lock
	var err error
	if try {
		l, err = c.TryAcquire(stop, key, opts...)
	} else {
		l, err = c.Acquire(stop, key, opts...)
	}
	if err != nil {
		w.acquireFailed(stop, err)
		return
	}
	if try {
		w.res.viaTry.Add(1)
	}
	if stall {
		w.res.stalls.Add(1)
	}
	if cut {
		w.res.cutOff.Add(1)
		w.cuts[ci].cut(l)
	}
	hd := w.hist.begin(key, l)
	w.res.acquired(l)
	w.guardedWrite(l, key)
	if !cut && rng.Float64() < w.beatRate {
		err := l.Heartbeat(context.Background(), lock.WithNewData(fmt.Appendf(nil, "beat-%d", l.Token())))
		w.res.heartbeats.Add(1)
		if err != nil {
			w.countOpErr("heartbeat", err, l)
		}
	}
	d := w.hold(rng)
	if stall {
		d = 24 * time.Hour // hold on until told, or until the run stops
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-l.Done():
	case <-stop.Done():
	}
	timer.Stop()
	if w.endHold(hd, l) {
		return
	}
	w.release(l, false)
}

// misreported counts a release reported as a steal although it cannot have
// been one: the lease still had time left when Release returned, so no
// waiter could have taken the key over; the release itself landed and
// another client acquired the freed key before its answer was known. See
// TestReleaseThatLandedIsNotASteal.
func (w *workload) misreported(l *lock.Lock, leaseLeft time.Duration, err error) bool {
	if leaseLeft <= 0 {
		return false
	}
	w.res.countErr("release: reported as stolen with lease left", err)
	return true
}

// endHold closes the hold in the history; it reports whether the lock was
// lost (the holder was told), in which case there is nothing to release.
func (w *workload) endHold(hd *hold, l *lock.Lock) bool {
	err := l.Err()
	w.hist.finish(hd, err != nil)
	if err == nil {
		return false
	}
	w.res.lost.Add(1)
	w.lossReported(l, err)
	return true
}

// lossReported checks that a loss was reported completely: Done closed,
// Context cancelled with the same error, a *LostError with a reason.
func (w *workload) lossReported(l *lock.Lock, err error) {
	select {
	case <-l.Done():
	default:
		w.res.problem("%s token %d: Err %v but Done not closed", l.Key(), l.Token(), err)
	}
	var le *lock.LostError
	if !errors.As(err, &le) || (le.Reason != lock.Stolen && le.Reason != lock.Expired) {
		w.res.problem("%s token %d: lost with %v, not a *LostError with a reason", l.Key(), l.Token(), err)
		return
	}
	if cause := context.Cause(l.Context()); !errors.Is(cause, lock.ErrLockLost) {
		w.res.problem("%s token %d: context cause %v after loss", l.Key(), l.Token(), cause)
	}
	w.res.mu.Lock()
	if w.res.reasons == nil {
		w.res.reasons = map[string]int{}
	}
	w.res.reasons[le.Reason.String()]++
	w.res.mu.Unlock()
	class := "loss: " + le.Reason.String()
	if le.Reason == lock.Stolen && le.Holder == l.Owner() {
		class += " by its own owner" // a misreport: see findings_test.go
	}
	if le.Reason == lock.Stolen && w.judge != nil {
		if w.judge.isTrueSteal(l) {
			w.res.countErr("steal after a takeover", err)
		} else {
			w.res.countErr("FALSE STEAL", fmt.Errorf("%s's token %d: %w", l.Owner(), l.Token(), err))
		}
	}
	w.res.countErr(class, fmt.Errorf("%s's token %d: %w", l.Owner(), l.Token(), err))
}

// release releases l, retrying while the store fails: a failed release
// leaves the lock held, and a lock left held would be a leak.
// retry says an earlier release of l (Do's) already failed.
func (w *workload) release(l *lock.Lock, retry bool) {
	for attempt := range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 4*w.pause+time.Second)
		left, began := l.LeaseRemaining(), time.Now()
		err := l.Release(ctx)
		cancel()
		switch {
		case err == nil:
			if !errors.Is(l.Err(), lock.ErrReleased) {
				w.res.problem("%s token %d: Release succeeded but Err is %v", l.Key(), l.Token(), l.Err())
			}
			return
		case errors.Is(err, lock.ErrLockLost):
			w.res.lostAtRelease.Add(1)
			switch {
			case !errors.Is(err, lock.ErrStolen):
			case w.misreported(l, left-time.Since(began), err):
			case retry || attempt > 0:
				// After an unknown outcome: usually our own earlier
				// attempt, which did land, and the key was taken since.
				w.res.countErr("release: stolen at a retry after an unknown outcome", err)
			default:
				w.res.countErr("release: stolen", err)
			}
			w.lossReported(l, l.Err())
			if !errors.Is(l.Err(), lock.ErrLockLost) {
				w.res.problem("%s: Release returned %v but Err is %v", l.Key(), err, l.Err())
			}
			return
		}
		if l.Err() != nil {
			// Ended by now: either during Release, which should then have
			// returned the lock's Err, or just after it returned.
			w.res.countErr("release: still held, and the lock ended by the time it returned", err)
		}
		w.countOpErr("release", err, l)
		if l.Err() == nil {
			// Invariant 8: a failed release leaves the lock held.
			select {
			case <-l.Done():
				w.res.problem("%s: Done closed after a failed release with Err nil", l.Key())
			default:
			}
		}
		w.res.releaseRetry.Add(1)
		time.Sleep(w.pause * time.Duration(1+attempt%4))
	}
	w.res.releaseGaveUp.Add(1)
}

func (w *workload) doOnce(stop context.Context, c *lock.Client, key string, rng *rand.Rand) {
	d := w.hold(rng)
	var held *lock.Lock
	err := c.Do(stop, key, func(ctx context.Context, l *lock.Lock) error {
		held = l
		hd := w.hist.begin(key, l)
		w.res.acquired(l)
		w.res.viaDo.Add(1)
		w.guardedWrite(l, key)
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		w.endHold(hd, l)
		return nil
	}, lock.OnLost(w.res.onLostCallback))
	switch {
	case held == nil:
		if err != nil {
			w.acquireFailed(stop, err)
		}
	case err == nil:
	case errors.Is(err, lock.ErrLockLost):
		if !errors.Is(held.Err(), lock.ErrLockLost) {
			w.res.problem("%s: Do returned %v but Err is %v", key, err, held.Err())
		}
	default:
		// Do's release failed: the lock is still held; release it here.
		w.countOpErr("do-release", err, held)
		if held.Err() == nil {
			w.release(held, true)
		}
	}
}

func (w *workload) guardedWrite(l *lock.Lock, key string) {
	if w.resource == nil {
		return
	}
	err := l.WriteGuarded(context.Background(), w.resource.write(key, l.Token()))
	switch {
	case err == nil:
	case errors.Is(err, lock.ErrLockLost):
		// Lost before or during the write: refused, and the lock says so.
		if l.Err() == nil {
			w.res.problem("%s: guarded write refused (%v) but the lock still reports held", key, err)
		}
	default:
		w.res.problem("%s: guarded write: %v", key, err)
	}
}

// acquireFailed classifies a failed attempt and backs off. Every path
// blocks for a while: in a synctest bubble a goroutine that never blocks
// would stop virtual time.
func (w *workload) acquireFailed(stop context.Context, err error) {
	switch {
	case stop.Err() != nil && errors.Is(err, context.Canceled):
		return
	case errors.Is(err, lock.ErrLocked):
		w.res.countErr("acquire: held", nil)
	case errors.Is(err, lock.ErrAlreadyHeld):
		w.res.countErr("acquire: already held by this client", nil)
	case errors.Is(err, lock.ErrUnknownOutcome):
		w.res.countErr("acquire: unknown outcome", err)
	case errors.Is(err, lock.ErrExpired):
		// The store answered after the lease it granted had ended: the
		// engine declines such a lock (seen on moto under load).
		w.res.countErr("acquire: answered after its lease", err)
	case w.faults && (errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous) ||
		errors.Is(err, context.DeadlineExceeded)):
		w.res.countErr("acquire: "+errClass(err), err)
	default:
		w.res.problem("acquire: unexpected error: %v", err)
	}
	sleepCtx(stop, w.pause)
}

func (w *workload) countOpErr(op string, err error, l *lock.Lock) {
	switch {
	case errors.Is(err, errCut):
		w.res.countErr(op+": cut off", err)
	case w.faults && (errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrAmbiguous) ||
		errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "not applied")):
		w.res.countErr(op+": "+errClass(err), err)
	case errors.Is(err, lock.ErrLockLost):
		w.res.countErr(op+": lost", err)
	default:
		w.res.problem("%s %s: unexpected error: %v", op, l.Key(), err)
	}
}

func errClass(err error) string {
	switch {
	case errors.Is(err, backend.ErrAmbiguous):
		return "ambiguous"
	case errors.Is(err, backend.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, lock.ErrLockLost):
		return "lost"
	case strings.Contains(err.Error(), "not applied"):
		return "not applied"
	}
	return "other"
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// checkEnded checks, after every client was closed, that every lock the
// workload saw has ended and reported how: Done closed, Err set, OnLost run
// exactly once for a loss and never for a release.
func (w *workload) checkEnded(t *testing.T) {
	t.Helper()
	r := &w.res
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.locks {
		select {
		case <-l.Done():
		default:
			t.Errorf("%s token %d: not ended after Close", l.Key(), l.Token())
			continue
		}
		err := l.Err()
		switch {
		case errors.Is(err, lock.ErrLockLost):
			if n := r.onLost[l]; n != 1 {
				t.Errorf("%s token %d: lost (%v) but OnLost ran %d times", l.Key(), l.Token(), err, n)
			}
		case errors.Is(err, lock.ErrReleased):
			if n := r.onLost[l]; n != 0 {
				t.Errorf("%s token %d: released but OnLost ran %d times", l.Key(), l.Token(), n)
			}
		default:
			t.Errorf("%s token %d: ended with %v", l.Key(), l.Token(), err)
		}
	}
	for _, p := range r.problems {
		t.Error(p)
	}
}

// report logs the figures of a run.
func (w *workload) report(t *testing.T, name string, elapsed time.Duration) {
	t.Helper()
	r := &w.res
	s := w.hist.stats()
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Logf("%s: %d acquisitions (%d TryAcquire, %d Do, %d stalled of which %d cut off), %d holds checked, %d lost and told by Done, %d told by Release, "+
		"%d release retries, %d manual heartbeats; loss reasons %v; errors %s; took %v",
		name, r.acquisitions.Load(), r.viaTry.Load(), r.viaDo.Load(), r.stalls.Load(), r.cutOff.Load(), s.holds, r.lost.Load(),
		r.lostAtRelease.Load(), r.releaseRetry.Load(), r.heartbeats.Load(), r.reasons, sortedCounts(r.errs), elapsed.Round(time.Millisecond))
	if w.resource != nil {
		t.Logf("%s: %d guarded writes committed in token order", name, w.resource.writes)
	}
	if testing.Verbose() {
		for _, class := range slices.Sorted(maps.Keys(r.examples)) {
			t.Logf("%s: e.g. %s", class, r.examples[class])
		}
	}
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return "{" + b.String() + "}"
}

// keysNamed returns n key names.
func keysNamed(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

// uniformHold returns holds mostly shorter than short, and a fraction
// longFrac as long as long (crossing several heartbeats).
func uniformHold(short, long_ time.Duration, longFrac float64) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration {
		if r.Float64() < longFrac {
			return short + time.Duration(r.Int64N(int64(long_-short)+1))
		}
		return time.Duration(r.Int64N(int64(short) + 1))
	}
}

// cutStore cuts individual locks off from the store: every Update or
// Delete of a cut lock's record (same key and fencing token) fails as
// unavailable, as if that holder were partitioned away.
type cutStore struct {
	backend.Store
	mu   sync.Mutex
	cuts map[backend.Key]uint64
}

func newCutStore(s backend.Store) *cutStore {
	return &cutStore{Store: s, cuts: map[backend.Key]uint64{}}
}

func (c *cutStore) cut(l *lock.Lock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cuts[backend.Key{Partition: l.Key(), Sort: l.SortKey()}] = l.Token()
}

func (c *cutStore) isCut(k backend.Key, token uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.cuts[k]
	return ok && t == token
}

var errCut = fmt.Errorf("%w: reliability: this holder is cut off", backend.ErrUnavailable)

func (c *cutStore) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	if c.isCut(rec.Key, rec.Token) {
		return backend.Record{}, errCut
	}
	return c.Store.Update(ctx, rec, expect)
}

func (c *cutStore) Delete(ctx context.Context, key backend.Key, expect string) error {
	if cur, err := c.Store.Get(ctx, key); err == nil && cur.Version == expect && c.isCut(key, cur.Token) {
		return errCut
	}
	return c.Store.Delete(ctx, key, expect)
}

// WriteGuarded passes guarded writes through (the holder's application
// writes are not what is cut).
func (c *cutStore) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	gw, ok := c.Store.(backend.GuardedWriter)
	if !ok {
		return fmt.Errorf("%w: %T has no guarded writes", backend.ErrInvalid, c.Store)
	}
	return gw.WriteGuarded(ctx, g, ops)
}

// versionOf reads the version of key's record, as a waiter that watched it
// would know it.
func versionOf(t testing.TB, s backend.Store, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec, err := s.Get(ctx, backend.Key{Partition: key})
	require.NoError(t, err)
	return rec.Version
}
