package conformance

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// sortKeyCases check that the store tells keys apart exactly as its
// declared SortKeyMode says. A store that silently drops a sort value (or
// a missing one) would make two different lock names one lock.
func sortKeyCases(h StoreHarness) []storeCase {
	mode := h.SortKeys
	only := func(want ...SortKeyMode) string {
		for _, m := range want {
			if mode == m {
				return ""
			}
		}
		return "harness declares SortKeys " + mode.String() + "; clause applies to " + modes(want)
	}
	return []storeCase{
		{name: "Keys/SortKeyDistinct", skip: only(SortKeysOptional, SortKeysRequired), run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			p := e.key().Partition
			sorts := []string{"one", "two"}
			if e.h.SortKeys == SortKeysOptional {
				sorts = append(sorts, "")
			}
			var held []backend.Record
			for i, s := range sorts {
				st := []backend.Store{e.a, e.b}[i%2]
				held = append(held, acquireFree(t, ctx, st, lease(backend.Key{Partition: p, Sort: s}, "o-"+s)).Record)
			}
			release(t, ctx, e.a, held[0])
			for _, r := range held[1:] {
				requireStored(t, ctx, e.a, r)
			}
		}},
		{name: "Keys/SortKeyRefusedWithoutSortKeys", skip: only(SortKeysNone), run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			requireInvalidKey(t, ctx, e.a, backend.Key{Partition: e.key().Partition, Sort: "s"})
		}},
		{name: "Keys/SortKeyMissingRefused", skip: only(SortKeysRequired), run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			requireInvalidKey(t, ctx, e.a, backend.Key{Partition: e.key().Partition})
		}},
	}
}

// requireInvalidKey checks every Store method refuses key with ErrInvalid
// and that nothing was written under it.
func requireInvalidKey(t *testing.T, ctx context.Context, s backend.Store, key backend.Key) {
	t.Helper()
	_, err := s.Get(ctx, key)
	require.ErrorIs(t, err, backend.ErrInvalid, "Get(%q)", key)
	_, err = s.Acquire(ctx, backend.AcquireRequest{Record: lease(key, "alice")})
	require.ErrorIs(t, err, backend.ErrInvalid, "Acquire(%q)", key)
	_, err = s.Update(ctx, lease(key, "alice"), "v")
	require.ErrorIs(t, err, backend.ErrInvalid, "Update(%q)", key)
	require.ErrorIs(t, s.Delete(ctx, key, "v"), backend.ErrInvalid, "Delete(%q)", key)
}

func modes(ms []SortKeyMode) string {
	out := ""
	for i, m := range ms {
		if i > 0 {
			out += ", "
		}
		out += m.String()
	}
	return out
}
