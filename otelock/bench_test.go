package otelock_test

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
	"github.com/leaselock/leaselock/otelock"
)

// benchAcquireRelease is lock's BenchmarkAcquireRelease (the same store,
// the same cycle) with the given options, to tell the observer's cost.
func benchAcquireRelease(b *testing.B, opts ...lock.Option) {
	ctx := context.Background()
	c, err := lock.New(faultstore.New(memstore.New(), nil), append(opts, lock.WithOwner("bench"))...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		l, err := c.Acquire(ctx, "k")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcquireRelease compares no observer, the observer on no-op
// providers (what a program pays that installs it but exports nothing),
// and the observer on the SDK with an in-memory reader and every span
// sampled but none exported.
func BenchmarkAcquireRelease(b *testing.B) {
	b.Run("no-observer", func(b *testing.B) { benchAcquireRelease(b) })
	b.Run("otel-noop", func(b *testing.B) {
		obs, err := otelock.New(otelock.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelock.WithTracerProvider(tracenoop.NewTracerProvider()))
		if err != nil {
			b.Fatal(err)
		}
		benchAcquireRelease(b, lock.WithObserver(obs))
	})
	b.Run("otel-sdk", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		tp := sdktrace.NewTracerProvider()
		obs, err := otelock.New(otelock.WithMeterProvider(mp), otelock.WithTracerProvider(tp))
		if err != nil {
			b.Fatal(err)
		}
		benchAcquireRelease(b, lock.WithObserver(obs))
	})
}
