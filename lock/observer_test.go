package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// recorder is an Observer that writes down every call as one line. The
// context Start returns names the operation, so a store call's line says
// which operation it ran under: proof the engine passes Start's context on.
type recorder struct {
	mu    sync.Mutex
	lines []string
	ends  []lock.Result
	evs   []lock.Event
	// evCtx holds, per event kind, the context of the last such event.
	evCtx map[lock.EventKind]context.Context
}

type opNameKey struct{}

func opName(op lock.Op) string {
	if op.Kind == lock.OpStore {
		return "store." + string(op.Store)
	}
	return string(op.Kind)
}

func (r *recorder) Start(ctx context.Context, op lock.Op) context.Context {
	parent, _ := ctx.Value(opNameKey{}).(string)
	r.add(fmt.Sprintf("start %s %s token=%d under=%q", opName(op), op.Key, op.Token, parent))
	return context.WithValue(ctx, opNameKey{}, opName(op))
}

func (r *recorder) End(ctx context.Context, op lock.Op, res lock.Result) {
	if got, _ := ctx.Value(opNameKey{}).(string); got != opName(op) {
		panic("End got a context other than its Start's: " + got)
	}
	r.mu.Lock()
	r.ends = append(r.ends, res)
	r.mu.Unlock()
	r.add(fmt.Sprintf("end %s %s", opName(op), res.Outcome))
}

func (r *recorder) Event(ctx context.Context, e lock.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	if r.evCtx == nil {
		r.evCtx = map[lock.EventKind]context.Context{}
	}
	r.evCtx[e.Kind] = ctx
	r.mu.Unlock()
	line := fmt.Sprintf("event %s %s token=%d", e.Kind, e.Key, e.Token)
	switch e.Kind {
	case lock.EventEnded:
		line += fmt.Sprintf(" reason=%d cause=%s holder=%s", e.Reason, e.CauseKind, e.Holder)
	case lock.EventWaiting:
		line += " holder=" + e.Holder
	case lock.EventResolved:
		line += " outcome=" + string(e.Outcome)
	}
	r.add(line)
}

func (r *recorder) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
}

// take returns the lines so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines, r.ends, r.evs = nil, nil, nil
	return out
}

// matching returns the lines so far that start with prefix.
func (r *recorder) matching(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func (r *recorder) lastEnd() lock.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ends[len(r.ends)-1]
}

func (r *recorder) eventContext(kind lock.EventKind) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evCtx[kind]
}

type ctxTag struct{}

// TestObserverSeesAcquireAndRelease pins the whole sequence of one free
// acquisition and its release: each operation wraps its store call, and
// held/ended come in between.
func TestObserverSeesAcquireAndRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rec := &recorder{}
		c := newClient(t, memstore.New(), "alice", lock.WithObserver(rec))
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, []string{
			`start acquire k token=0 under=""`,
			`start store.acquire k token=0 under="acquire"`,
			`end store.acquire ok`,
			`event held k token=1`,
			`end acquire acquired`,
		}, rec.take())

		require.NoError(t, l.Release(ctx))
		require.Equal(t, []string{
			`start release k token=1 under=""`,
			`start store.update k token=1 under="release"`,
			`end store.update ok`,
			`event ended k token=1 reason=0 cause= holder=`,
			`end release released`,
		}, rec.take())
	})
}

// TestObserverSeesWaiting: an Acquire that waits for another owner says so
// once, and reports how long it waited; TryAcquire and a timed-out Acquire
// report held and timeout.
func TestObserverSeesWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, mem := context.Background(), memstore.New()
		rec := &recorder{}
		alice := newClient(t, mem, "alice", lock.WithObserver(rec))
		bob := newClient(t, mem, "bob")
		lb, err := bob.Acquire(ctx, "k")
		require.NoError(t, err)

		_, err = alice.TryAcquire(ctx, "k")
		require.ErrorIs(t, err, lock.ErrLocked)
		require.Equal(t, lock.OutcomeHeld, rec.lastEnd().Outcome)
		require.Zero(t, rec.lastEnd().Wait, "TryAcquire does not wait")

		tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = alice.Acquire(tctx, "k")
		cancel()
		require.Error(t, err)
		require.Equal(t, lock.OutcomeTimeout, rec.lastEnd().Outcome)
		require.Equal(t, 3*time.Second, rec.lastEnd().Wait)
		rec.take()

		go func() {
			time.Sleep(5 * time.Second)
			_ = lb.Release(ctx)
		}()
		start := time.Now()
		la, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		res := rec.lastEnd()
		require.Equal(t, lock.OutcomeAcquired, res.Outcome)
		require.Equal(t, time.Since(start), res.Duration)
		require.Equal(t, res.Duration, res.Wait, "held at the first try: all of it was waiting")
		require.GreaterOrEqual(t, res.Wait, 5*time.Second)
		require.Equal(t, la.Token(), res.Token)
		require.Equal(t, []string{"event waiting k token=0 holder=bob"}, rec.matching("event waiting"),
			"one waiting event per Acquire")
	})
}

// failingUpdates makes heartbeat writes fail as unavailable while on.
type failingUpdates struct {
	*memstore.Store
	on atomic.Bool
}

func (f *failingUpdates) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	if f.on.Load() {
		return backend.Record{}, fmt.Errorf("test: %w", backend.ErrUnavailable)
	}
	return f.Store.Update(ctx, rec, expect)
}

// TestObserverSeesLosses: a steal found by a heartbeat and an expiry after
// failing heartbeats are reported with their reason and cause, under the
// context the lock was acquired with.
func TestObserverSeesLosses(t *testing.T) {
	t.Run("stolen", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			mem := memstore.New()
			rec := &recorder{}
			c := newClient(t, mem, "alice", lock.WithObserver(rec))
			ctx := context.WithValue(context.Background(), ctxTag{}, "request-7")
			l, err := c.Acquire(ctx, "k")
			require.NoError(t, err)
			overwrite(t, mem, "k")

			<-l.Done()
			synctest.Wait() // the goroutine that ended it finishes its reports
			require.ErrorIs(t, l.Err(), lock.ErrStolen)
			require.Equal(t, []string{"event ended k token=1 reason=1 cause=overwritten holder=mallory"},
				rec.matching("event ended"))
			require.Equal(t, []string{"end heartbeat ended"}, rec.matching("end heartbeat"))
			require.Equal(t, "request-7", rec.eventContext(lock.EventEnded).Value(ctxTag{}),
				"the loss is reported under the acquiring context's values")
		})
	})
	t.Run("expired", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fs := &failingUpdates{Store: memstore.New()}
			rec := &recorder{}
			c := newClient(t, fs, "alice", lock.WithObserver(rec))
			l, err := c.Acquire(context.Background(), "k")
			require.NoError(t, err)
			fs.on.Store(true)
			<-l.Done()
			synctest.Wait() // the goroutine that ended it finishes its reports
			require.ErrorIs(t, l.Err(), lock.ErrExpired)
			require.Equal(t, []string{"event ended k token=1 reason=2 cause=store_unavailable holder="},
				rec.matching("event ended"))
			require.NotEmpty(t, rec.matching("end heartbeat error"))
			require.Empty(t, rec.matching("end heartbeat renewed"))
		})
	})
	t.Run("work ended", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &recorder{}
			c := newClient(t, memstore.New(), "alice", lock.WithObserver(rec))
			work, stop := context.WithCancel(context.Background())
			l, err := c.Acquire(context.Background(), "k", lock.HeartbeatWhile(work))
			require.NoError(t, err)
			stop()
			<-l.Done()
			synctest.Wait() // the goroutine that ended it finishes its reports
			require.Equal(t, []string{"event ended k token=1 reason=2 cause=work_ended holder="},
				rec.matching("event ended"))
		})
	})
}

// TestObserverSeesHeartbeats: each renewal reports how far into the lease
// it was confirmed, against the local lease.
func TestObserverSeesHeartbeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		c := newClient(t, memstore.New(), "alice", lock.WithObserver(rec),
			lock.WithLeaseDuration(10*time.Second), lock.WithHeartbeatPeriod(2*time.Second), lock.WithClockDrift(0))
		l, err := c.Acquire(context.Background(), "k")
		require.NoError(t, err)
		rec.take()
		time.Sleep(3 * time.Second) // one background heartbeat, at 2s ± 10%
		require.Equal(t, []string{
			`start heartbeat k token=1 under=""`,
			`start store.update k token=1 under="heartbeat"`,
			`end store.update ok`,
			`end heartbeat renewed`,
		}, rec.take())
		require.NoError(t, l.Heartbeat(context.Background()))
		res := rec.lastEnd()
		require.Equal(t, lock.OutcomeRenewed, res.Outcome)
		require.Equal(t, 10*time.Second, res.Lease)
		require.Greater(t, res.LeaseAge, time.Duration(0))
		require.LessOrEqual(t, res.LeaseAge, 3*time.Second-1800*time.Millisecond,
			"the manual heartbeat renews a lease the background one started")
		require.NoError(t, l.Release(context.Background()))
	})
}

// TestObserverSeesAmbiguityResolved: a release whose answer was lost is
// read back and found applied.
func TestObserverSeesAmbiguityResolved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fs := faultstore.New(memstore.New(), nil)
		rec := &recorder{}
		c := newClient(t, fs, "alice", lock.WithObserver(rec))
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		rec.take()
		fs.Inject(faultstore.OpUpdate, faultstore.Ambiguous)
		require.NoError(t, l.Release(ctx))
		require.Equal(t, []string{
			`start release k token=1 under=""`,
			`start store.update k token=1 under="release"`,
			`end store.update ambiguous`,
			`start store.get k token=0 under="release"`,
			`end store.get ok`,
			`event resolved k token=0 outcome=applied`,
			`event ended k token=1 reason=0 cause= holder=`,
			`end release released`,
		}, rec.take())
	})
}

// TestObservedStoreKeepsCapabilities: with an observer the engine still
// finds the store's guarded writes and commit-and-release, observes them,
// and still finds none on a store without them.
func TestObservedStoreKeepsCapabilities(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rec := &recorder{}
		c := newClient(t, memstore.New(), "alice", lock.WithObserver(rec))
		l, err := c.Acquire(ctx, "k")
		require.NoError(t, err)
		rec.take()
		require.NoError(t, memstore.WriteGuarded(ctx, l, func() error { return nil }))
		require.NoError(t, memstore.CommitAndRelease(ctx, l, func() error { return nil }))
		require.Equal(t, []string{
			`start write_guarded k token=1 under=""`,
			`start store.write_guarded k token=1 under="write_guarded"`,
			`end store.write_guarded ok`,
			`end write_guarded committed`,
			`start commit_release k token=1 under=""`,
			`start store.commit_release k token=1 under="commit_release"`,
			`end store.commit_release ok`,
			`event ended k token=1 reason=0 cause= holder=`,
			`end commit_release released`,
		}, rec.take())

		plain := newClient(t, faultstore.New(memstore.New(), nil), "bob", lock.WithObserver(rec))
		l, err = plain.Acquire(ctx, "k")
		require.NoError(t, err)
		require.ErrorIs(t, l.WriteGuarded(ctx, nil), errors.ErrUnsupported)
		require.ErrorIs(t, l.CommitAndRelease(ctx, nil), errors.ErrUnsupported)
	})
}

// nopObserver adds nothing: what the seam itself costs.
type nopObserver struct{}

func (nopObserver) Start(ctx context.Context, _ lock.Op) context.Context { return ctx }
func (nopObserver) End(context.Context, lock.Op, lock.Result)            {}
func (nopObserver) Event(context.Context, lock.Event)                    {}

// BenchmarkAcquireReleaseObserved is BenchmarkAcquireRelease with an
// observer that does nothing: the cost of the seam's calls and store
// wrapper, before any telemetry (BenchmarkAcquireRelease is the same
// cycle without an observer).
func BenchmarkAcquireReleaseObserved(b *testing.B) {
	benchCycle(b, &countingStore{Store: memstore.New()}, lock.WithObserver(nopObserver{}))
}
