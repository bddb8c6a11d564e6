package reliability

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/reliability/contention"
	"github.com/leaselock/leaselock/lock"
)

// netRates are per-request probabilities of network faults between the SDK
// and a real server. They act below the SDK, so its own retries, its
// attempt tracking and dynamostore's error classification are all real.
type netRates struct {
	dropAfterApply float64 // forwarded and applied; the response is lost (connection reset)
	throttle       float64 // answered 400 ThrottlingException without forwarding
	err5xxBefore   float64 // answered 500 without forwarding
	err5xxAfter    float64 // forwarded and applied, then answered 500
	slow           float64 // delayed before forwarding by about slowBy
	pause          float64 // starts a pause of every request for pauseFor
	slowBy         time.Duration
	pauseFor       time.Duration
}

// netFaults is an http.RoundTripper that injects netRates.
type netFaults struct {
	next  http.RoundTripper
	rates netRates

	mu          sync.Mutex
	rng         *rand.Rand
	pausedUntil time.Time
	injected    map[string]int
}

func newNetFaults(r netRates, seed uint64) *netFaults {
	return &netFaults{next: http.DefaultTransport, rates: r, rng: rand.New(rand.NewPCG(seed, seed+1)),
		injected: map[string]int{}}
}

// option sends a client's requests through f.
func (f *netFaults) option(o *dynamodb.Options) {
	f.next = o.HTTPClient.(*http.Client).Transport
	o.HTTPClient = &http.Client{Transport: f}
}

// pick draws this request's fault and how long it waits first.
func (f *netFaults) pick() (kind string, wait time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	wait = max(0, f.pausedUntil.Sub(now))
	x, r := f.rng.Float64(), f.rates
	for _, c := range []struct {
		p    float64
		kind string
	}{{r.dropAfterApply, "drop-after-apply"}, {r.throttle, "throttle"}, {r.err5xxBefore, "5xx-before"},
		{r.err5xxAfter, "5xx-after-apply"}, {r.slow, "slow"}, {r.pause, "pause"}} {
		if x < c.p {
			kind = c.kind
			break
		}
		x -= c.p
	}
	switch kind {
	case "slow":
		wait += r.slowBy/2 + time.Duration(f.rng.Int64N(int64(r.slowBy)+1))
	case "pause":
		if wait > 0 {
			kind = "" // already paused
		} else {
			f.pausedUntil, wait = now.Add(r.pauseFor), r.pauseFor
		}
	}
	if kind != "" {
		f.injected[kind]++
	}
	return kind, wait
}

func (f *netFaults) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.injected))
	for k, v := range f.injected {
		out[k] = v
	}
	return out
}

func (f *netFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	kind, wait := f.pick()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		}
	}
	switch kind {
	case "throttle":
		drain(req)
		return dynamoError(req, http.StatusBadRequest, "ThrottlingException"), nil
	case "5xx-before":
		drain(req)
		return dynamoError(req, http.StatusInternalServerError, "InternalServerError"), nil
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil || (kind != "drop-after-apply" && kind != "5xx-after-apply") {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if kind == "5xx-after-apply" {
		return dynamoError(req, http.StatusInternalServerError, "InternalServerError"), nil
	}
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

func drain(req *http.Request) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
}

// dynamoError is a DynamoDB JSON error answer.
func dynamoError(req *http.Request, status int, code string) *http.Response {
	body := `{"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"injected by the reliability suite"}`
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", "netfault")
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Request: req,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// TestContentionDynamoNetFaults runs the contention workload on each
// DynamoDB test server with network faults under the SDK: 6% of requests
// applied with their response lost, 3% throttled, 2% answered 5xx (half
// of them after being applied), 3% slowed by about a heartbeat period, and
// rare pauses of every request of a client for 60% of a lease. Safety must
// hold as in the fault-free run, and the loss reports must be true: no
// steal is reported unless a takeover happened, and no Release says "still
// held" about a lock that had already ended.
func TestContentionDynamoNetFaults(t *testing.T) {
	rates := netRates{dropAfterApply: 0.06, throttle: 0.03, err5xxBefore: 0.01, err5xxAfter: 0.01,
		slow: 0.03, pause: 0.0005, slowBy: remoteTiming.beat, pauseFor: remoteTiming.lease * 6 / 10}
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			d := newDynamoTable(t, kind, nil)
			judge := contention.NewStealJudge()
			w := &contention.Workload{
				Keys: contention.Keys("net", 8), Workers: 3,
				Target:    pick[int64](1_000, 4_000),
				HoldTime:  contention.UniformHold(remoteTiming.beat/2, 2*remoteTiming.lease, 0.03),
				StallRate: 0.01, StallMax: remoteTiming.lease / 2,
				Pause: remoteTiming.poll, TryRate: 0.2, DoRate: 0.1, BeatRate: 0.05,
				History: contention.NewHistory(nil), Seed: 9, Faults: true, Judge: judge,
			}
			var nets []*netFaults
			for i := range 4 {
				nf := newNetFaults(rates, uint64(100+i))
				nets = append(nets, nf)
				st := judge.Watch(d.store(t, nil, nf.option))
				w.Clients = append(w.Clients, remoteTiming.client(t, st, fmt.Sprint("client-", i),
					lock.WithHeartbeatWorkers(8)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), pick(4*time.Minute, 20*time.Minute))
			defer cancel()
			start := time.Now()
			w.Run(ctx)
			elapsed := time.Since(start)
			for _, c := range w.Clients {
				closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_ = c.Close(closeCtx) // releases may fail under faults; CheckEnded sees every lock ended
				cancel()
			}
			w.CheckEnded(t)
			contention.RequireClean(t, w.History)
			injected := map[string]int{}
			for _, nf := range nets {
				for k, v := range nf.counts() {
					injected[k] += v
				}
			}
			t.Logf("%s: injected %s", kind, contention.SortedCounts(injected))
			w.Report(t, string(kind)+" with network faults", elapsed)
			res := w.Result()
			falseSteals, trueSteals := res.Errors[contention.FalseSteal], res.Errors[contention.TrueSteal]
			t.Logf("%s: %d steals reported after a takeover, %d false steals", kind, trueSteals, falseSteals)
			require.Zero(t, falseSteals, "a steal was reported with no takeover: e.g. %s", res.Examples[contention.FalseSteal])
			require.Positive(t, injected["drop-after-apply"], "the run injected lost responses")
			require.GreaterOrEqual(t, w.Result().Acquisitions, w.Target, "the run timed out")
		})
	}
}
