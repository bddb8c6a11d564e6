package otelock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
	"github.com/leaselock/leaselock/otelock"
)

// Example wires the observer to the OpenTelemetry SDK with the stdout
// exporters, takes and releases one lock, and prints what the exporters
// wrote. They write JSON with IDs, times and durations that change from
// run to run, so this example reads it back and prints the names,
// attributes and counts; give the exporters os.Stdout to see all of it.
func Example() {
	ctx := context.Background()
	var traces, metrics bytes.Buffer
	spans, err := stdouttrace.New(stdouttrace.WithWriter(&traces))
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	points, err := stdoutmetric.New(stdoutmetric.WithWriter(&metrics))
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(points)))

	obs, err := otelock.New(otelock.WithTracerProvider(tp), otelock.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	client, err := lock.New(memstore.New(), lock.WithOwner("worker-1"), lock.WithObserver(obs))
	if err != nil {
		log.Fatal(err)
	}
	l, err := client.Acquire(ctx, "nightly-report")
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		log.Fatal(err)
	}
	if err := client.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Shutting the providers down flushes the exporters.
	if err := tp.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	if err := mp.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}

	printSpans(&traces)
	printMetrics(&metrics)
	// Output:
	// span leaselock.store.Acquire (in leaselock.Acquire) leaselock.key=nightly-report leaselock.outcome=ok leaselock.owner=worker-1 leaselock.store.operation=acquire
	// span leaselock.Acquire leaselock.acquire.wait=0 leaselock.key=nightly-report leaselock.outcome=acquired leaselock.owner=worker-1 leaselock.token=1
	// span leaselock.store.Update (in leaselock.Release) leaselock.key=nightly-report leaselock.outcome=ok leaselock.owner=worker-1 leaselock.store.operation=update leaselock.token=1
	// span leaselock.Release leaselock.key=nightly-report leaselock.outcome=released leaselock.owner=worker-1 leaselock.token=1
	// metric leaselock.acquire.duration (s) {leaselock.operation=acquire leaselock.outcome=acquired}: 1 recorded
	// metric leaselock.acquire.wait.duration (s) {leaselock.operation=acquire leaselock.outcome=acquired}: 1 recorded
	// metric leaselock.locks.held ({lock}) {}: 0
	// metric leaselock.releases ({release}) {leaselock.operation=release leaselock.outcome=released}: 1
	// metric leaselock.store.calls ({call}) {leaselock.store.operation=acquire}: 1
	// metric leaselock.store.calls ({call}) {leaselock.store.operation=update}: 1
	// metric leaselock.store.duration (s) {leaselock.store.operation=acquire}: 1 recorded
	// metric leaselock.store.duration (s) {leaselock.store.operation=update}: 1 recorded
}

// The parts of the exporters' JSON that the example prints.
type (
	jsonAttr struct {
		Key   string
		Value struct{ Value any }
	}
	jsonSpan struct {
		Name        string
		SpanContext struct{ SpanID string }
		Parent      struct{ SpanID string }
		Attributes  []jsonAttr
	}
	jsonMetrics struct {
		ScopeMetrics []struct {
			Metrics []struct {
				Name, Unit string
				Data       struct {
					DataPoints []struct {
						Attributes []jsonAttr
						Value      *float64 // sums
						Count      *uint64  // histograms
					}
				}
			}
		}
	}
)

func attrText(attrs []jsonAttr) string {
	var parts []string
	for _, a := range attrs {
		parts = append(parts, fmt.Sprintf("%s=%v", a.Key, a.Value.Value))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// printSpans prints the spans stdouttrace wrote, in the order they ended.
func printSpans(r io.Reader) {
	names := map[string]string{} // span ID -> name
	var spans []jsonSpan
	for dec := json.NewDecoder(r); ; {
		var s jsonSpan
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else if err != nil {
			log.Fatal(err)
		}
		names[s.SpanContext.SpanID] = s.Name
		spans = append(spans, s)
	}
	for _, s := range spans {
		in := ""
		if p, ok := names[s.Parent.SpanID]; ok {
			in = " (in " + p + ")"
		}
		fmt.Printf("span %s%s %s\n", s.Name, in, attrText(s.Attributes))
	}
}

// printMetrics prints the last collection stdoutmetric wrote (the one at
// shutdown), sorted.
func printMetrics(r io.Reader) {
	var last jsonMetrics
	for dec := json.NewDecoder(r); ; {
		var m jsonMetrics
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			log.Fatal(err)
		}
		last = m
	}
	var lines []string
	for _, sm := range last.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, p := range m.Data.DataPoints {
				value := ""
				switch {
				case p.Count != nil:
					value = fmt.Sprintf("%d recorded", *p.Count)
				case p.Value != nil:
					value = fmt.Sprint(*p.Value)
				}
				lines = append(lines, fmt.Sprintf("metric %s (%s) {%s}: %s", m.Name, m.Unit, attrText(p.Attributes), value))
			}
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
}
