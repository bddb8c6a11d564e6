// Package otelock reports what the leaselock engine does to OpenTelemetry:
// metrics, spans and span events. It implements lock.Observer, the
// engine's telemetry seam, so package lock itself imports no telemetry
// module, and a program that does not install an observer pays nothing.
//
//	obs, err := otelock.New() // the global meter and tracer providers
//	...
//	client, err := lock.New(store, lock.WithObserver(obs))
//
// It uses the OpenTelemetry API only; the program chooses the SDK and
// exporters. docs/observability.md lists every instrument, span and
// attribute, and the alerts worth setting.
//
// Metrics never carry lock keys (their number is unbounded); spans do,
// unless WithoutKeys is given, for keys that name customers or other
// sensitive things.
//
// This package is a module of its own, so the library's go.mod stays free
// of OpenTelemetry.
package otelock
