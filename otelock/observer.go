package otelock

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/leaselock/leaselock/lock"
)

// ScopeName is the instrumentation scope of this package's meter and
// tracer.
const ScopeName = "github.com/leaselock/leaselock/otelock"

// Observer is a lock.Observer that records metrics and spans. Create it
// with New; it is safe for concurrent use by any number of clients.
type Observer struct {
	tracer         trace.Tracer
	keys           bool // put lock keys on spans
	heartbeatSpans bool
	inst           instruments
	attrs          attrCache
}

var _ lock.Observer = (*Observer)(nil)

// Option configures New.
type Option func(*settings)

type settings struct {
	mp             metric.MeterProvider
	tp             trace.TracerProvider
	noKeys         bool
	heartbeatSpans bool
}

// WithMeterProvider sets the meter provider; default: the global one
// (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(s *settings) { s.mp = mp } }

// WithTracerProvider sets the tracer provider; default: the global one
// (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(s *settings) { s.tp = tp } }

// WithoutKeys leaves lock keys out of spans and span events, and error
// messages (which name the key) out of span statuses, for keys that must
// not reach a tracing backend. Owner names and fencing tokens stay.
// Metrics never carry keys either way.
func WithoutKeys() Option { return func(s *settings) { s.noKeys = true } }

// WithHeartbeatSpans makes a span of every heartbeat, with its store call
// beneath. Off by default: a client that holds many locks renews each one
// every heartbeat period, and the heartbeat metrics tell the same story at
// a fraction of the cost; failing heartbeats are span events on the
// lock's span either way. Each heartbeat span starts a trace of its own,
// linked to the span the lock was acquired under, so that a long hold
// does not grow one trace without end.
func WithHeartbeatSpans() Option { return func(s *settings) { s.heartbeatSpans = true } }

// New returns an Observer over the given (or the global) providers. It
// fails only if an instrument cannot be created.
func New(opts ...Option) (*Observer, error) {
	var s settings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if s.mp == nil {
		s.mp = otel.GetMeterProvider()
	}
	if s.tp == nil {
		s.tp = otel.GetTracerProvider()
	}
	o := &Observer{
		tracer:         s.tp.Tracer(ScopeName),
		keys:           !s.noKeys,
		heartbeatSpans: s.heartbeatSpans,
	}
	if err := o.inst.create(s.mp.Meter(ScopeName)); err != nil {
		return nil, err
	}
	return o, nil
}

// Start implements lock.Observer: it starts the operation's span.
func (o *Observer) Start(ctx context.Context, op lock.Op) context.Context {
	return o.startSpan(ctx, op)
}

// End implements lock.Observer: it records the operation's metrics and
// ends its span.
func (o *Observer) End(ctx context.Context, op lock.Op, r lock.Result) {
	o.record(ctx, op, r)
	o.endSpan(ctx, op, r)
}

// Event implements lock.Observer: it records the event's metrics and adds
// it to the span of its context.
func (o *Observer) Event(ctx context.Context, e lock.Event) {
	o.recordEvent(ctx, e)
	o.spanEvent(ctx, e)
}
