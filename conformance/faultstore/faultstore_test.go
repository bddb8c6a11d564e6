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
