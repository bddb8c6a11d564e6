package faultstore

import (
	"context"

	"github.com/leaselock/leaselock/backend"
)

// The optional capabilities' operations, for Inject and Calls.
const (
	OpList         Op = "List"
	OpWriteGuarded Op = "WriteGuarded"
)

// Capable returns s as a backend.Store that also has each optional
// capability the wrapped store has (backend.Lister, backend.GuardedWriter),
// and only those, so the engine and the suites find by type assertion what
// they would find on the store itself. Faults reach those calls too: a
// listing fails or is delayed as a read is; a guarded write as any write,
// a dropped response counting as ambiguous (the SDK retries a transaction
// under its idempotency token, so a retry does not conflict).
func (s *Store) Capable() backend.Store {
	l, canList := s.inner.(backend.Lister)
	g, canGuard := s.inner.(backend.GuardedWriter)
	switch {
	case canList && canGuard:
		return struct {
			*Store
			lister
			guarder
		}{s, lister{s, l}, guarder{s, g}}
	case canList:
		return struct {
			*Store
			lister
		}{s, lister{s, l}}
	case canGuard:
		return struct {
			*Store
			guarder
		}{s, guarder{s, g}}
	}
	return s
}

type lister struct {
	s     *Store
	inner backend.Lister
}

func (l lister) List(ctx context.Context, req backend.ListRequest) (page backend.ListPage, err error) {
	err = l.s.do(ctx, OpList, backend.Key{}, func() (err error) { page, err = l.inner.List(ctx, req); return err })
	return page, err
}

type guarder struct {
	s     *Store
	inner backend.GuardedWriter
}

func (g guarder) WriteGuarded(ctx context.Context, gd backend.Guard, ops any) error {
	return g.s.do(ctx, OpWriteGuarded, gd.Key, func() error { return g.inner.WriteGuarded(ctx, gd, ops) })
}
