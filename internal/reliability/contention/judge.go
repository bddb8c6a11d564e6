package contention

import (
	"context"
	"errors"
	"sync"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// StealJudge tells true steals from false ones. In these runs nobody
// forces a key: a key changes hands while held only by a takeover, an
// Acquire with ExpectVersion naming a version the holder wrote. So a Stolen
// report is true only if some takeover (applied, or possibly applied) named
// one of the versions that holder's acquisition wrote.
type StealJudge struct {
	mu        sync.Mutex
	written   map[tenure]map[string]bool // versions each acquisition wrote
	acquires  map[tenure]map[string]bool // versions acquires sent, by key and owner (token 0)
	takeovers map[backend.Key]map[string]bool
}

type tenure struct {
	key   backend.Key
	owner string
	token uint64
}

// NewStealJudge returns a judge that has seen nothing; wrap every client's
// store with Watch.
func NewStealJudge() *StealJudge {
	return &StealJudge{written: map[tenure]map[string]bool{}, acquires: map[tenure]map[string]bool{},
		takeovers: map[backend.Key]map[string]bool{}}
}

// wrote records a version sent by tenure t; token 0 is an acquire's.
func (j *StealJudge) wrote(t tenure, version string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m := j.written
	if t.token == 0 {
		m = j.acquires
	}
	if m[t] == nil {
		m[t] = map[string]bool{}
	}
	m[t][version] = true
}

// isTrueSteal judges a Stolen report for l. An acquisition's first version
// is known by key and owner only (an acquire whose answer was lost learns
// its token from a read), so any acquire of that owner on the key counts:
// the judge errs towards "true", never towards a false alarm.
func (j *StealJudge) isTrueSteal(l *lock.Lock) bool {
	key := backend.Key{Partition: l.Key(), Sort: l.SortKey()}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, versions := range []map[string]bool{j.written[tenure{key, l.Owner(), l.Token()}], j.acquires[tenure{key, l.Owner(), 0}]} {
		for v := range versions {
			if j.takeovers[key][v] {
				return true
			}
		}
	}
	return false
}

// Watch wraps a client's store so the judge sees its writes. Guarded
// writes pass through unwatched when s has them.
func (j *StealJudge) Watch(s backend.Store) backend.Store { return judged{s, j} }

// judged wraps a client's store and tells the judge what it sees.
type judged struct {
	backend.Store
	j *StealJudge
}

func (s judged) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	s.j.wrote(tenure{req.Record.Key, req.Record.Owner, 0}, req.Record.Version)
	got, err := s.Store.Acquire(ctx, req)
	var ce *backend.ConflictError
	definite := (errors.As(err, &ce) && !ce.MaybeApplied) || errors.Is(err, backend.ErrUnavailable) ||
		errors.Is(err, backend.ErrInvalid)
	if req.ExpectVersion != "" && !definite {
		s.j.mu.Lock()
		if s.j.takeovers[req.Record.Key] == nil {
			s.j.takeovers[req.Record.Key] = map[string]bool{}
		}
		s.j.takeovers[req.Record.Key][req.ExpectVersion] = true
		s.j.mu.Unlock()
	}
	return got, err
}

func (s judged) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	s.j.wrote(tenure{rec.Key, rec.Owner, rec.Token}, rec.Version)
	return s.Store.Update(ctx, rec, expect)
}

func (s judged) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	return writeGuarded(ctx, s.Store, g, ops)
}
