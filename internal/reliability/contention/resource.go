package contention

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/leaselock/leaselock/lock"
)

// Resource is what the locks protect. Every hold of a Workload with a
// Resource writes to it once, through the lock's guarded write, so a stale
// holder that got past the store's guard would show up in the resource.
type Resource interface {
	// Write makes one guarded write as l's holder (l.WriteGuarded with the
	// store's ops type).
	Write(ctx context.Context, l *lock.Lock) error
	// Writes is how many writes reached the resource.
	Writes() int
}

// FencedResource is an in-memory resource behind memstore's guarded
// writes: it accepts a write only with a token at least as large as every
// token it has seen for the key. Its writes run under memstore's lock once
// the guard has held, so a refused write here would mean the guard let a
// stale holder through.
type FencedResource struct {
	mu      sync.Mutex
	highest map[string]uint64
	writes  int
	stale   []string
}

// NewFencedResource returns a resource that has seen no token.
func NewFencedResource() *FencedResource { return &FencedResource{highest: map[string]uint64{}} }

// Write implements Resource with memstore's ops type, func() error.
func (r *FencedResource) Write(ctx context.Context, l *lock.Lock) error {
	return l.WriteGuarded(ctx, r.write(l.Key(), l.Token()))
}

// write returns the function memstore runs under its lock once the guard
// has held.
func (r *FencedResource) write(key string, token uint64) func() error {
	return func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.writes++
		if token < r.highest[key] {
			r.stale = append(r.stale, fmt.Sprintf("%s: write with token %d after token %d", key, token, r.highest[key]))
			return errors.New("stale token")
		}
		r.highest[key] = token
		return nil
	}
}

// Writes implements Resource.
func (r *FencedResource) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// Stale lists the writes refused for an older token: empty unless a guard
// failed.
func (r *FencedResource) Stale() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stale...)
}
