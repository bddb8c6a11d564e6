// Package memstore is an in-memory backend.Store for tests, examples and
// embedding.
//
// It lives in one process only: two processes (or two hosts) never see each
// other's locks, so it provides no distributed mutual exclusion at all. Use
// it to unit-test code that takes a lock, or to run the engine in a single
// binary; use dynamostore (or another shared store) across processes.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// Store is a concurrency-safe in-memory lock table. The zero value is not
// usable; call New.
type Store struct {
	mu      sync.Mutex
	records map[backend.Key]entry
}

// entry is a record as the store keeps it: without its key, which the map
// holds already. A table of a million records is a fifth smaller for it.
type entry struct {
	owner    string
	version  string
	token    uint64
	lease    time.Duration
	data     []byte
	attrs    map[string]string
	released bool
}

// get returns the record for key; its data and attributes are the
// store's own, not copies. Callers hold s.mu.
func (s *Store) get(key backend.Key) (backend.Record, bool) {
	e, ok := s.records[key]
	if !ok {
		return backend.Record{}, false
	}
	return e.record(key), true
}

// put stores rec, keeping its data and attributes (not copies); callers
// hold s.mu.
func (s *Store) put(rec backend.Record) {
	s.records[rec.Key] = entry{owner: rec.Owner, version: rec.Version, token: rec.Token,
		lease: rec.LeaseDuration, data: rec.Data, attrs: rec.Attributes, released: rec.Released}
}

func (e entry) record(key backend.Key) backend.Record {
	return backend.Record{Key: key, Owner: e.owner, Version: e.version, Token: e.token,
		LeaseDuration: e.lease, Data: e.data, Released: e.released, Attributes: e.attrs}
}

var (
	_ backend.Store            = (*Store)(nil)
	_ backend.Lister           = (*Store)(nil)
	_ backend.GuardedWriter    = (*Store)(nil)
	_ backend.ReleaseCommitter = (*Store)(nil)
)

// New returns an empty store.
func New() *Store { return &Store{records: make(map[backend.Key]entry)} }

// Get implements backend.Store.
func (s *Store) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	if err := check(ctx, key); err != nil {
		return backend.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.get(key)
	if !ok {
		return backend.Record{}, fmt.Errorf("memstore: %q: %w", key, backend.ErrNotFound)
	}
	return rec.Clone(), nil
}

// Acquire implements backend.Store.
func (s *Store) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	key := req.Record.Key
	if err := check(ctx, key); err != nil {
		return backend.Acquired{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.records[key]
	var free bool
	if req.ExpectVersion != "" {
		free = exists && cur.version == req.ExpectVersion
	} else {
		free = (!exists && !req.MustExist) || (exists && cur.released)
	}
	if !free {
		return backend.Acquired{}, s.conflict(key)
	}
	rec := req.Record.Clone()
	rec.Token, rec.Released = 1, false
	var replaced *backend.Record
	if exists {
		old := cur.record(key).Clone()
		replaced = &old
		rec.Token = cur.token + 1
		// Empty data counts as none, as it does everywhere: a store
		// like DynamoDB cannot keep an empty value apart from no value.
		if req.KeepData && len(rec.Data) == 0 {
			rec.Data = old.Data
		}
		rec.Attributes = mergeAttributes(old.Attributes, rec.Attributes)
	}
	s.put(rec.Clone())
	return backend.Acquired{Record: rec, Replaced: replaced}, nil
}

// Update implements backend.Store.
func (s *Store) Update(ctx context.Context, rec backend.Record, expectVersion string) (backend.Record, error) {
	if err := check(ctx, rec.Key); err != nil {
		return backend.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.records[rec.Key]
	if !ok || cur.version != expectVersion {
		return backend.Record{}, s.conflict(rec.Key)
	}
	rec = rec.Clone()
	rec.Token = cur.token
	rec.Attributes = mergeAttributes(cur.attrs, rec.Attributes)
	s.put(rec.Clone())
	return rec, nil
}

// Delete implements backend.Store.
func (s *Store) Delete(ctx context.Context, key backend.Key, expectVersion string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.get(key)
	if !ok || cur.Version != expectVersion {
		return s.conflict(key)
	}
	delete(s.records, key)
	return nil
}

// List implements backend.Lister. Records come in key order; the page token
// is the last key returned.
func (s *Store) List(ctx context.Context, req backend.ListRequest) (backend.ListPage, error) {
	if err := ctx.Err(); err != nil {
		return backend.ListPage{}, err
	}
	s.mu.Lock()
	all := make([]backend.Record, 0, len(s.records))
	for k, e := range s.records {
		if req.Partition == "" || k.Partition == req.Partition {
			all = append(all, e.record(k).Clone())
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return keyLess(all[i].Key, all[j].Key) })
	start := 0
	if req.PageToken != "" {
		after, err := decodeToken(req.PageToken)
		if err != nil {
			return backend.ListPage{}, err
		}
		start = sort.Search(len(all), func(i int) bool { return keyLess(after, all[i].Key) })
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	end := min(start+limit, len(all))
	page := backend.ListPage{Records: all[start:end]}
	if end < len(all) {
		page.Next = encodeToken(all[end-1].Key)
	}
	return page, nil
}

// WriteGuarded implements backend.GuardedWriter. ops must be a func() error;
// it runs while the store is locked, after the guard was checked, so no
// acquisition can slip in between the check and the application's write.
func (s *Store) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	fn, ok := ops.(func() error)
	if !ok {
		return fmt.Errorf("%w: memstore guarded ops must be func() error, got %T", backend.ErrInvalid, ops)
	}
	if err := check(ctx, g.Key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.get(g.Key)
	if !exists || cur.Released || cur.Owner != g.Owner || cur.Token != g.Token {
		return fmt.Errorf("memstore: %q: %w", g.Key, backend.ErrGuardFailed)
	}
	return fn()
}

// CommitRelease implements backend.ReleaseCommitter. req.Ops must be a
// func() error; it runs while the store is locked, after the version was
// checked, and the record is released only if it returns nil. The function
// must apply all of its writes or none: memstore cannot undo them.
func (s *Store) CommitRelease(ctx context.Context, req backend.CommitReleaseRequest) error {
	fn, ok := req.Ops.(func() error)
	if !ok {
		return fmt.Errorf("%w: memstore ops must be func() error, got %T", backend.ErrInvalid, req.Ops)
	}
	key := req.Record.Key
	if err := check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.get(key)
	if !ok || cur.Version != req.ExpectVersion {
		return s.conflict(key)
	}
	if err := fn(); err != nil {
		return err
	}
	if req.Delete {
		delete(s.records, key)
		return nil
	}
	rec := req.Record.Clone()
	rec.Token = cur.Token
	rec.Attributes = mergeAttributes(cur.Attributes, rec.Attributes)
	s.put(rec)
	return nil
}

func (s *Store) conflict(key backend.Key) error {
	ce := &backend.ConflictError{Key: key}
	if cur, ok := s.get(key); ok {
		c := cur.Clone()
		ce.Current = &c
	}
	return ce
}

func check(ctx context.Context, key backend.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return backend.ValidateKey(key, 0)
}

func keyLess(a, b backend.Key) bool {
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Sort < b.Sort
}

// mergeAttributes returns old overlaid with set; nil when both are empty.
func mergeAttributes(old, set map[string]string) map[string]string {
	if len(old) == 0 {
		return set
	}
	out := maps.Clone(old)
	maps.Copy(out, set)
	return out
}
