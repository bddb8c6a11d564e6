package otelock_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/otelock"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// telemetry is an observer over the SDK's in-memory metric reader and
// span recorder: what an exporter would receive.
type telemetry struct {
	obs    *otelock.Observer
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tracer trace.Tracer // for the application's own spans
}

func newTelemetry(t *testing.T, opts ...otelock.Option) *telemetry {
	t.Helper()
	tm := &telemetry{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tm.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tm.spans))
	tm.tracer = tp.Tracer("app")
	var err error
	tm.obs, err = otelock.New(append(opts, otelock.WithMeterProvider(mp), otelock.WithTracerProvider(tp))...)
	require.NoError(t, err)
	return tm
}

// metrics collects every metric by name.
func (tm *telemetry) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tm.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, otelock.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sum is the value of a counter's or up-down counter's point with exactly
// attrs (0 when there is none).
func (tm *telemetry) sum(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := tm.metrics(t)[name]
	if !ok {
		return 0
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	want := attribute.NewSet(attrs...)
	for _, p := range s.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Value
		}
	}
	return 0
}

// hist is a histogram's point with exactly attrs (zero when there is none).
func (tm *telemetry) hist(t *testing.T, name string, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	m, ok := tm.metrics(t)[name]
	if !ok {
		return metricdata.HistogramDataPoint[float64]{}
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	want := attribute.NewSet(attrs...)
	for _, p := range h.DataPoints {
		if p.Attributes.Equals(&want) {
			return p
		}
	}
	return metricdata.HistogramDataPoint[float64]{}
}

// ended returns the ended spans named name.
func (tm *telemetry) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tm.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only ended span named name.
func (tm *telemetry) one(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := tm.ended(name)
	require.Len(t, got, 1, "spans named %s", name)
	return got[0]
}

// children returns the ended spans whose parent is parent.
func (tm *telemetry) children(parent sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range tm.spans.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s.Name())
		}
	}
	return out
}

// attrs is a span's or event's attributes as a map of strings.
func attrs(kvs []attribute.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

// events returns the names of a span's events.
func events(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range s.Events() {
		out = append(out, e.Name)
	}
	return out
}

// event returns a span's only event named name.
func event(t *testing.T, s sdktrace.ReadOnlySpan, name string) sdktrace.Event {
	t.Helper()
	var out []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	require.Len(t, out, 1, "events named %s on %s: %v", name, s.Name(), events(s))
	return out[0]
}

// steal overwrites key's record as another owner would, so the holder's
// next heartbeat finds it gone.
func steal(t *testing.T, ctx context.Context, s backend.Store, key string) {
	t.Helper()
	cur, err := s.Get(ctx, backend.Key{Partition: key})
	require.NoError(t, err)
	next := cur
	next.Owner, next.Version = "mallory", "mallory-1"
	_, err = s.Update(ctx, next, cur.Version)
	require.NoError(t, err)
}

func newClient(t *testing.T, s backend.Store, owner string, opts ...lock.Option) *lock.Client {
	t.Helper()
	c, err := lock.New(s, append([]lock.Option{lock.WithOwner(owner)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

var (
	opAcquire = otelock.KeyOperation.String("acquire")
	opTry     = otelock.KeyOperation.String("try_acquire")
	opRelease = otelock.KeyOperation.String("release")
)

func outcome(o lock.Outcome) attribute.KeyValue { return otelock.KeyOutcome.String(string(o)) }
func storeOp(o lock.StoreOp) attribute.KeyValue { return otelock.KeyStoreOp.String(string(o)) }
func errType(s string) attribute.KeyValue       { return otelock.KeyErrorType.String(s) }
