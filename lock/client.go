package lock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/leaselock/leaselock/backend"
)

// Client acquires and holds locks in one store under one owner name. It is
// safe for concurrent use; create one per process and Close it on exit.
type Client struct {
	store backend.Store
	cfg   config
	clk   clock.Clock
	epoch time.Time // instants count from here (monotime.go)
	log   *slog.Logger
	sched *scheduler

	closing chan struct{} // closed by Close: waits end with ErrClosed
	deletes bool          // the store's records must be deleted on release

	mu       sync.Mutex
	closed   bool
	held     map[backend.Key]*Lock
	seen     *observations            // remembered across Acquire calls
	handOffs map[backend.Key]*handOff // keys this client released (fair.go)
	rtt      atomic.Int64             // average store write round trip, ns (fair.go)

	callbacks sync.WaitGroup
}

// New returns a Client over store. Invalid settings give an error that
// errors.Is ErrInvalidOption; the client starts its heartbeat goroutines
// only when the settings are valid.
func New(store backend.Store, opts ...Option) (*Client, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{store: store, cfg: cfg, clk: cfg.clk, log: cfg.log, closing: make(chan struct{}),
		epoch:   cfg.clk.Now().Add(-time.Nanosecond), // so that no instant is zero
		deletes: releasesByDelete(store),
		held:    map[backend.Key]*Lock{}, seen: newObservations()}
	c.store = c.observeStore(store)
	c.sched = newScheduler(c)
	return c, nil
}

// releasesByDelete reports whether store asks for its records to be
// deleted on release (backend.ReleaseDeleter).
func releasesByDelete(store backend.Store) bool {
	rd, ok := store.(backend.ReleaseDeleter)
	return ok && rd.ReleaseByDelete()
}

// Owner returns the owner name this client writes on its records.
func (c *Client) Owner() string { return c.cfg.owner }

// Locks returns the locks this client holds now.
func (c *Client) Locks() []*Lock {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Lock, 0, len(c.held))
	for _, l := range c.held {
		out = append(out, l)
	}
	return out
}

// Close releases every held lock, stops the heartbeat goroutines and waits
// for callbacks to return. It returns every release error, joined; a lock
// whose release failed is ended as Expired (no more heartbeats will renew
// it) and its record lapses after its lease. Later calls return ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	close(c.closing)
	locks := make([]*Lock, 0, len(c.held))
	for _, l := range c.held {
		locks = append(locks, l)
	}
	c.mu.Unlock()

	errs := make([]error, len(locks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4*c.cfg.workers)
	for i, l := range locks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := l.Release(ctx); err != nil && !errors.Is(err, ErrLockLost) {
				errs[i] = fmt.Errorf("lock: close: release %q: %w", l.key, err)
				l.end(Expired, l.lost(Expired, errors.Join(ErrClosed, err)))
			}
		}()
	}
	wg.Wait()
	c.sched.close()
	c.callbacks.Wait()
	return errors.Join(errs...)
}

// track registers a new lock, unless the client was closed meanwhile.
func (c *Client) track(l *Lock) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.held[l.key] = l
	c.seen.forget(l.key)
	return nil
}

// forget drops an ended lock, from the client and its scheduler. A
// lock released at releasedAt (zero: now) leaves a note for the hand-off
// of its key (fair.go).
func (c *Client) forget(l *Lock, released bool, releasedAt instant) {
	if released && releasedAt == 0 {
		releasedAt = c.now()
	}
	c.mu.Lock()
	if c.held[l.key] == l {
		delete(c.held, l.key)
	}
	if released {
		c.releasedLocked(l.key, l.contended, releasedAt)
	}
	c.mu.Unlock()
	c.sched.remove(l)
}

// debugOn reports whether Debug logs are wanted, so that hot paths build
// no log arguments when they are not.
func (c *Client) debugOn() bool { return c.log.Enabled(context.Background(), slog.LevelDebug) }

// callback runs fn on its own goroutine; Close waits for it.
func (c *Client) callback(fn func()) {
	c.callbacks.Add(1)
	go func() {
		defer c.callbacks.Done()
		fn()
	}()
}

// checkOpen returns ErrClosed after Close.
func (c *Client) checkOpen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}

// invalid wraps a store's refusal of a request (backend.ErrInvalid) in the
// engine's kind: ErrInvalidKey when the store refused the key,
// ErrInvalidRequest otherwise.
func invalid(op string, key backend.Key, err error) error {
	kind := ErrInvalidRequest
	if errors.Is(err, backend.ErrInvalidKey) {
		kind = ErrInvalidKey
	}
	return fmt.Errorf("%w: %s %q: %w", kind, op, key, err)
}

// key validates the caller's key at the edge, before any store call.
func (c *Client) key(name, sort string) (backend.Key, error) {
	k := backend.Key{Partition: name, Sort: sort}
	if err := backend.ValidateKey(k, 0); err != nil {
		return k, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return k, nil
}

// sleep waits d on the client's clock, or until ctx ends or the client
// closes.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := c.clk.Timer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-c.closing:
		return ErrClosed
	}
}
