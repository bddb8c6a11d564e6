package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/otelock"
)

// TestTelemetryFromEnv: which signals the standard variables switch on,
// and the settings refused at the edge rather than silently ignored.
func TestTelemetryFromEnv(t *testing.T) {
	const c = "http://collector:4318"
	for _, tc := range []struct {
		name            string
		env             map[string]string
		traces, metrics string // the protocol each is exported with; "" off
		err             string
	}{
		{name: "nothing set: nothing exported"},
		{name: "endpoint: both, over http/protobuf", env: map[string]string{envEndpoint: c},
			traces: protocolHTTP, metrics: protocolHTTP},
		{name: "traces endpoint only", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c + "/v1/traces"},
			traces: protocolHTTP},
		{name: "metrics endpoint only", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": c + "/v1/metrics"},
			metrics: protocolHTTP},
		{name: "grpc", env: map[string]string{envEndpoint: "http://collector:4317", envProtocol: "grpc"},
			traces: protocolGRPC, metrics: protocolGRPC},
		{name: "a signal's own protocol wins", env: map[string]string{envEndpoint: c, envProtocol: "grpc",
			"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": protocolHTTP}, traces: protocolGRPC, metrics: protocolHTTP},
		{name: "SDK disabled", env: map[string]string{envEndpoint: c, envSDKDisabled: "true"}},
		{name: "traces exporter none", env: map[string]string{envEndpoint: c, "OTEL_TRACES_EXPORTER": "none"},
			metrics: protocolHTTP},
		{name: "metrics exporter none", env: map[string]string{envEndpoint: c, "OTEL_METRICS_EXPORTER": "none"},
			traces: protocolHTTP},
		{name: "http/json refused", env: map[string]string{envEndpoint: c, envProtocol: "http/json"},
			err: "OTEL_EXPORTER_OTLP_PROTOCOL=http/json is not a protocol leaselock speaks"},
		{name: "endpoint without scheme refused", env: map[string]string{envEndpoint: "collector:4318"},
			err: "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318 is not an http:// or https:// URL"},
		{name: "per-signal endpoint checked too", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "::"},
			err: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=:: is not an http:// or https:// URL"},
		{name: "other exporters refused", env: map[string]string{envEndpoint: c, "OTEL_METRICS_EXPORTER": "prometheus"},
			err: "OTEL_METRICS_EXPORTER=prometheus is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := telemetryFromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitConfig || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want exit %d with %q, got %v", exitConfig, tc.err, err)
				}
				return
			}
			if err != nil || cfg.traces.protocol != tc.traces || cfg.metrics.protocol != tc.metrics {
				t.Fatalf("traces %q metrics %q (%v), want traces %q metrics %q",
					cfg.traces.protocol, cfg.metrics.protocol, err, tc.traces, tc.metrics)
			}
		})
	}
}

// TestOTLPExport runs "leaselock run" as an operator would with the
// standard variables pointing at a collector, over both protocols: the
// command's span continues the caller's TRACEPARENT, the engine's spans
// are its children, the command sees its span as TRACEPARENT, and the
// engine's metrics arrive under the configured service name.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	const (
		callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan  = "00f067aa0ba902b7"
	)
	for _, protocol := range []string{protocolHTTP, protocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			rcv := newOTLPReceiver(t, protocol)
			key := "otlp-" + strings.ReplaceAll(protocol, "/", "-")
			r := runProcess(t, []string{envEndpoint + "=" + rcv.endpoint, envProtocol + "=" + protocol,
				"OTEL_SERVICE_NAME=nightly-report", "TRACEPARENT=00-" + callerTrace + "-" + callerSpan + "-01"},
				append([]string{"run", "--store", te.url, key, "--"}, childCommand("env")...)...)
			requireCode(t, r, exitOK)
			if strings.Contains(r.stderr, "telemetry") {
				t.Fatalf("export reported trouble:\n%s", r.stderr)
			}
			_, spans, metrics, services := rcv.snapshot()

			root := spanNamed(t, spans, "leaselock run")
			if root.traceID != callerTrace || root.parentID != callerSpan {
				t.Errorf("leaselock run: trace %s parent %s, want the caller's %s %s", root.traceID, root.parentID, callerTrace, callerSpan)
			}
			if code := root.attrs["process.exit.code"]; code == nil || code.GetIntValue() != 0 {
				t.Errorf("leaselock run: process.exit.code %v", code)
			}
			requireContains(t, r.stdout, "TRACEPARENT=00-"+callerTrace+"-"+root.spanID+"-01\n")
			for _, name := range []string{"leaselock.Acquire", "leaselock.Release"} {
				s := spanNamed(t, spans, name)
				if s.traceID != callerTrace || s.parentID != root.spanID {
					t.Errorf("%s: trace %s parent %s, want a child of leaselock run (%s)", name, s.traceID, s.parentID, root.spanID)
				}
				if k := s.attrs["leaselock.key"]; k.GetStringValue() != key {
					t.Errorf("%s: leaselock.key %v, want %s", name, k, key)
				}
			}
			acq := spanNamed(t, spans, "leaselock.Acquire")
			if st := spanNamed(t, spans, "leaselock.store.Acquire"); st.parentID != acq.spanID {
				t.Errorf("store call's parent %s, want the Acquire span %s", st.parentID, acq.spanID)
			}
			for _, m := range []string{otelock.MetricAcquireDuration, otelock.MetricReleases, otelock.MetricStoreCalls,
				otelock.MetricStoreDuration} {
				if !metrics[m] {
					t.Errorf("metric %s not received (got %v)", m, metrics)
				}
			}
			if !services["nightly-report"] || len(services) != 1 {
				t.Errorf("service names %v, want only OTEL_SERVICE_NAME's", services)
			}
		})
	}
}

// TestOTLPExportOff: with the collector named but export switched off, or
// one signal off, nothing (or only the other signal) reaches it.
func TestOTLPExportOff(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	for _, tc := range []struct {
		name            string
		env             string
		traces, metrics bool
	}{
		{"SDK disabled", envSDKDisabled + "=true", false, false},
		{"traces off", "OTEL_TRACES_EXPORTER=none", false, true},
		{"metrics off", "OTEL_METRICS_EXPORTER=none", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rcv := newOTLPReceiver(t, protocolHTTP)
			key := "off-" + strings.ReplaceAll(tc.name, " ", "-")
			r := runProcess(t, []string{envEndpoint + "=" + rcv.endpoint, tc.env},
				append([]string{"run", "--store", te.url, key, "--"}, childCommand("env")...)...)
			requireCode(t, r, exitOK)
			_, spans, metrics, _ := rcv.snapshot()
			if got := len(spans) > 0; got != tc.traces {
				t.Errorf("spans received: %v, want %v (%d spans)", got, tc.traces, len(spans))
			}
			if got := len(metrics) > 0; got != tc.metrics {
				t.Errorf("metrics received: %v, want %v (%v)", got, tc.metrics, metrics)
			}
			if !tc.traces && strings.Contains(r.stdout, "TRACEPARENT=00-") {
				t.Errorf("traces off, yet the command got a TRACEPARENT:\n%s", r.stdout)
			}
		})
	}
}

// TestOTLPCollectorDown: a collector that is not there costs one line on
// stderr and never the command's exit code.
func TestOTLPCollectorDown(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	r := runProcess(t, []string{envEndpoint + "=http://" + closedPort(t)},
		append([]string{"run", "--store", te.url, "otlp-down", "--"}, childCommand("exit", "3")...)...)
	requireCode(t, r, 3)
	requireContains(t, r.stderr, "leaselock: telemetry: export to http://127.0.0.1:", "failed (further failures are not shown)")
	if n := strings.Count(r.stderr, "leaselock: telemetry:"); n != 1 {
		t.Errorf("%d telemetry lines, want 1:\n%s", n, r.stderr)
	}
}

// TestOTLPBadSettings: a setting the exporters would ignore is refused
// with exit 78 before anything is written.
func TestOTLPBadSettings(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	r := runProcess(t, []string{envEndpoint + "=http://127.0.0.1:4318", envProtocol + "=http/json"},
		append([]string{"run", "--store", te.url, "otlp-bad", "--"}, childCommand("env")...)...)
	requireCode(t, r, exitConfig)
	requireContains(t, r.stderr, "leaselock run: OTEL_EXPORTER_OTLP_PROTOCOL=http/json is not a protocol leaselock speaks",
		"Use http/protobuf (the default) or grpc.")
	if strings.Contains(r.stdout, "LEASELOCK_TOKEN") {
		t.Fatalf("the command ran:\n%s", r.stdout)
	}
	requireContains(t, mustCLI(t, "get", "--store", te.url, "otlp-bad").stdout, "no record")
}
