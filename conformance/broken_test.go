package conformance_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/memstore"
)

// Deliberately broken stores. Each breaks one clause of the contract; the
// suite must catch every one of them, or it would pass broken stores too.
var brokenStores = map[string]func(*memstore.Store) backend.Store{
	// Compare-and-swap that ignores the expected version.
	"cas-ignores-version": func(m *memstore.Store) backend.Store { return casIgnoresVersion{m} },
	// Acquisitions that do not advance the fencing token.
	"token-does-not-advance": func(m *memstore.Store) backend.Store { return frozenToken{m} },
	// Conflicts that do not say who holds the key.
	"conflict-without-record": func(m *memstore.Store) backend.Store { return bareConflict{m} },
	// Acquire reports success but the write is lost.
	"lost-write": func(m *memstore.Store) backend.Store { return lostWrite{m} },
}

type casIgnoresVersion struct{ *memstore.Store }

func (s casIgnoresVersion) Update(ctx context.Context, rec backend.Record, _ string) (backend.Record, error) {
	cur, err := s.Store.Get(ctx, rec.Key)
	if err != nil {
		return s.Store.Update(ctx, rec, "")
	}
	return s.Store.Update(ctx, rec, cur.Version)
}

type frozenToken struct{ *memstore.Store }

func (s frozenToken) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := s.Store.Acquire(ctx, req)
	if err == nil && got.Replaced != nil {
		got.Record.Token = got.Replaced.Token
	}
	return got, err
}

type bareConflict struct{ *memstore.Store }

func strip(err error) error {
	if ce, ok := err.(*backend.ConflictError); ok {
		return &backend.ConflictError{Key: ce.Key}
	}
	return err
}

func (s bareConflict) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := s.Store.Acquire(ctx, req)
	return got, strip(err)
}

func (s bareConflict) Update(ctx context.Context, rec backend.Record, v string) (backend.Record, error) {
	got, err := s.Store.Update(ctx, rec, v)
	return got, strip(err)
}

type lostWrite struct{ *memstore.Store }

func (s lostWrite) Acquire(_ context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	rec := req.Record
	rec.Token = 1
	return backend.Acquired{Record: rec}, nil
}

const brokenEnv = "LEASELOCK_BROKEN_STORE"

// TestBrokenStoresAreCaught runs the suite on each broken store in a child
// process (a failing suite must not fail this test) and requires it to fail.
func TestBrokenStoresAreCaught(t *testing.T) {
	failLine := regexp.MustCompile(`--- FAIL: TestBrokenStoreChild/(\S+)`)
	for name := range brokenStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the suite passed a store that is broken (%s):\n%s", name, out)
			caught := failLine.FindAllStringSubmatch(string(out), -1)
			require.NotEmpty(t, caught, "the child failed without a failing clause:\n%s", out)
			var clauses []string
			for _, m := range caught {
				clauses = append(clauses, m[1])
			}
			t.Logf("%s caught by %d clauses: %v", name, len(clauses), clauses)
		})
	}
}

// TestBrokenStoreChild is the child half of TestBrokenStoresAreCaught; it does
// nothing unless that test started it.
func TestBrokenStoreChild(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("runs only as the child of TestBrokenStoresAreCaught")
	}
	wrap := brokenStores[name]
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores: func(*testing.T) (backend.Store, backend.Store) {
			s := wrap(memstore.New())
			return s, s
		},
		Races: 100,
	})
}
