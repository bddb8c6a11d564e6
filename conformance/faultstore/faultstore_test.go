package faultstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/memstore"
)

// With no faults configured the wrapper must be a transparent Store.
func TestTransparentWithoutFaults(t *testing.T) {
	conformance.RunStore(t, conformance.StoreHarness{
		NewStores: func(*testing.T) (backend.Store, backend.Store) {
			m := memstore.New()
			return faultstore.New(m, nil), faultstore.New(m, nil)
		},
		Races: 200,
	})
}

func TestScriptedFaults(t *testing.T) {
	ctx := context.Background()
	key := backend.Key{Partition: "k"}
	rec := backend.Record{Key: key, Owner: "o", Version: "v1"}

	t.Run("Unavailable writes nothing", func(t *testing.T) {
		m := memstore.New()
		s := faultstore.New(m, nil)
		s.Inject(faultstore.OpAcquire, faultstore.Unavailable)
		_, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
		require.ErrorIs(t, err, backend.ErrUnavailable)
		_, err = m.Get(ctx, key)
		require.ErrorIs(t, err, backend.ErrNotFound)
		require.Equal(t, 1, s.Injected(faultstore.Unavailable))
	})
	t.Run("Ambiguous applies", func(t *testing.T) {
		m := memstore.New()
		s := faultstore.New(m, nil)
		s.Inject(faultstore.OpAcquire, faultstore.Ambiguous)
		_, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
		require.ErrorIs(t, err, backend.ErrAmbiguous)
		got, err := m.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, "v1", got.Version)
	})
	t.Run("LostBeforeApply does not apply", func(t *testing.T) {
		m := memstore.New()
		s := faultstore.New(m, nil)
		s.Inject(faultstore.OpAcquire, faultstore.LostBeforeApply)
		_, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
		require.ErrorIs(t, err, backend.ErrAmbiguous)
		_, err = m.Get(ctx, key)
		require.ErrorIs(t, err, backend.ErrNotFound)
	})
	t.Run("DroppedResponse applies and reports a conflict with our own record", func(t *testing.T) {
		m := memstore.New()
		s := faultstore.New(m, nil)
		s.Inject(faultstore.OpAcquire, faultstore.DroppedResponse)
		_, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
		var ce *backend.ConflictError
		require.True(t, errors.As(err, &ce))
		require.NotNil(t, ce.Current)
		require.Equal(t, "v1", ce.Current.Version)
		require.Equal(t, 1, s.Calls(faultstore.OpAcquire))
	})
}

func TestRandomFaultsAreSeededAndCounted(t *testing.T) {
	run := func() (faults int) {
		s := faultstore.New(memstore.New(), nil)
		s.SetRates(faultstore.Rates{Unavailable: 0.3}, 42)
		for range 1000 {
			if _, err := s.Get(context.Background(), backend.Key{Partition: "k"}); errors.Is(err, backend.ErrUnavailable) {
				faults++
			}
		}
		require.Equal(t, faults, s.Injected(faultstore.Unavailable))
		return faults
	}
	first := run()
	require.InDelta(t, 300, first, 60, "about 30%% of calls must fail")
	require.Equal(t, first, run(), "the same seed must give the same faults")
}

// Capable passes the wrapped store's optional capabilities through, and
// only those; faults reach them too.
func TestCapablePassesCapabilitiesThrough(t *testing.T) {
	ctx := context.Background()
	m := memstore.New()
	fs := faultstore.New(m, nil)
	s := fs.Capable()
	lister, ok := s.(backend.Lister)
	require.True(t, ok, "memstore lists, so the wrapper must")
	gw, ok := s.(backend.GuardedWriter)
	require.True(t, ok, "memstore has guarded writes, so the wrapper must")

	_, err := s.Acquire(ctx, backend.AcquireRequest{Record: backend.Record{Key: backend.Key{Partition: "k"}, Owner: "o", Version: "v1"}})
	require.NoError(t, err)
	page, err := lister.List(ctx, backend.ListRequest{})
	require.NoError(t, err)
	require.Len(t, page.Records, 1)
	fs.Inject(faultstore.OpList, faultstore.Ambiguous)
	_, err = lister.List(ctx, backend.ListRequest{})
	require.ErrorIs(t, err, backend.ErrUnavailable, "a listing fails as a read does")

	guard := backend.Guard{Key: backend.Key{Partition: "k"}, Owner: "o", Token: 1}
	wrote := 0
	fs.Inject(faultstore.OpWriteGuarded, faultstore.DroppedResponse)
	err = gw.WriteGuarded(ctx, guard, func() error { wrote++; return nil })
	require.ErrorIs(t, err, backend.ErrAmbiguous, "applied, answer lost")
	require.Equal(t, 1, wrote)
	fs.Inject(faultstore.OpWriteGuarded, faultstore.Unavailable)
	require.ErrorIs(t, gw.WriteGuarded(ctx, guard, func() error { wrote++; return nil }), backend.ErrUnavailable)
	require.Equal(t, 1, wrote, "nothing applied")
	require.Equal(t, 2, fs.Calls(faultstore.OpWriteGuarded))
	require.Equal(t, 2, fs.Calls(faultstore.OpList))

	bare := faultstore.New(getOnly{m}, nil).Capable()
	_, ok = bare.(backend.Lister)
	require.False(t, ok, "a store without listing gets no List")
	_, ok = bare.(backend.GuardedWriter)
	require.False(t, ok)
}

// getOnly hides memstore's optional capabilities.
type getOnly struct{ backend.Store }
