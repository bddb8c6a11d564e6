package otelock

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/leaselock/leaselock/lock"
)

// Span names: the API call, or the store method under "leaselock.store.".
var (
	opSpanNames = map[lock.OpKind]string{
		lock.OpAcquire:       "leaselock.Acquire",
		lock.OpTryAcquire:    "leaselock.TryAcquire",
		lock.OpRelease:       "leaselock.Release",
		lock.OpCommitRelease: "leaselock.CommitAndRelease",
		lock.OpWriteGuarded:  "leaselock.WriteGuarded",
		lock.OpHeartbeat:     "leaselock.Heartbeat",
	}
	storeSpanNames = map[lock.StoreOp]string{
		lock.StoreGet:           "leaselock.store.Get",
		lock.StoreAcquire:       "leaselock.store.Acquire",
		lock.StoreUpdate:        "leaselock.store.Update",
		lock.StoreDelete:        "leaselock.store.Delete",
		lock.StoreCommitRelease: "leaselock.store.CommitRelease",
		lock.StoreWriteGuarded:  "leaselock.store.WriteGuarded",
	}
)

// Span event names.
const (
	EventWaiting         = "leaselock.waiting"            // an Acquire found the key held; on its span
	EventHeartbeatFailed = "leaselock.heartbeat.failed"   // on the span the lock was acquired under
	EventDanger          = "leaselock.danger"             // OnDanger fired; same span
	EventLost            = "leaselock.lost"               // the lock was stolen or expired; same span
	EventResolved        = "leaselock.ambiguous.resolved" // on the span of the write's operation
)

// opSpan marks the contexts of this package's recording operation spans.
// Store calls get spans only beneath one: calls made in the background
// (heartbeats, handing back a lapsed lease) would otherwise each make a
// span under the span the lock was acquired under, or a trace of their
// own; and beneath an operation that is not recorded (not sampled, or a
// no-op provider) their spans would not be either.
type opSpan struct{}

// Span start options, made once: building them per span would allocate.
var (
	internalSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	clientSpan   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
)

func (o *Observer) startSpan(ctx context.Context, op lock.Op) context.Context {
	opts := internalSpan
	name := opSpanNames[op.Kind]
	switch op.Kind {
	case lock.OpStore:
		if ctx.Value(opSpan{}) == nil {
			return ctx
		}
		name, opts = storeSpanNames[op.Store], clientSpan
		if name == "" {
			name = "leaselock.store." + string(op.Store)
		}
	case lock.OpHeartbeat:
		if !o.heartbeatSpans {
			return ctx
		}
		opts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithNewRoot()}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	if name == "" {
		name = "leaselock." + string(op.Kind)
	}
	ctx, span := o.tracer.Start(ctx, name, opts...)
	if !span.IsRecording() {
		return ctx
	}
	span.SetAttributes(o.lockAttrs(op.Key, op.SortKey, op.Owner, op.Token)...)
	if op.Kind == lock.OpStore {
		span.SetAttributes(KeyStoreOp.String(string(op.Store)))
		return ctx
	}
	return context.WithValue(ctx, opSpan{}, true)
}

// hasSpan reports whether Start made a span for op under ctx.
func (o *Observer) hasSpan(ctx context.Context, op lock.Op) bool {
	switch op.Kind {
	case lock.OpStore:
		return ctx.Value(opSpan{}) != nil // inherited from the operation above
	case lock.OpHeartbeat:
		return o.heartbeatSpans
	}
	return true
}

func (o *Observer) endSpan(ctx context.Context, op lock.Op, r lock.Result) {
	if !o.hasSpan(ctx, op) {
		if op.Kind == lock.OpHeartbeat && r.Outcome == lock.OutcomeError {
			o.heartbeatFailed(trace.SpanFromContext(ctx), op, r)
		}
		return
	}
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(KeyOutcome.String(string(r.Outcome)))
		if r.Token != 0 {
			span.SetAttributes(KeyToken.Int64(int64(r.Token)))
		}
		if op.Kind == lock.OpAcquire {
			span.SetAttributes(KeyWait.Float64(r.Wait.Seconds()))
		}
		if failed(op, r) {
			errType := errorType(r.Err)
			if op.Kind == lock.OpStore {
				errType = string(r.Outcome)
			}
			span.SetAttributes(KeyErrorType.String(errType))
			span.SetStatus(codes.Error, o.describe(r))
		}
		if op.Kind == lock.OpHeartbeat && r.Outcome == lock.OutcomeError {
			o.heartbeatFailed(span, op, r)
		}
	}
	span.End()
}

// failed says whether an operation's outcome is a failure of the call: a
// key held by another owner is not, nor is a store's refusal of a
// conditional write (the engine's compare-and-swap at work).
func failed(op lock.Op, r lock.Result) bool {
	switch r.Outcome {
	case lock.OutcomeError, lock.OutcomeTimeout, lock.OutcomeLost:
		return true
	}
	if op.Kind == lock.OpStore {
		switch r.Outcome {
		case lock.OutcomeOK, lock.OutcomeConflict, lock.OutcomeNotFound:
			return false
		}
		return true
	}
	return false
}

// describe is a span status description: the error, whose message names
// the key, only where keys may go.
func (o *Observer) describe(r lock.Result) string {
	if o.keys && r.Err != nil {
		return r.Err.Error()
	}
	return string(r.Outcome)
}

func (o *Observer) heartbeatFailed(span trace.Span, op lock.Op, r lock.Result) {
	if !span.IsRecording() {
		return
	}
	attrs := append(o.lockAttrs(op.Key, op.SortKey, "", op.Token), KeyErrorType.String(errorType(r.Err)))
	if o.keys && r.Err != nil {
		attrs = append(attrs, attribute.String("exception.message", r.Err.Error()))
	}
	span.AddEvent(EventHeartbeatFailed, trace.WithAttributes(attrs...))
}

// spanEvent adds an event to the span of its context.
func (o *Observer) spanEvent(ctx context.Context, e lock.Event) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	switch e.Kind {
	case lock.EventWaiting:
		span.AddEvent(EventWaiting, trace.WithAttributes(KeyHolder.String(e.Holder)))
	case lock.EventDanger:
		span.AddEvent(EventDanger, trace.WithAttributes(o.lockAttrs(e.Key, e.SortKey, "", e.Token)...))
	case lock.EventEnded:
		if e.Reason == 0 {
			return
		}
		attrs := append(o.lockAttrs(e.Key, e.SortKey, "", e.Token),
			KeyLossReason.String(lossReason(e.Reason)), KeyLossCause.String(string(e.CauseKind)))
		if e.Holder != "" {
			attrs = append(attrs, KeyHolder.String(e.Holder))
		}
		if o.keys && e.Err != nil {
			attrs = append(attrs, attribute.String("exception.message", e.Err.Error()))
		}
		span.AddEvent(EventLost, trace.WithAttributes(attrs...))
	case lock.EventResolved:
		span.AddEvent(EventResolved, trace.WithAttributes(KeyOutcome.String(string(e.Outcome))))
	}
}

// lockAttrs are the attributes that identify a lock: key (unless
// WithoutKeys), sort key, owner (when given) and token (when known).
func (o *Observer) lockAttrs(key, sortKey, owner string, token uint64) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 4)
	if o.keys {
		attrs = append(attrs, KeyKey.String(key))
		if sortKey != "" {
			attrs = append(attrs, KeySortKey.String(sortKey))
		}
	}
	if owner != "" {
		attrs = append(attrs, KeyOwner.String(owner))
	}
	if token != 0 {
		attrs = append(attrs, KeyToken.Int64(int64(token)))
	}
	return attrs
}
