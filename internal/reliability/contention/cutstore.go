package contention

import (
	"context"
	"fmt"
	"sync"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// CutStore cuts individual locks off from the store: every Update or
// Delete of a cut lock's record (same key and fencing token) fails as
// unavailable, as if that holder were partitioned away.
type CutStore struct {
	backend.Store
	mu   sync.Mutex
	cuts map[backend.Key]uint64
}

// NewCutStore wraps s; nothing is cut yet.
func NewCutStore(s backend.Store) *CutStore {
	return &CutStore{Store: s, cuts: map[backend.Key]uint64{}}
}

// Cut cuts l's holder off from the store.
func (c *CutStore) Cut(l *lock.Lock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cuts[backend.Key{Partition: l.Key(), Sort: l.SortKey()}] = l.Token()
}

// IsCut reports whether the holder of key with this token is cut off.
func (c *CutStore) IsCut(k backend.Key, token uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.cuts[k]
	return ok && t == token
}

var errCut = fmt.Errorf("%w: reliability: this holder is cut off", backend.ErrUnavailable)

// Update implements backend.Store.
func (c *CutStore) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	if c.IsCut(rec.Key, rec.Token) {
		return backend.Record{}, errCut
	}
	return c.Store.Update(ctx, rec, expect)
}

// Delete implements backend.Store.
func (c *CutStore) Delete(ctx context.Context, key backend.Key, expect string) error {
	if cur, err := c.Store.Get(ctx, key); err == nil && cur.Version == expect && c.IsCut(key, cur.Token) {
		return errCut
	}
	return c.Store.Delete(ctx, key, expect)
}

// WriteGuarded passes guarded writes through (the holder's application
// writes are not what is cut).
func (c *CutStore) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	return writeGuarded(ctx, c.Store, g, ops)
}

// writeGuarded passes a guarded write to s, which must have them.
func writeGuarded(ctx context.Context, s backend.Store, g backend.Guard, ops any) error {
	gw, ok := s.(backend.GuardedWriter)
	if !ok {
		return fmt.Errorf("%w: %T has no guarded writes", backend.ErrInvalid, s)
	}
	return gw.WriteGuarded(ctx, g, ops)
}
