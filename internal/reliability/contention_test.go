package reliability

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/reliability/contention"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// timing is a set of lease settings.
type timing struct{ lease, beat, poll time.Duration }

var (
	// virtualTiming: the engine's defaults, for runs in a synctest bubble.
	virtualTiming = timing{20 * time.Second, 5 * time.Second, time.Second}
	// remoteTiming: one-second leases for the DynamoDB test servers.
	remoteTiming = timing{time.Second, 250 * time.Millisecond, 100 * time.Millisecond}
	// fastTiming: real-time runs on memstore.
	fastTiming = timing{600 * time.Millisecond, 150 * time.Millisecond, 60 * time.Millisecond}
)

// client starts a client with these settings; the caller closes it.
func (tm timing) client(t testing.TB, s backend.Store, owner string, opts ...lock.Option) *lock.Client {
	t.Helper()
	base := []lock.Option{lock.WithOwner(owner), lock.WithLeaseDuration(tm.lease),
		lock.WithHeartbeatPeriod(tm.beat), lock.WithPollPeriod(tm.poll)}
	c, err := lock.New(s, append(base, opts...)...)
	require.NoError(t, err)
	return c
}

// TestContentionMemstore: 8 clients x 3 goroutines contend for 24 keys on
// one memstore, in virtual time, with 20-second leases; every hold is
// checked, and every hold also commits a guarded write to a fenced
// resource that refuses tokens older than one it has seen.
func TestContentionMemstore(t *testing.T) {
	target := pick[int64](100_000, 400_000)
	start := time.Now()
	var w *contention.Workload
	synctest.Test(t, func(t *testing.T) {
		store := memstore.New()
		resource := contention.NewFencedResource()
		w = &contention.Workload{
			Keys: contention.Keys("mem", 24), Workers: 3, Target: target,
			HoldTime:  contention.UniformHold(3*time.Second, 45*time.Second, 0.1),
			StallRate: 0.01, StallMax: 10 * time.Second,
			Pause: time.Second, TryRate: 0.2, DoRate: 0.1, BeatRate: 0.05,
			Resource: resource, History: contention.NewHistory(nil), Seed: 1,
		}
		for i := range 8 {
			cs := contention.NewCutStore(store)
			w.Cuts = append(w.Cuts, cs)
			w.Clients = append(w.Clients, virtualTiming.client(t, cs, fmt.Sprint("client-", i)))
		}
		vstart := time.Now()
		w.Run(context.Background())
		virtual := time.Since(vstart)
		for _, c := range w.Clients {
			require.NoError(t, c.Close(context.Background()))
		}
		w.CheckEnded(t)
		contention.RequireClean(t, w.History)
		require.Empty(t, resource.Stale())
		// Close released every key, except those whose holder was cut
		// off: their records lapse, and a fresh client takes them after
		// one lease.
		for _, k := range w.Keys {
			rec, err := store.Get(context.Background(), backend.Key{Partition: k})
			if err == nil && !rec.Released {
				cut := false
				for _, cs := range w.Cuts {
					cut = cut || cs.IsCut(rec.Key, rec.Token)
				}
				require.True(t, cut, "%s still held by %s (token %d) after every client closed", k, rec.Owner, rec.Token)
			}
		}
		requireNoneStuck(t, store, w.Keys, virtualTiming)
		t.Logf("virtual time: %v", virtual.Round(time.Second))
	})
	w.Report(t, "memstore", time.Since(start))
	require.GreaterOrEqual(t, w.Result().Acquisitions, target)
}
