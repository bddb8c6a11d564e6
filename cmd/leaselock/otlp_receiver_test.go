package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a collector's receiving end, decoding with the protocol's
// own definitions what leaselock's real exporters send over real HTTP or
// gRPC, and keeping it for the tests to look at.
type otlpReceiver struct {
	endpoint string // for OTEL_EXPORTER_OTLP_ENDPOINT

	mu       sync.Mutex
	requests int
	spans    []receivedSpan
	metrics  map[string]bool // names of the metrics received
	services map[string]bool // service.name of every resource received
}

// receivedSpan is one span with what the tests check of it.
type receivedSpan struct {
	name, traceID, spanID, parentID string
	attrs                           map[string]*commonpb.AnyValue
}

// newOTLPReceiver listens on a free loopback port with protocol
// "http/protobuf" or "grpc" until the test ends.
func newOTLPReceiver(t *testing.T, protocol string) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{metrics: map[string]bool{}, services: map[string]bool{}}
	if protocol == protocolGRPC {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(s, grpcTraces{r: r})
		colmetricpb.RegisterMetricsServiceServer(s, grpcMetrics{r: r})
		go func() { _ = s.Serve(l) }()
		t.Cleanup(s.Stop)
		r.endpoint = "http://" + l.Addr().String()
		return r
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) {
		var in coltracepb.ExportTraceServiceRequest
		if !decodeOTLP(t, w, req, &in) {
			return
		}
		r.addTraces(&in)
		writeOTLP(w, &coltracepb.ExportTraceServiceResponse{})
	})
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		var in colmetricpb.ExportMetricsServiceRequest
		if !decodeOTLP(t, w, req, &in) {
			return
		}
		r.addMetrics(&in)
		writeOTLP(w, &colmetricpb.ExportMetricsServiceResponse{})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r.endpoint = srv.URL
	return r
}

func decodeOTLP(t *testing.T, w http.ResponseWriter, req *http.Request, m proto.Message) bool {
	body := io.Reader(req.Body)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err == nil {
		err = proto.Unmarshal(b, m)
	}
	if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("bad OTLP request (content type %q): %v", req.Header.Get("Content-Type"), err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return false
	}
	return true
}

func writeOTLP(w http.ResponseWriter, m proto.Message) {
	b, _ := proto.Marshal(m)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

type grpcTraces struct {
	coltracepb.UnimplementedTraceServiceServer
	r *otlpReceiver
}

func (g grpcTraces) Export(_ context.Context, in *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.r.addTraces(in)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type grpcMetrics struct {
	colmetricpb.UnimplementedMetricsServiceServer
	r *otlpReceiver
}

func (g grpcMetrics) Export(_ context.Context, in *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	g.r.addMetrics(in)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (r *otlpReceiver) addTraces(in *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	for _, rs := range in.GetResourceSpans() {
		r.addResource(rs.GetResource())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, received(s))
			}
		}
	}
}

func (r *otlpReceiver) addMetrics(in *colmetricpb.ExportMetricsServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	for _, rm := range in.GetResourceMetrics() {
		r.addResource(rm.GetResource())
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				r.metrics[m.GetName()] = true
			}
		}
	}
}

func (r *otlpReceiver) addResource(res *resourcepb.Resource) {
	for _, kv := range res.GetAttributes() {
		if kv.GetKey() == "service.name" {
			r.services[kv.GetValue().GetStringValue()] = true
		}
	}
}

func received(s *tracepb.Span) receivedSpan {
	rs := receivedSpan{name: s.GetName(), traceID: hex.EncodeToString(s.GetTraceId()),
		spanID: hex.EncodeToString(s.GetSpanId()), parentID: hex.EncodeToString(s.GetParentSpanId()),
		attrs: map[string]*commonpb.AnyValue{}}
	for _, kv := range s.GetAttributes() {
		rs.attrs[kv.GetKey()] = kv.GetValue()
	}
	return rs
}

// snapshot returns what was received so far.
func (r *otlpReceiver) snapshot() (requests int, spans []receivedSpan, metrics, services map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	metrics, services = map[string]bool{}, map[string]bool{}
	for k := range r.metrics {
		metrics[k] = true
	}
	for k := range r.services {
		services[k] = true
	}
	return r.requests, append([]receivedSpan(nil), r.spans...), metrics, services
}

// span returns the first span named name, failing the test if none came.
func spanNamed(t *testing.T, spans []receivedSpan, name string) receivedSpan {
	t.Helper()
	for _, s := range spans {
		if s.name == name {
			return s
		}
	}
	names := make([]string, 0, len(spans))
	for _, s := range spans {
		names = append(names, s.name)
	}
	t.Fatalf("no span %q among %v", name, names)
	return receivedSpan{}
}
