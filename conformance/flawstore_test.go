package conformance_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// flaw is one mistake flawStore can make. Each splits what must be one
// atomic step into two, the way a store built on a database goes wrong
// when it reads in one statement and writes in the next, or leaves out one
// part of a condition.
type flaw int

const (
	flawNone flaw = iota
	// The next token comes from a read made before the write, outside
	// the lock: two acquisitions can get the same token.
	flawTokenFromEarlierRead
	// A refusal's Current comes from a second read after the refusal.
	flawCurrentReadAfterRefusal
	// Replaced comes from a read made before the write, outside the
	// lock, while the condition is checked at the write.
	flawReplacedReadBeforeWrite
	// Acquire writes the new attributes in place of the old ones.
	flawAcquireOverwritesAttributes
	// With sequence tokens: the number is drawn before the write, outside
	// the lock, so a later tenure can get a smaller token than an earlier
	// one.
	flawSequenceDrawnBeforeWrite
)

// flawStore is a map under a mutex, written for these tests: correct
// without its flaw (TestFlawStoreIsCorrectWithoutItsFlaw), so that what
// the suite catches is the flaw alone.
type flawStore struct {
	flaw flaw
	mu   sync.Mutex
	recs map[backend.Key]backend.Record
	// sequence: tokens come from one counter for all keys, drawn in the
	// write's own step, as a SQL sequence would give them: strictly
	// increasing for each key, but skipping (conformance's TokensMaySkip).
	sequence bool
	seq      *atomic.Uint64
}

// sequence is the counter of every sequence store: like a sequence shared
// by many tables, each new store's first token is somewhere above 1.
var sequence atomic.Uint64

var _ backend.Store = (*flawStore)(nil)

func newFlawStore(f flaw) *flawStore {
	return &flawStore{flaw: f, recs: map[backend.Key]backend.Record{}, sequence: f == flawSequenceDrawnBeforeWrite,
		seq: &sequence}
}

// newSequenceStore is a flawStore whose tokens come from one counter.
func newSequenceStore(f flaw) *flawStore {
	s := newFlawStore(f)
	s.sequence = true
	return s
}

// yield lets the other handle's calls run between the two steps a flaw
// splits. Its length varies so that either handle may go first; a bare
// runtime.Gosched often lets nothing run, as both handles start together.
func yield() { time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond) }

func (s *flawStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	if err := check(ctx, key); err != nil {
		return backend.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[key]
	if !ok {
		return backend.Record{}, fmt.Errorf("flawstore: %q: %w", key, backend.ErrNotFound)
	}
	return rec.Clone(), nil
}

func (s *flawStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	key := req.Record.Key
	if err := check(ctx, key); err != nil {
		return backend.Acquired{}, err
	}
	var drawn uint64 // the flawed sequence number drawn before the write
	if s.flaw == flawSequenceDrawnBeforeWrite {
		drawn = s.seq.Add(1)
		yield()
	}
	var early *backend.Record // the flawed read before the write
	if s.flaw == flawTokenFromEarlierRead || s.flaw == flawReplacedReadBeforeWrite {
		s.mu.Lock()
		if cur, ok := s.recs[key]; ok {
			c := cur.Clone()
			early = &c
		}
		s.mu.Unlock()
		yield()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.recs[key]
	free := (!exists && !req.MustExist) || (exists && cur.Released)
	if req.ExpectVersion != "" {
		free = exists && cur.Version == req.ExpectVersion
	}
	if !free {
		return backend.Acquired{}, s.conflict(key)
	}
	rec := req.Record.Clone()
	rec.Token, rec.Released = 1, false
	var replaced *backend.Record
	if exists {
		old := cur.Clone()
		replaced = &old
		rec.Token = cur.Token + 1
		if req.KeepData && len(rec.Data) == 0 {
			rec.Data = old.Data
		}
		if s.flaw != flawAcquireOverwritesAttributes {
			rec.Attributes = merge(old.Attributes, rec.Attributes)
		}
	}
	switch s.flaw {
	case flawTokenFromEarlierRead:
		rec.Token = 1
		if early != nil {
			rec.Token = early.Token + 1
		}
	case flawReplacedReadBeforeWrite:
		replaced = early
	}
	if s.sequence {
		rec.Token = drawn
		if drawn == 0 {
			rec.Token = s.seq.Add(1)
		}
	}
	s.recs[key] = rec.Clone()
	return backend.Acquired{Record: rec, Replaced: replaced}, nil
}

func (s *flawStore) Update(ctx context.Context, rec backend.Record, expectVersion string) (backend.Record, error) {
	if err := check(ctx, rec.Key); err != nil {
		return backend.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.recs[rec.Key]
	if !ok || cur.Version != expectVersion {
		return backend.Record{}, s.conflict(rec.Key)
	}
	rec = rec.Clone()
	rec.Token = cur.Token
	rec.Attributes = merge(cur.Attributes, rec.Attributes)
	s.recs[rec.Key] = rec.Clone()
	return rec, nil
}

func (s *flawStore) Delete(ctx context.Context, key backend.Key, expectVersion string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.recs[key]
	if !ok || cur.Version != expectVersion {
		return s.conflict(key)
	}
	delete(s.recs, key)
	return nil
}

// conflict builds the refusal; s.mu is held.
func (s *flawStore) conflict(key backend.Key) error {
	if s.flaw == flawCurrentReadAfterRefusal {
		s.mu.Unlock()
		yield()
		s.mu.Lock()
	}
	ce := &backend.ConflictError{Key: key}
	if cur, ok := s.recs[key]; ok {
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

func merge(old, set map[string]string) map[string]string {
	if len(old) == 0 {
		return set
	}
	out := maps.Clone(old)
	maps.Copy(out, set)
	return out
}
