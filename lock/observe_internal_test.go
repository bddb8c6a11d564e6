package lock

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// TestObservationsDropTheOldest: past maxObservations the oldest sighting
// goes, never a random one; a key seen at a new version counts as new.
func TestObservationsDropTheOldest(t *testing.T) {
	o := newObservations()
	t0 := time.Unix(0, 0)
	key := func(i int) backend.Key { return backend.Key{Partition: fmt.Sprint(i)} }
	for i := range maxObservations {
		o.observe(key(i), "v1", t0.Add(time.Duration(i)))
	}
	// Key 0 changes version: it is now the newest.
	require.Zero(t, o.observe(key(0), "v2", t0.Add(time.Hour)))
	o.observe(key(maxObservations), "v1", t0.Add(2*time.Hour))
	require.Equal(t, maxObservations, o.len())

	require.Equal(t, time.Hour, o.observe(key(0), "v2", t0.Add(2*time.Hour)), "key 0 was kept")
	require.Zero(t, o.observe(key(1), "v1", t0.Add(3*time.Hour)), "key 1, the oldest, was dropped")
	require.Equal(t, maxObservations, o.len())
	require.Equal(t, 3*time.Hour-3, o.observe(key(3), "v1", t0.Add(3*time.Hour)), "key 3 was kept")
}

// BenchmarkObserveFull measures one new observation when the cache is
// full: constant time, not a scan of maxObservations entries.
func BenchmarkObserveFull(b *testing.B) {
	o := newObservations()
	now := time.Unix(0, 0)
	for i := range maxObservations {
		o.observe(backend.Key{Partition: fmt.Sprint(i)}, "v", now)
	}
	keys := make([]backend.Key, 1024)
	for i := range keys {
		keys[i] = backend.Key{Partition: fmt.Sprint("new-", i)}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o.observe(keys[i%len(keys)], fmt.Sprint(i), now)
	}
}
