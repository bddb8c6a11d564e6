package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// The demo's world: a narrator that timestamps lines, a store wrapper that
// narrates what reaches the store, and a resource protected by fencing.

// narrator prints lines stamped with the time since the demo started.
type narrator struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	started bool // a header was printed
}

func newNarrator(w io.Writer) *narrator { return &narrator{w: w, start: time.Now()} }

func (n *narrator) since() time.Duration { return time.Since(n.start) }

func fmtSince(d time.Duration) string { return fmt.Sprintf("+%.2fs", d.Seconds()) }

func (n *narrator) say(who, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.w, "[%6s] %-6s %s\n", fmtSince(n.since()), who, fmt.Sprintf(format, args...))
}

func (n *narrator) header(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		fmt.Fprintln(n.w)
	}
	n.started = true
	fmt.Fprintf(n.w, "== %s\n", fmt.Sprintf(format, args...))
}

// acquisition is one successful store acquire, as the trace saw it.
type acquisition struct {
	at           time.Duration
	key, owner   string
	token        uint64
	takeoverFrom string        // owner of the expired lease replaced; "" otherwise
	replacedAt   time.Duration // when the replaced record was written
}

// maxBeatsShown bounds the heartbeat lines printed per tenure of a lock.
const maxBeatsShown = 2

// traceStore forwards to a store and narrates every write that succeeds:
// acquisitions (with the record they replaced), heartbeats and releases.
type traceStore struct {
	inner interface {
		backend.Store
		backend.GuardedWriter
	}
	out *narrator

	mu      sync.Mutex
	acqs    []acquisition
	beats   map[backend.Key]int           // heartbeats of the current tenure
	written map[backend.Key]time.Duration // when the current record was written
}

var (
	_ backend.Store         = (*traceStore)(nil)
	_ backend.GuardedWriter = (*traceStore)(nil)
)

func newTraceStore(inner interface {
	backend.Store
	backend.GuardedWriter
}, out *narrator) *traceStore {
	return &traceStore{inner: inner, out: out, beats: map[backend.Key]int{}, written: map[backend.Key]time.Duration{}}
}

func (s *traceStore) acquisitions() []acquisition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]acquisition(nil), s.acqs...)
}

func (s *traceStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	return s.inner.Get(ctx, key)
}

func (s *traceStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := s.inner.Acquire(ctx, req)
	if err != nil {
		return got, err
	}
	rec, key := got.Record, got.Record.Key.String()
	a := acquisition{at: s.out.since(), key: key, owner: rec.Owner, token: rec.Token}
	var how string
	switch old := got.Replaced; {
	case old == nil:
		how = "a new key"
	case old.Released:
		how = "released by " + old.Owner
	default:
		a.takeoverFrom = old.Owner
		how = fmt.Sprintf("TAKEOVER: %s's record stayed unchanged for a whole lease, so her lease is over", old.Owner)
	}
	s.mu.Lock()
	a.replacedAt = s.written[rec.Key]
	s.acqs = append(s.acqs, a)
	s.beats[rec.Key] = 0
	s.written[rec.Key] = a.at
	s.mu.Unlock()
	s.out.say(rec.Owner, "acquires %s with fencing token %d (%s)", key, rec.Token, how)
	return got, nil
}

func (s *traceStore) Update(ctx context.Context, rec backend.Record, expectVersion string) (backend.Record, error) {
	got, err := s.inner.Update(ctx, rec, expectVersion)
	if err != nil {
		return got, err
	}
	s.mu.Lock()
	s.written[got.Key] = s.out.since()
	s.mu.Unlock()
	if got.Released {
		s.out.say(got.Owner, "releases %s (token %d)", got.Key, got.Token)
		return got, nil
	}
	s.mu.Lock()
	s.beats[got.Key]++
	n := s.beats[got.Key]
	s.mu.Unlock()
	switch {
	case n <= maxBeatsShown:
		s.out.say(got.Owner, "heartbeat on %s (token %d): lease renewed for %v", got.Key, got.Token, got.LeaseDuration)
	case n == maxBeatsShown+1:
		s.out.say(got.Owner, "heartbeats on %s go on (not shown)", got.Key)
	}
	return got, nil
}

func (s *traceStore) Delete(ctx context.Context, key backend.Key, expectVersion string) error {
	return s.inner.Delete(ctx, key, expectVersion)
}

func (s *traceStore) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	return s.inner.WriteGuarded(ctx, g, ops)
}

// cutStore is one client's view of the shared store, which the demo can cut
// off: while cut, every call fails as unreachable and nothing reaches the
// store, as for a process that is partitioned away or stalled.
type cutStore struct {
	inner *traceStore
	cut   atomic.Bool
}

var (
	_ backend.Store         = (*cutStore)(nil)
	_ backend.GuardedWriter = (*cutStore)(nil)
)

func (s *cutStore) check(ctx context.Context) error {
	if s.cut.Load() {
		return fmt.Errorf("demo: cut off from the store: %w", backend.ErrUnavailable)
	}
	return ctx.Err()
}

func (s *cutStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	if err := s.check(ctx); err != nil {
		return backend.Record{}, err
	}
	return s.inner.Get(ctx, key)
}

func (s *cutStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	if err := s.check(ctx); err != nil {
		return backend.Acquired{}, err
	}
	return s.inner.Acquire(ctx, req)
}

func (s *cutStore) Update(ctx context.Context, rec backend.Record, expectVersion string) (backend.Record, error) {
	if err := s.check(ctx); err != nil {
		return backend.Record{}, err
	}
	return s.inner.Update(ctx, rec, expectVersion)
}

func (s *cutStore) Delete(ctx context.Context, key backend.Key, expectVersion string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.inner.Delete(ctx, key, expectVersion)
}

func (s *cutStore) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.inner.WriteGuarded(ctx, g, ops)
}

// fencedResource stands for anything a lock protects (a file, a database,
// an API). It remembers the highest fencing token it has seen per key and
// refuses writes that carry a smaller one: the check that makes a holder
// who lost its lock without knowing harmless.
type fencedResource struct {
	mu       sync.Mutex
	highest  map[string]uint64
	accepted int
	refused  []string
}

func newFencedResource() *fencedResource { return &fencedResource{highest: map[string]uint64{}} }

func (r *fencedResource) write(key, owner string, token uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.highest[key]; token < h {
		r.refused = append(r.refused, fmt.Sprintf("%s on %s with token %d < %d", owner, key, token, h))
		return fmt.Errorf("token %d is smaller than %d, already seen", token, h)
	}
	r.highest[key] = token
	r.accepted++
	return nil
}

func (r *fencedResource) counts() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted, append([]string(nil), r.refused...)
}
