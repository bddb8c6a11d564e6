package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/otelock"
)

// The CLI exports traces and metrics over OTLP when, and only when, the
// standard OpenTelemetry variables name a collector: an operator who sets
// none pays nothing and sends nothing anywhere. The exporters read the rest
// of the OTEL_EXPORTER_OTLP_* variables (headers, TLS, compression,
// timeouts) themselves; what they would silently ignore or fall back on
// (a malformed endpoint, an unknown protocol) is refused here, with exit 78.
const (
	envSDKDisabled     = "OTEL_SDK_DISABLED"
	envEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envProtocol        = "OTEL_EXPORTER_OTLP_PROTOCOL"
	protocolHTTP       = "http/protobuf" // the specification's default
	protocolGRPC       = "grpc"
	telemetryScope     = "github.com/leaselock/leaselock/cmd/leaselock"
	telemetryFlushTime = 5 * time.Second // bounds the export at exit when the collector is slow or gone
)

// otelSignal is one of the two exported signals and its variables.
type otelSignal struct {
	name     string // traces, metrics
	exporter string // OTEL_TRACES_EXPORTER
	endpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	protocol string // OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
}

var (
	tracesSignal  = otelSignal{"traces", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"}
	metricsSignal = otelSignal{"metrics", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"}
)

// export says whether and how one signal is exported; protocol "" is off.
type export struct {
	protocol string
	endpoint string // for messages: the variable's value that names the collector
}

// telemetryConfig is what the environment asks for.
type telemetryConfig struct{ traces, metrics export }

func (c telemetryConfig) on() bool { return c.traces.protocol != "" || c.metrics.protocol != "" }

// telemetryFromEnv reads the standard variables. A signal is exported when
// OTEL_EXPORTER_OTLP_ENDPOINT or its own endpoint variable is set, unless
// OTEL_SDK_DISABLED=true or its OTEL_*_EXPORTER is "none".
func telemetryFromEnv(getenv func(string) string) (telemetryConfig, error) {
	var c telemetryConfig
	if strings.EqualFold(strings.TrimSpace(getenv(envSDKDisabled)), "true") {
		return c, nil
	}
	var err error
	if c.traces, err = signalFromEnv(getenv, tracesSignal); err != nil {
		return c, err
	}
	c.metrics, err = signalFromEnv(getenv, metricsSignal)
	return c, err
}

func signalFromEnv(getenv func(string) string, s otelSignal) (export, error) {
	bad := func(name, value, why, hint string) (export, error) {
		return export{}, fail(exitConfig, fmt.Errorf("%s=%s %s", name, shown(value, msgWidth), why), hint)
	}
	switch v := strings.TrimSpace(getenv(s.exporter)); v {
	case "", "otlp":
	case "none":
		return export{}, nil
	default:
		return bad(s.exporter, v, "is not supported", "leaselock exports "+s.name+" over OTLP only: set it to otlp or none.")
	}
	endpoint := ""
	for _, name := range []string{envEndpoint, s.endpoint} {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(name, v, "is not an http:// or https:// URL", "Name the collector like http://localhost:4318 (or :4317 for grpc).")
		}
		endpoint = v // the signal's own variable, read last, wins
	}
	if endpoint == "" {
		return export{}, nil
	}
	protocol := protocolHTTP
	for _, name := range []string{envProtocol, s.protocol} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			protocol = v
		}
	}
	if protocol != protocolHTTP && protocol != protocolGRPC {
		return bad(envProtocol, protocol, "is not a protocol leaselock speaks", "Use http/protobuf (the default) or grpc.")
	}
	return export{protocol: protocol, endpoint: endpoint}, nil
}

// telemetry is a command's OpenTelemetry pipeline. A nil *telemetry is
// off: every method is then a no-op.
type telemetry struct {
	cfg    telemetryConfig
	tp     *sdktrace.TracerProvider // nil when traces are off
	mp     *sdkmetric.MeterProvider // nil when metrics are off
	tracer trace.Tracer
	obs    *otelock.Observer

	mu       sync.Mutex
	stderr   io.Writer
	failures int // export failures seen; the first is printed at once
}

// startTelemetry builds the pipeline the environment asks for, or returns
// nil when it asks for none. Nothing is sent until there is something to
// send.
func startTelemetry(ctx context.Context, e *env) (*telemetry, error) {
	cfg, err := telemetryFromEnv(e.getenv)
	if err != nil || !cfg.on() {
		return nil, err
	}
	// The environment's resource attributes (OTEL_SERVICE_NAME,
	// OTEL_RESOURCE_ATTRIBUTES) override the defaults, read after them.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("leaselock"), semconv.ServiceVersion(versionName())),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID(), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fail(exitConfig, fmt.Errorf("OpenTelemetry resource: %w", err), "Check OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.")
	}
	t := &telemetry{cfg: cfg, stderr: e.stderr}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(t.exportFailed))
	var tp trace.TracerProvider = noop.NewTracerProvider()
	if cfg.traces.protocol != "" {
		exp, err := traceExporter(ctx, cfg.traces.protocol)
		if err != nil {
			return nil, fail(exitConfig, fmt.Errorf("OTLP trace exporter: %w", err), "Check the OTEL_EXPORTER_OTLP_* variables.")
		}
		t.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		tp = t.tp
	}
	var mopts []otelock.Option
	if cfg.metrics.protocol != "" {
		exp, err := metricExporter(ctx, cfg.metrics.protocol)
		if err != nil {
			_ = t.shutdown(ctx)
			return nil, fail(exitConfig, fmt.Errorf("OTLP metric exporter: %w", err), "Check the OTEL_EXPORTER_OTLP_* variables.")
		}
		t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
		mopts = append(mopts, otelock.WithMeterProvider(t.mp))
	} else {
		mopts = append(mopts, otelock.WithMeterProvider(metricnoop.NewMeterProvider()))
	}
	t.tracer = tp.Tracer(telemetryScope)
	if t.obs, err = otelock.New(append(mopts, otelock.WithTracerProvider(tp))...); err != nil {
		_ = t.shutdown(ctx)
		return nil, fail(exitSoftware, fmt.Errorf("OpenTelemetry instruments: %w", err), "")
	}
	return t, nil
}

func traceExporter(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
	if protocol == protocolGRPC {
		return otlptracegrpc.New(ctx)
	}
	return otlptracehttp.New(ctx)
}

func metricExporter(ctx context.Context, protocol string) (sdkmetric.Exporter, error) {
	if protocol == protocolGRPC {
		return otlpmetricgrpc.New(ctx)
	}
	return otlpmetrichttp.New(ctx)
}

// lockOptions wires the engine's observer into a lock client.
func (t *telemetry) lockOptions() []lock.Option {
	if t == nil {
		return nil
	}
	return []lock.Option{lock.WithObserver(t.obs)}
}

// startCommand starts the command's span, a child of the caller's trace
// when TRACEPARENT names one (the environment-variable carrier of the W3C
// trace context), so that a leaselock run inside a traced job joins it.
func (t *telemetry) startCommand(ctx context.Context, e *env, cmd string) (context.Context, trace.Span) {
	if t == nil || t.tp == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = propagation.TraceContext{}.Extract(ctx, envCarrier{getenv: e.getenv})
	return t.tracer.Start(ctx, "leaselock "+cmd, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("leaselock.command", cmd)))
}

// endCommand ends the command's span with its exit code; failed is true
// when leaselock itself failed (not when a run's command did).
func endCommand(span trace.Span, code int, failed bool, err error) {
	span.SetAttributes(semconv.ProcessExitCode(code))
	if failed {
		span.SetStatus(codes.Error, clipMessage(err.Error()))
	}
	span.End()
}

// childTraceEnv replaces TRACEPARENT and TRACESTATE in env with the
// current span's, so that a traced command's spans are children of
// leaselock's. With traces off, env passes through untouched.
func (t *telemetry) childTraceEnv(ctx context.Context, env []string) []string {
	if t == nil || t.tp == nil {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TRACEPARENT=") && !strings.HasPrefix(kv, "TRACESTATE=") {
			out = append(out, kv)
		}
	}
	c := envCarrier{set: map[string]string{}}
	propagation.TraceContext{}.Inject(ctx, c)
	for k, v := range c.set {
		out = append(out, k+"="+v)
	}
	return out
}

// shutdown exports what is left, within telemetryFlushTime, and says once
// on stderr if the collector did not take everything.
func (t *telemetry) shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryFlushTime)
	defer cancel()
	var errs []error
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	err := errors.Join(errs...)
	if err != nil {
		t.exportFailed(err)
	}
	return err
}

// exportFailed reports the first export failure on stderr, and no more:
// a command that holds a lock for hours must not fill its log with them.
func (t *telemetry) exportFailed(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures++
	if t.failures == 1 {
		fmt.Fprintf(t.stderr, "leaselock: telemetry: export to %s failed (further failures are not shown): %s\n",
			t.collector(), clipMessage(err.Error()))
	}
}

// collector names where the export goes, for messages.
func (t *telemetry) collector() string {
	if e := t.cfg.traces.endpoint; e != "" {
		return shown(e, msgWidth)
	}
	return shown(t.cfg.metrics.endpoint, msgWidth)
}

// envCarrier carries the W3C trace context in environment variables: the
// header names upper-cased (traceparent is TRACEPARENT).
type envCarrier struct {
	getenv func(string) string
	set    map[string]string
}

func (c envCarrier) Get(key string) string {
	if c.getenv == nil {
		return c.set[strings.ToUpper(key)]
	}
	return c.getenv(strings.ToUpper(key))
}

func (c envCarrier) Set(key, value string) { c.set[strings.ToUpper(key)] = value }

func (c envCarrier) Keys() []string {
	keys := make([]string, 0, len(c.set))
	for k := range c.set {
		keys = append(keys, k)
	}
	return keys
}
