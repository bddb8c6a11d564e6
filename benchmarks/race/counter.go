package race

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Counter is an http.RoundTripper that counts the DynamoDB requests sent
// through it, per operation ("GetItem", "PutItem", ...). It sits below the
// SDK's retry loop, so every attempt counts. With a Timeline attached it
// also records, per lock key, when each write was sent and confirmed.
type Counter struct {
	next     http.RoundTripper
	total    atomic.Int64
	mu       sync.Mutex
	byOp     map[string]int64
	timeline atomic.Pointer[Timeline]
	cut      atomic.Bool
}

// NewCounter wraps next (http.DefaultTransport when nil).
func NewCounter(next http.RoundTripper) *Counter {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Counter{next: next, byOp: map[string]int64{}}
}

// errCut is what every request gets once Cut was called.
var errCut = &cutError{}

type cutError struct{}

func (*cutError) Error() string { return "race: connection cut (simulated dead holder)" }

// Cut makes every later request fail without reaching the server, as if
// the process sending them had died: it neither heartbeats nor releases.
func (c *Counter) Cut() { c.cut.Store(true) }

// Watch attaches t: writes sent from now on are recorded in it.
func (c *Counter) Watch(t *Timeline) { c.timeline.Store(t) }

// RoundTrip implements http.RoundTripper.
func (c *Counter) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errCut
	}
	op := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	c.total.Add(1)
	c.mu.Lock()
	c.byOp[op]++
	c.mu.Unlock()

	t := c.timeline.Load()
	if t == nil || !isWrite(op) || req.Body == nil {
		return c.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	r2 := *req // a RoundTripper must not change the caller's request
	r2.Body = io.NopCloser(bytes.NewReader(body))
	key := keyOf(body)
	sent := time.Now()
	resp, err := c.next.RoundTrip(&r2)
	if err == nil && resp.StatusCode == http.StatusOK && key != "" {
		t.confirmed(key, sent, time.Now())
	}
	return resp, err
}

func isWrite(op string) bool {
	return op == "PutItem" || op == "UpdateItem" || op == "DeleteItem"
}

// keyMarker starts the lock key in every request the contenders send: their
// tables' partition key is "key", of type S.
var keyMarker = []byte(`"key":{"S":"`)

// keyOf finds the lock key in a request body without decoding the JSON;
// the benchmark keys need no escaping.
func keyOf(body []byte) string {
	i := bytes.Index(body, keyMarker)
	if i < 0 {
		return ""
	}
	rest := body[i+len(keyMarker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// Total returns the requests sent so far.
func (c *Counter) Total() int64 { return c.total.Load() }

// Counts returns the requests sent so far, per operation.
func (c *Counter) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byOp)
}

// Snapshot is a Counter's counts at one moment; Sub gives what was sent
// between two.
type Snapshot struct {
	Total int64
	ByOp  map[string]int64
}

// Snapshot returns the counts now.
func (c *Counter) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Snapshot{Total: c.total.Load(), ByOp: maps.Clone(c.byOp)}
}

// Sub returns the requests sent between before and s.
func (s Snapshot) Sub(before Snapshot) Snapshot {
	d := Snapshot{Total: s.Total - before.Total, ByOp: map[string]int64{}}
	for op, n := range s.ByOp {
		if n -= before.ByOp[op]; n != 0 {
			d.ByOp[op] = n
		}
	}
	return d
}

// Timeline judges, from the writes on the wire alone, whether each lock
// kept its lease. A holder may count on its lease for one lease duration
// from the moment it SENT its last confirmed write; if the next write is
// not confirmed within that time (or none comes), the holder's lease ran out
// with the key open to a waiter: the lock lapsed, whatever the client
// believes. It does not rely on any contender's own bookkeeping, which is
// what lets it call a loss silent.
type Timeline struct {
	lease time.Duration
	mu    sync.Mutex
	keys  map[string]*keyLine
}

type keyLine struct {
	lastSent time.Time // send time of the last confirmed write
	lapsed   bool
}

// NewTimeline judges leases of the given duration.
func NewTimeline(lease time.Duration) *Timeline {
	return &Timeline{lease: lease, keys: map[string]*keyLine{}}
}

func (t *Timeline) confirmed(key string, sent, done time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.keys[key]
	if k == nil {
		t.keys[key] = &keyLine{lastSent: sent}
		return
	}
	if done.Sub(k.lastSent) > t.lease {
		k.lapsed = true
	}
	if sent.After(k.lastSent) {
		k.lastSent = sent
	}
}

// Lapsed returns the keys whose lease lapsed at least once up to now
// (including those whose last confirmed write is more than a lease old),
// and the number of keys with at least one confirmed write.
func (t *Timeline) Lapsed(now time.Time) (lapsed map[string]bool, seen int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lapsed = map[string]bool{}
	for key, k := range t.keys {
		if k.lapsed || now.Sub(k.lastSent) > t.lease {
			lapsed[key] = true
		}
	}
	return lapsed, len(t.keys)
}
