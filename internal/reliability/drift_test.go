package reliability

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/reliability/contention"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// rateClock is a clock.Clock that runs rate times as fast as the time
// package's clock (virtual time inside a synctest bubble) and shows an
// arbitrary offset: a host clock that is neither synchronised nor exact.
// Durations handed to it (Timer, After, Sleep, Ticker, AfterFunc,
// WithTimeout) are measured on it, so they take d/rate of real time.
//
// One limit: clock.Timer and clock.Ticker are concrete types, so Reset on
// a timer it returned takes its argument as real time. The engine's
// scheduler resets one timer to the time until its next event and re-reads
// Now when it fires, so on a slow clock (rate < 1) it wakes early and
// waits again (exact), and on a fast clock it wakes up to (rate-1) x the
// wait late. The tests put slow clocks on holders, where lateness would
// matter, and keep fast-clock lateness far below their margins.
type rateClock struct {
	rate   float64
	origin time.Time // underlying time when the clock was made
	shown  time.Time // what the clock showed then
}

var _ clock.Clock = (*rateClock)(nil)

func newRateClock(rate float64, offset time.Duration) *rateClock {
	now := time.Now()
	return &rateClock{rate: rate, origin: now, shown: now.Add(offset)}
}

// real converts a duration on this clock to underlying time.
func (c *rateClock) real(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return time.Duration(math.Ceil(float64(d) / c.rate))
}

func (c *rateClock) Now() time.Time {
	return c.shown.Add(time.Duration(float64(time.Since(c.origin)) * c.rate))
}
func (c *rateClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *rateClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }
func (c *rateClock) Sleep(d time.Duration)           { time.Sleep(c.real(d)) }
func (c *rateClock) After(d time.Duration) <-chan time.Time {
	return clock.New().After(c.real(d))
}
func (c *rateClock) AfterFunc(d time.Duration, f func()) *clock.Timer {
	return clock.New().AfterFunc(c.real(d), f)
}
func (c *rateClock) Tick(d time.Duration) <-chan time.Time { return c.Ticker(d).C }
func (c *rateClock) Ticker(d time.Duration) *clock.Ticker  { return clock.New().Ticker(c.real(d)) }
func (c *rateClock) Timer(d time.Duration) *clock.Timer    { return clock.New().Timer(c.real(d)) }
func (c *rateClock) WithDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.real(c.Until(d)))
}
func (c *rateClock) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.real(d))
}

// TestRateClock checks the test clock itself.
func TestRateClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fast, slow := newRateClock(1.05, 3*time.Hour), newRateClock(0.95, -time.Hour)
		a, b := fast.Now(), slow.Now()
		time.Sleep(100 * time.Second)
		require.Equal(t, 105*time.Second, fast.Since(a))
		require.Equal(t, 95*time.Second, slow.Since(b))
		start := time.Now()
		fast.Sleep(21 * time.Second)
		require.Equal(t, 20*time.Second, time.Since(start))
		start = time.Now()
		<-slow.Timer(19 * time.Second).C
		require.Equal(t, 20*time.Second, time.Since(start))
		ctx, cancel := fast.WithTimeout(context.Background(), 42*time.Second)
		defer cancel()
		start = time.Now()
		<-ctx.Done()
		require.Equal(t, 40*time.Second, time.Since(start))
	})
}

// driftRun runs the contention workload with one rate per client. Stalled
// holds (heartbeats stopped, holder holding on until told) make takeovers
// after expiry common: those are the only moments clock rates matter.
func driftRun(t *testing.T, rates []float64, declared float64, target int64, seed uint64) *contention.Workload {
	w := &contention.Workload{
		Keys: contention.Keys("drift", 4), Workers: 2, Target: target,
		HoldTime:  contention.UniformHold(3*time.Second, 30*time.Second, 0.1),
		StallRate: 0.3, StallMax: 10 * time.Second,
		Pause: time.Second, TryRate: 0.2, DoRate: 0.05,
		History: contention.NewHistory(nil), Seed: seed,
	}
	synctest.Test(t, func(t *testing.T) {
		store := memstore.New()
		rng := rand.New(rand.NewPCG(seed, 7))
		for i, rate := range rates {
			offset := time.Duration(rng.Int64N(int64(48*time.Hour))) - 24*time.Hour
			opts := []lock.Option{lock.WithClock(newRateClock(rate, offset))}
			if declared != lock.DefaultClockDrift {
				opts = append(opts, lock.WithClockDrift(declared))
			}
			cs := contention.NewCutStore(store)
			w.Cuts = append(w.Cuts, cs)
			w.Clients = append(w.Clients, virtualTiming.client(t, cs, fmt.Sprintf("client-%d@%.4f", i, rate), opts...))
		}
		w.Run(context.Background())
		for _, c := range w.Clients {
			require.NoError(t, c.Close(context.Background()))
		}
		w.CheckEnded(t) // reads the locks' channels: inside the bubble
	})
	return w
}

// spread returns n rates from lo to hi, both included.
func spread(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return out
}

// TestClockDriftWithinBound: clients whose clocks run fast or slow, by up to
// the declared drift between any two of them (and, with the engine's
// (1-d)/(1+d) margin, up to d each), never overlap. Every takeover here is
// of a stalled holder, judged on the waiter's clock against the holder's.
func TestClockDriftWithinBound(t *testing.T) {
	target := pick[int64](5_000, 50_000)
	for _, tc := range []struct {
		name     string
		declared float64
		rates    []float64
	}{
		// The default 1%: any two clocks within 1% of each other.
		{"default 1% declared, rates within ±0.5%", lock.DefaultClockDrift, spread(0.995, 1.005, 6)},
		// The margin's own limit: each clock within 0.9 d of true time.
		{"default 1% declared, rates within ±0.9%", lock.DefaultClockDrift, spread(0.991, 1.009, 6)},
		// A few percent, declared.
		{"5% declared, rates within ±2.5%", 0.05, spread(0.975, 1.025, 6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			w := driftRun(t, tc.rates, tc.declared, target, 5)
			contention.RequireClean(t, w.History)
			w.Report(t, tc.name, time.Since(start))
			require.Positive(t, w.Result().Lost, "no takeover happened: the run proves nothing")
		})
	}
}

// TestClockDriftAboveBoundIsCaught shows that the checks can fail: with 1%
// declared and clocks 5% slow and 5% fast, a fast waiter takes over before
// the slow holder's own clock has ended its lease, and the history flags
// the overlap.
func TestClockDriftAboveBoundIsCaught(t *testing.T) {
	t.Run("one holder, one waiter", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			store := memstore.New()
			h := contention.NewHistory(nil)
			slow := virtualTiming.client(t, store, "slow", lock.WithClock(newRateClock(0.95, time.Hour)))
			defer slow.Close(ctx)
			fast := virtualTiming.client(t, store, "fast", lock.WithClock(newRateClock(1.05, -time.Hour)))
			defer fast.Close(ctx)

			la, err := slow.Acquire(ctx, "k", lock.MaxHold(time.Nanosecond)) // a holder that stops renewing
			require.NoError(t, err)
			ha := h.Begin("k", la)
			lb, err := fast.Acquire(ctx, "k")
			require.NoError(t, err)
			hb := h.Begin("k", lb)
			<-la.Done()
			h.Finish(ha, true)
			h.Finish(hb, false)
			require.NoError(t, lb.Release(ctx))

			v := h.Check()
			require.NotEmpty(t, v, "drift above the bound must show as an overlap")
			require.Contains(t, strings.Join(v, "\n"), "slow still held it unaware")
			t.Logf("caught: %v", v)
		})
	})
	t.Run("workload", func(t *testing.T) {
		w := driftRun(t, []float64{0.95, 1.05, 0.95, 1.05}, lock.DefaultClockDrift, 500, 6)
		v := w.History.Check()
		require.NotEmpty(t, v, "drift above the bound must show as overlaps")
		t.Logf("caught %d overlaps in %d acquisitions, e.g. %s", len(v), w.Result().Acquisitions, v[0])
	})
}
