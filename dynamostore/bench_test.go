package dynamostore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
)

// BenchmarkStore measures each store operation against each emulator and
// reports requests/op (from the request counter), latency percentiles and
// allocations. Run with e.g.
//
//	go test -run '^$' -bench Store -benchtime 300x ./dynamostore/
//
// Preparation (acquiring the records a release will release, ...) runs
// outside the timer and outside the request count.
func BenchmarkStore(b *testing.B) {
	for _, kind := range servers {
		b.Run(string(kind), func(b *testing.B) {
			benchOps(b, kind)
		})
	}
}

func benchOps(b *testing.B, kind testservers.Kind) {
	ops := []struct {
		name    string
		prepare func(b *testing.B, e *env, keys []string) []backend.Record
		run     func(e *env, key string, prev backend.Record) error
	}{
		{name: "AcquireAbsent", run: func(e *env, key string, _ backend.Record) error {
			_, err := e.store.Acquire(ctx(b), backend.AcquireRequest{Record: lease(key, "bench")})
			return err
		}},
		{name: "AcquireReleased", prepare: released, run: func(e *env, key string, _ backend.Record) error {
			_, err := e.store.Acquire(ctx(b), backend.AcquireRequest{Record: lease(key, "bench")})
			return err
		}},
		{name: "Heartbeat", prepare: held, run: func(e *env, _ string, prev backend.Record) error {
			next := prev
			next.Version = prev.Version + "-beat"
			_, err := e.store.Update(ctx(b), next, prev.Version)
			return err
		}},
		{name: "Release", prepare: held, run: func(e *env, _ string, prev backend.Record) error {
			next := prev
			next.Version, next.Released = prev.Version+"-released", true
			_, err := e.store.Update(ctx(b), next, prev.Version)
			return err
		}},
		{name: "Get", prepare: held, run: func(e *env, key string, _ backend.Record) error {
			_, err := e.store.Get(ctx(b), backend.Key{Partition: key})
			return err
		}},
		{name: "RawGetItem", prepare: held, run: func(e *env, key string, _ backend.Record) error {
			// The SDK call alone, without the store: the baseline for Get.
			_, err := e.client.GetItem(ctx(b), &dynamodb.GetItemInput{TableName: aws.String(e.table),
				Key: item{"key": s(key)}, ConsistentRead: aws.Bool(true)})
			return err
		}},
		{name: "AcquireHeld", prepare: held, run: func(e *env, key string, _ backend.Record) error {
			_, err := e.store.Acquire(ctx(b), backend.AcquireRequest{Record: lease(key, "intruder")})
			if err == nil {
				return fmt.Errorf("acquired a held key")
			}
			var ce *backend.ConflictError
			if !errors.As(err, &ce) || ce.Current == nil {
				return err
			}
			return nil
		}},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			e := newEnv(b, kind, nil)
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = fmt.Sprint("bench-", i)
			}
			var prev []backend.Record
			if op.prepare != nil {
				prev = op.prepare(b, e, keys)
			} else {
				prev = make([]backend.Record, b.N)
			}
			// Teach the store about the server before counting (dynalite:
			// the first conflict tells it the server omits the item).
			if op.name == "AcquireHeld" {
				require.NoError(b, op.run(e, keys[0], prev[0]))
			}
			lat := make([]time.Duration, b.N)
			e.counter.Reset()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := op.run(e, keys[i], prev[i]); err != nil {
					b.Fatal(err)
				}
				lat[i] = time.Since(start)
			}
			b.StopTimer()
			b.ReportMetric(float64(e.counter.Total())/float64(b.N), "requests/op")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

func held(b *testing.B, e *env, keys []string) []backend.Record {
	recs := make([]backend.Record, len(keys))
	for i, k := range keys {
		got, err := e.store.Acquire(ctx(b), backend.AcquireRequest{Record: lease(k, "holder")})
		require.NoError(b, err)
		recs[i] = got.Record
	}
	return recs
}

func released(b *testing.B, e *env, keys []string) []backend.Record {
	recs := held(b, e, keys)
	for i, r := range recs {
		next := r
		next.Version, next.Released = r.Version+"-rel", true
		got, err := e.store.Update(ctx(b), next, r.Version)
		require.NoError(b, err)
		recs[i] = got
	}
	return recs
}
