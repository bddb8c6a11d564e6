// Package faultstore wraps any backend.Store and injects the failures a real
// network store produces, so the engine's and a store's failure handling can
// be tested deterministically.
//
// Faults come two ways: scripted (Inject queues a fault for the next call of
// one operation) and random (Rates, drawn from a seeded generator so a
// failing run can be replayed). The kinds mirror what DynamoDB clients see:
//
//   - Unavailable: the call fails before reaching the store; nothing written.
//   - Ambiguous: the write is applied, then the caller gets an
//     *backend.AmbiguousError (a timeout after sending).
//   - LostBeforeApply: the caller gets an *backend.AmbiguousError and the
//     write was NOT applied (a timeout before the request arrived).
//   - DroppedResponse: the write is applied, the response is lost, and the
//     client's automatic retry is refused with a conflict carrying the
//     record the store holds then, marked MaybeApplied — what aws-sdk-go-v2
//     really returns, and what dynamostore reports.
//   - Latency: the call is delayed on the wrapper's clock before it runs.
//
// Capable passes the wrapped store's optional capabilities (listing,
// guarded writes) through, with faults injected there too.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/leaselock/leaselock/backend"
)

// Op names a Store method.
type Op string

// The operations of backend.Store.
const (
	OpGet     Op = "Get"
	OpAcquire Op = "Acquire"
	OpUpdate  Op = "Update"
	OpDelete  Op = "Delete"
)

// Kind is a kind of fault.
type Kind int

// Fault kinds; see the package documentation.
const (
	None Kind = iota
	Unavailable
	Ambiguous
	LostBeforeApply
	DroppedResponse
	Latency
)

func (k Kind) String() string {
	return [...]string{"none", "unavailable", "ambiguous", "lost-before-apply", "dropped-response", "latency"}[k]
}

// Rates are per-call probabilities of each random fault; they apply to every
// operation (read faults other than Unavailable and Latency act as
// Unavailable, since a read has nothing to apply).
type Rates struct {
	Unavailable, Ambiguous, LostBeforeApply, DroppedResponse, Latency float64
	Delay                                                             time.Duration // length of a Latency fault
}

// Store is a fault-injecting backend.Store. It also counts calls, so tests
// can check the engine's round-trip budget.
type Store struct {
	inner backend.Store
	clk   clock.Clock

	mu       sync.Mutex
	rates    Rates
	rng      *rand.Rand
	queued   map[Op][]fault
	calls    map[Op]int
	injected map[Kind]int
}

var _ backend.Store = (*Store)(nil)

// New wraps inner. clk times Latency faults (nil: the real clock).
func New(inner backend.Store, clk clock.Clock) *Store {
	if clk == nil {
		clk = clock.New()
	}
	return &Store{inner: inner, clk: clk, rng: rand.New(rand.NewPCG(1, 2)),
		queued: map[Op][]fault{}, calls: map[Op]int{}, injected: map[Kind]int{}}
}

// SetRates turns random faults on (or off, with the zero Rates), drawing
// from a generator seeded with seed.
func (s *Store) SetRates(r Rates, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rates, s.rng = r, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// fault is one scripted fault: its kind, and what runs between the write
// being applied and the answer being made (nil: nothing).
type fault struct {
	kind Kind
	then func()
}

// Inject queues faults for the next calls of op, in order. Scripted faults
// take precedence over random ones.
func (s *Store) Inject(op Op, kinds ...Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range kinds {
		s.queued[op] = append(s.queued[op], fault{kind: k})
	}
}

// InjectThen queues one fault of kind k (Ambiguous or DroppedResponse) for
// the next call of op, and runs then after the write was applied and
// before the caller gets its answer: another client can act in the gap,
// as it can while a lost response is retried.
func (s *Store) InjectThen(op Op, k Kind, then func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued[op] = append(s.queued[op], fault{kind: k, then: then})
}

// Calls reports how many times op was called, faulty calls included.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Injected reports how many faults of kind k were injected so far.
func (s *Store) Injected(k Kind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.injected[k]
}

// Inner returns the wrapped store, for tests that must bypass the faults.
func (s *Store) Inner() backend.Store { return s.inner }

// next decides the fault for one call of op.
func (s *Store) next(op Op) fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	var f fault
	if q := s.queued[op]; len(q) > 0 {
		f, s.queued[op] = q[0], q[1:]
	} else {
		x, r := s.rng.Float64(), s.rates
		for _, c := range []struct {
			p float64
			k Kind
		}{{r.Unavailable, Unavailable}, {r.Ambiguous, Ambiguous}, {r.LostBeforeApply, LostBeforeApply},
			{r.DroppedResponse, DroppedResponse}, {r.Latency, Latency}} {
			if x < c.p {
				f.kind = c.k
				break
			}
			x -= c.p
		}
	}
	switch {
	case (op == OpGet || op == OpList) && f.kind != None && f.kind != Latency:
		f.kind = Unavailable // a read has nothing to apply
	case op == OpWriteGuarded && f.kind == DroppedResponse:
		f.kind = Ambiguous
	}
	if f.kind != None {
		s.injected[f.kind]++
	}
	return f
}

var errInjected = errors.New("faultstore: injected fault")

// do runs one call under the fault chosen for op; apply performs it. A
// dropped response reads the record back for the conflict it returns.
func (s *Store) do(ctx context.Context, op Op, key backend.Key, apply func() error) error {
	f := s.next(op)
	then := func() {
		if f.then != nil {
			f.then()
		}
	}
	switch f.kind {
	case Unavailable:
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, errInjected)
	case LostBeforeApply:
		return &backend.AmbiguousError{Err: fmt.Errorf("%w: request lost before apply", errInjected)}
	case Latency:
		if err := s.sleep(ctx); err != nil {
			return err
		}
	case Ambiguous:
		if err := apply(); err != nil {
			return err
		}
		then()
		return &backend.AmbiguousError{Err: fmt.Errorf("%w: response timed out", errInjected)}
	case DroppedResponse:
		if err := apply(); err != nil {
			return err
		}
		then()
		ce := &backend.ConflictError{Key: key, MaybeApplied: true}
		if cur, err := s.inner.Get(ctx, key); err == nil {
			ce.Current = &cur
		}
		return ce
	}
	return apply()
}

func (s *Store) sleep(ctx context.Context) error {
	s.mu.Lock()
	d := s.rates.Delay
	s.mu.Unlock()
	t := s.clk.Timer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get implements backend.Store.
func (s *Store) Get(ctx context.Context, key backend.Key) (rec backend.Record, err error) {
	err = s.do(ctx, OpGet, key, func() (err error) { rec, err = s.inner.Get(ctx, key); return err })
	return rec, err
}

// Acquire implements backend.Store.
func (s *Store) Acquire(ctx context.Context, req backend.AcquireRequest) (got backend.Acquired, err error) {
	err = s.do(ctx, OpAcquire, req.Record.Key, func() (err error) { got, err = s.inner.Acquire(ctx, req); return err })
	return got, err
}

// Update implements backend.Store.
func (s *Store) Update(ctx context.Context, rec backend.Record, expect string) (got backend.Record, err error) {
	err = s.do(ctx, OpUpdate, rec.Key, func() (err error) { got, err = s.inner.Update(ctx, rec, expect); return err })
	return got, err
}

// Delete implements backend.Store.
func (s *Store) Delete(ctx context.Context, key backend.Key, expect string) error {
	return s.do(ctx, OpDelete, key, func() error { return s.inner.Delete(ctx, key, expect) })
}
