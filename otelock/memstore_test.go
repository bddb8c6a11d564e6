package otelock_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
	"github.com/leaselock/leaselock/otelock"
)

// TestAcquireContendRelease: what the reader and the recorder receive for
// a free acquisition, a TryAcquire and a timed-out Acquire against it, and
// its release.
func TestAcquireContendRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, mem := context.Background(), memstore.New()
		tm := newTelemetry(t)
		alice := newClient(t, mem, "alice", lock.WithObserver(tm.obs))
		bob := newClient(t, mem, "bob", lock.WithObserver(tm.obs))

		l, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricLocksHeld))
		acq := tm.one(t, "leaselock.Acquire")
		require.Equal(t, map[string]string{"leaselock.key": "k", "leaselock.owner": "alice", "leaselock.token": "1",
			"leaselock.outcome": "acquired", "leaselock.acquire.wait": "0"}, attrs(acq.Attributes()))
		require.Equal(t, trace.SpanKindInternal, acq.SpanKind())
		require.Equal(t, []string{"leaselock.store.Acquire"}, tm.children(acq))
		store := tm.one(t, "leaselock.store.Acquire")
		require.Equal(t, trace.SpanKindClient, store.SpanKind())
		require.Equal(t, codes.Unset, store.Status().Code)
		require.Equal(t, uint64(1), tm.hist(t, otelock.MetricAcquireDuration, opAcquire, outcome(lock.OutcomeAcquired)).Count)
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricStoreCalls, storeOp(lock.StoreAcquire)))

		// Contend: TryAcquire is refused at once; a bounded Acquire waits
		// its whole 3 s and times out.
		_, err = bob.TryAcquire(ctx, "k")
		require.ErrorIs(t, err, lock.ErrLocked)
		require.Equal(t, uint64(1), tm.hist(t, otelock.MetricAcquireDuration, opTry, outcome(lock.OutcomeHeld)).Count)
		require.Equal(t, codes.Unset, tm.one(t, "leaselock.TryAcquire").Status().Code, "a held key is no failure")
		tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = bob.Acquire(tctx, "k")
		cancel()
		require.Error(t, err)
		wait := tm.hist(t, otelock.MetricAcquireWait, opAcquire, outcome(lock.OutcomeTimeout))
		require.Equal(t, uint64(1), wait.Count)
		require.Equal(t, 3.0, wait.Sum)
		timedOut := tm.ended("leaselock.Acquire")[1]
		require.Equal(t, codes.Error, timedOut.Status().Code)
		require.Equal(t, "alice", attrs(event(t, timedOut, otelock.EventWaiting).Attributes)["leaselock.holder"])
		// bob's first write was refused; then he polled with reads.
		require.Equal(t, int64(2), tm.sum(t, otelock.MetricStoreCalls, storeOp(lock.StoreAcquire), errType("conflict")))
		require.Positive(t, tm.sum(t, otelock.MetricStoreCalls, storeOp(lock.StoreGet)))

		require.NoError(t, l.Release(ctx))
		require.Zero(t, tm.sum(t, otelock.MetricLocksHeld))
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricReleases, opRelease, outcome(lock.OutcomeReleased)))
		rel := tm.one(t, "leaselock.Release")
		require.Equal(t, []string{"leaselock.store.Update"}, tm.children(rel))
		require.Equal(t, "1", attrs(rel.Attributes())["leaselock.token"])
		require.Zero(t, tm.sum(t, otelock.MetricLosses, otelock.KeyLossReason.String("stolen"),
			otelock.KeyLossCause.String("overwritten")))
	})
}

// TestLossOnTheCallersSpan: a lock stolen while held is counted by reason
// and cause, and reported as an event on the span the application
// acquired it under, the span its work runs in.
func TestLossOnTheCallersSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := memstore.New()
		tm := newTelemetry(t)
		alice := newClient(t, mem, "alice", lock.WithObserver(tm.obs))
		ctx, work := tm.tracer.Start(context.Background(), "work")
		l, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, work.SpanContext(), trace.SpanContextFromContext(l.Context()),
			"the work under the lock continues the caller's span")
		require.Equal(t, work.SpanContext().SpanID(), tm.one(t, "leaselock.Acquire").Parent().SpanID())

		steal(t, ctx, mem, "k")
		<-l.Done()
		synctest.Wait() // the goroutine that ended it finishes its reports
		work.End()
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricLosses, otelock.KeyLossReason.String("stolen"),
			otelock.KeyLossCause.String("overwritten")))
		require.Zero(t, tm.sum(t, otelock.MetricLocksHeld))
		lost := event(t, tm.one(t, "work"), otelock.EventLost)
		got := attrs(lost.Attributes)
		require.Equal(t, "k", got["leaselock.key"])
		require.Equal(t, "1", got["leaselock.token"])
		require.Equal(t, "stolen", got["leaselock.loss.reason"])
		require.Equal(t, "mallory", got["leaselock.holder"])
		require.Equal(t, uint64(1), tm.hist(t, otelock.MetricHeartbeatLatency, outcome(lock.OutcomeEnded)).Count)
		require.Empty(t, tm.ended("leaselock.store.Update"), "background heartbeats make no spans by default")
	})
}

// unreliable is a memstore whose writes fail as unavailable while down is
// set.
type unreliable struct {
	*memstore.Store
	down atomic.Bool
}

func (u *unreliable) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	if u.down.Load() {
		return backend.Record{}, fmt.Errorf("test: %w", backend.ErrUnavailable)
	}
	return u.Store.Update(ctx, rec, expect)
}

// TestHeartbeatsThenExpiry: renewals record how far into the lease they
// landed; once the store is down, failures are counted and shown on the
// caller's span, and the expiry is counted with its cause.
func TestHeartbeatsThenExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &unreliable{Store: memstore.New()}
		tm := newTelemetry(t)
		alice := newClient(t, store, "alice", lock.WithObserver(tm.obs), lock.WithLeaseDuration(10*time.Second),
			lock.WithHeartbeatPeriod(2*time.Second), lock.WithClockDrift(0))
		ctx, work := tm.tracer.Start(context.Background(), "work")
		l, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		time.Sleep(7 * time.Second) // three renewals, each about one period into its lease
		late := tm.hist(t, otelock.MetricHeartbeatLate)
		require.Equal(t, uint64(3), late.Count)
		require.InDelta(t, 2.0, late.Sum/3, 0.2+1e-9)
		require.Equal(t, uint64(3), tm.hist(t, otelock.MetricHeartbeatLatency, outcome(lock.OutcomeRenewed)).Count)

		store.down.Store(true)
		<-l.Done()
		synctest.Wait() // the goroutine that ended it finishes its reports
		work.End()
		failures := tm.sum(t, otelock.MetricHeartbeatFail, errType("unavailable"))
		require.Positive(t, failures)
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricLosses, otelock.KeyLossReason.String("expired"),
			otelock.KeyLossCause.String("store_unavailable")))
		span := tm.one(t, "work")
		var failedEvents int64
		for _, e := range span.Events() {
			if e.Name == otelock.EventHeartbeatFailed {
				failedEvents++
				require.Equal(t, "unavailable", attrs(e.Attributes)["error.type"])
			}
		}
		require.Equal(t, failures, failedEvents)
		require.Equal(t, "store_unavailable", attrs(event(t, span, otelock.EventLost).Attributes)["leaselock.loss.cause"])
	})
}

// TestHeartbeatSpans: with WithHeartbeatSpans each renewal is a span of
// its own trace, linked to the caller's span, with its store call beneath.
func TestHeartbeatSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTelemetry(t, otelock.WithHeartbeatSpans())
		alice := newClient(t, memstore.New(), "alice", lock.WithObserver(tm.obs))
		ctx, work := tm.tracer.Start(context.Background(), "work")
		l, err := alice.Acquire(ctx, "k")
		require.NoError(t, err)
		time.Sleep(lock.DefaultHeartbeatPeriod * 3 / 2)
		require.NoError(t, l.Release(ctx))
		work.End()

		beat := tm.one(t, "leaselock.Heartbeat")
		require.NotEqual(t, work.SpanContext().TraceID(), beat.SpanContext().TraceID())
		require.Len(t, beat.Links(), 1)
		require.Equal(t, work.SpanContext(), beat.Links()[0].SpanContext)
		require.Equal(t, []string{"leaselock.store.Update"}, tm.children(beat))
		require.Equal(t, "renewed", attrs(beat.Attributes())["leaselock.outcome"])
	})
}

// TestWithoutKeys: no span, event or status names the key; the owner and
// token remain.
func TestWithoutKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const secret = "customer-4711"
		mem := memstore.New()
		tm := newTelemetry(t, otelock.WithoutKeys())
		alice := newClient(t, mem, "alice", lock.WithObserver(tm.obs))
		bob := newClient(t, mem, "bob", lock.WithObserver(tm.obs))
		ctx, work := tm.tracer.Start(context.Background(), "work")
		l, err := alice.Acquire(ctx, secret)
		require.NoError(t, err)
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = bob.Acquire(tctx, secret)
		cancel()
		require.ErrorContains(t, err, secret, "the error itself still names the key")
		steal(t, ctx, mem, secret)
		<-l.Done()
		synctest.Wait() // the goroutine that ended it finishes its reports
		require.ErrorIs(t, l.Release(ctx), lock.ErrLockLost)
		work.End()

		spans := tm.spans.Ended()
		require.GreaterOrEqual(t, len(spans), 6, "work, two Acquire and their store calls, Release")
		for _, s := range spans {
			text := fmt.Sprint(s.Attributes(), s.Status(), s.Events())
			require.NotContains(t, text, secret, "span %s", s.Name())
		}
		require.Equal(t, "alice", attrs(tm.ended("leaselock.Acquire")[0].Attributes())["leaselock.owner"])
		require.Equal(t, "1", attrs(event(t, tm.one(t, "work"), otelock.EventLost).Attributes)["leaselock.token"])
		require.True(t, strings.HasPrefix(tm.one(t, "leaselock.Release").Status().Description, "lost"))
	})
}
