package otelock

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"

	"github.com/leaselock/leaselock/lock"
)

// Metric names, in the semantic conventions' style: dot-separated, a
// namespace first, durations in seconds, counts with a {unit} annotation.
const (
	MetricAcquireDuration  = "leaselock.acquire.duration"
	MetricAcquireWait      = "leaselock.acquire.wait.duration"
	MetricLocksHeld        = "leaselock.locks.held"
	MetricHeartbeatLatency = "leaselock.heartbeat.latency"
	MetricHeartbeatLate    = "leaselock.heartbeat.lateness"
	MetricHeartbeatFail    = "leaselock.heartbeat.failures"
	MetricLosses           = "leaselock.losses"
	MetricReleases         = "leaselock.releases"
	MetricGuardedWrites    = "leaselock.guarded_writes"
	MetricStoreCalls       = "leaselock.store.calls"
	MetricStoreDuration    = "leaselock.store.duration"
	MetricAmbiguous        = "leaselock.ambiguous.resolved"
)

// Bucket boundaries, in seconds. Store calls and heartbeats take
// milliseconds; acquisitions may wait for whole leases (20 s by default)
// and lease ages reach the lease.
var (
	fastBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	slowBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60, 120, 300, 600}
)

type instruments struct {
	acquireDuration  metric.Float64Histogram
	acquireWait      metric.Float64Histogram
	locksHeld        metric.Int64UpDownCounter
	heartbeatLatency metric.Float64Histogram
	heartbeatLate    metric.Float64Histogram
	heartbeatFail    metric.Int64Counter
	losses           metric.Int64Counter
	releases         metric.Int64Counter
	guardedWrites    metric.Int64Counter
	storeCalls       metric.Int64Counter
	storeDuration    metric.Float64Histogram
	ambiguous        metric.Int64Counter
}

func (in *instruments) create(m metric.Meter) error {
	var errs [12]error
	in.acquireDuration, errs[0] = m.Float64Histogram(MetricAcquireDuration, metric.WithUnit("s"),
		metric.WithDescription("Time an Acquire or TryAcquire took, waiting included, by outcome."),
		metric.WithExplicitBucketBoundaries(slowBuckets...))
	in.acquireWait, errs[1] = m.Float64Histogram(MetricAcquireWait, metric.WithUnit("s"),
		metric.WithDescription("Time an Acquire spent waiting after finding the key held by another owner, by outcome."),
		metric.WithExplicitBucketBoundaries(slowBuckets...))
	in.locksHeld, errs[2] = m.Int64UpDownCounter(MetricLocksHeld, metric.WithUnit("{lock}"),
		metric.WithDescription("Locks this process holds."))
	in.heartbeatLatency, errs[3] = m.Float64Histogram(MetricHeartbeatLatency, metric.WithUnit("s"),
		metric.WithDescription("Time a heartbeat took, from sending to a known outcome, by outcome."),
		metric.WithExplicitBucketBoundaries(fastBuckets...))
	in.heartbeatLate, errs[4] = m.Float64Histogram(MetricHeartbeatLate, metric.WithUnit("s"),
		metric.WithDescription("How much of the lease had passed when a heartbeat's renewal was confirmed; the lock expires when this reaches the local lease."),
		metric.WithExplicitBucketBoundaries(slowBuckets...))
	in.heartbeatFail, errs[5] = m.Int64Counter(MetricHeartbeatFail, metric.WithUnit("{heartbeat}"),
		metric.WithDescription("Heartbeats that failed and left the lease unrenewed, by error type."))
	in.losses, errs[6] = m.Int64Counter(MetricLosses, metric.WithUnit("{lock}"),
		metric.WithDescription("Locks lost while held, by reason (stolen, expired) and cause."))
	in.releases, errs[7] = m.Int64Counter(MetricReleases, metric.WithUnit("{release}"),
		metric.WithDescription("Release and CommitAndRelease calls, by operation and outcome."))
	in.guardedWrites, errs[8] = m.Int64Counter(MetricGuardedWrites, metric.WithUnit("{write}"),
		metric.WithDescription("WriteGuarded calls, by outcome."))
	in.storeCalls, errs[9] = m.Int64Counter(MetricStoreCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Calls to the lock store, by operation and error type."))
	in.storeDuration, errs[10] = m.Float64Histogram(MetricStoreDuration, metric.WithUnit("s"),
		metric.WithDescription("Time a call to the lock store took, by operation and error type."),
		metric.WithExplicitBucketBoundaries(fastBuckets...))
	in.ambiguous, errs[11] = m.Int64Counter(MetricAmbiguous, metric.WithUnit("{write}"),
		metric.WithDescription("Writes whose outcome was ambiguous, by what they were found to be (applied, refused, unknown)."))
	return errors.Join(errs[:]...)
}

// record records the metrics of an ended operation.
func (o *Observer) record(ctx context.Context, op lock.Op, r lock.Result) {
	in := &o.inst
	switch op.Kind {
	case lock.OpAcquire, lock.OpTryAcquire:
		opt := o.attrs.opt(attrPair{KeyOperation, string(op.Kind), KeyOutcome, string(r.Outcome)})
		in.acquireDuration.Record(ctx, r.Duration.Seconds(), opt.rec...)
		if op.Kind == lock.OpAcquire {
			in.acquireWait.Record(ctx, r.Wait.Seconds(), opt.rec...)
		}
	case lock.OpRelease, lock.OpCommitRelease:
		in.releases.Add(ctx, 1, o.attrs.opt(attrPair{KeyOperation, string(op.Kind), KeyOutcome, string(r.Outcome)}).add...)
	case lock.OpWriteGuarded:
		in.guardedWrites.Add(ctx, 1, o.attrs.opt(attrPair{k1: KeyOutcome, v1: string(r.Outcome)}).add...)
	case lock.OpHeartbeat:
		in.heartbeatLatency.Record(ctx, r.Duration.Seconds(), o.attrs.opt(attrPair{k1: KeyOutcome, v1: string(r.Outcome)}).rec...)
		switch r.Outcome {
		case lock.OutcomeRenewed:
			in.heartbeatLate.Record(ctx, r.LeaseAge.Seconds(), o.attrs.opt(attrPair{}).rec...)
		case lock.OutcomeError:
			in.heartbeatFail.Add(ctx, 1, o.attrs.opt(attrPair{k1: KeyErrorType, v1: errorType(r.Err)}).add...)
		}
	case lock.OpStore:
		p := attrPair{k1: KeyStoreOp, v1: string(op.Store)}
		if r.Outcome != lock.OutcomeOK {
			p.k2, p.v2 = KeyErrorType, string(r.Outcome)
		}
		opt := o.attrs.opt(p)
		in.storeCalls.Add(ctx, 1, opt.add...)
		in.storeDuration.Record(ctx, r.Duration.Seconds(), opt.rec...)
	}
}

// recordEvent records the metrics of an event.
func (o *Observer) recordEvent(ctx context.Context, e lock.Event) {
	in := &o.inst
	switch e.Kind {
	case lock.EventHeld:
		in.locksHeld.Add(ctx, 1, o.attrs.opt(attrPair{}).add...)
	case lock.EventEnded:
		in.locksHeld.Add(ctx, -1, o.attrs.opt(attrPair{}).add...)
		if e.Reason != 0 {
			in.losses.Add(ctx, 1, o.attrs.opt(attrPair{KeyLossReason, lossReason(e.Reason), KeyLossCause, string(e.CauseKind)}).add...)
		}
	case lock.EventResolved:
		in.ambiguous.Add(ctx, 1, o.attrs.opt(attrPair{k1: KeyOutcome, v1: string(e.Outcome)}).add...)
	}
}
