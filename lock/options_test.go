package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

func TestNewRejectsInvalidSettings(t *testing.T) {
	cases := map[string][]lock.Option{
		"empty owner":          {lock.WithOwner("")},
		"owner not UTF-8":      {lock.WithOwner("alice\xff")},
		"zero lease":           {lock.WithLeaseDuration(0)},
		"negative lease":       {lock.WithLeaseDuration(-time.Second)},
		"zero heartbeat":       {lock.WithHeartbeatPeriod(0)},
		"heartbeat above half": {lock.WithLeaseDuration(10 * time.Second), lock.WithHeartbeatPeriod(5*time.Second + 1)},
		"zero poll":            {lock.WithPollPeriod(0)},
		"negative drift":       {lock.WithClockDrift(-0.1)},
		"drift of one half":    {lock.WithClockDrift(0.5)},
		"negative skew":        {lock.WithWallClockExpiry(-time.Second)},
		"negative rate":        {lock.WithHeartbeatRate(-1)},
		"no heartbeat workers": {lock.WithHeartbeatWorkers(0)},
		"nil option":           {nil},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := lock.New(memstore.New(), opts...)
			require.ErrorIs(t, err, lock.ErrInvalidOption)
			require.Nil(t, c)
		})
	}
	_, err := lock.New(nil)
	require.ErrorIs(t, err, lock.ErrInvalidOption, "nil store")
}

func TestDefaultOwnerIsUniquePerClient(t *testing.T) {
	s := memstore.New()
	a, err := lock.New(s)
	require.NoError(t, err)
	defer a.Close(context.Background())
	b, err := lock.New(s)
	require.NoError(t, err)
	defer b.Close(context.Background())
	require.NotEmpty(t, a.Owner())
	require.NotEqual(t, a.Owner(), b.Owner())
}

func TestAcquireRejectsInvalidInput(t *testing.T) {
	s := memstore.New()
	c, err := lock.New(s, lock.WithOwner("alice"))
	require.NoError(t, err)
	defer c.Close(context.Background())
	ctx := context.Background()
	cases := map[string]struct {
		key  string
		opts []lock.AcquireOption
		want error
	}{
		"empty key":           {"", nil, lock.ErrInvalidKey},
		"invalid UTF-8":       {"bad\xff", nil, lock.ErrInvalidKey},
		"bad sort key":        {"k", []lock.AcquireOption{lock.WithSortKey("\xfe")}, lock.ErrInvalidKey},
		"nil option":          {"k", []lock.AcquireOption{nil}, lock.ErrInvalidOption},
		"negative wait":       {"k", []lock.AcquireOption{lock.AdditionalWait(-1)}, lock.ErrInvalidOption},
		"negative max hold":   {"k", []lock.AcquireOption{lock.MaxHold(-1)}, lock.ErrInvalidOption},
		"danger past lease":   {"k", []lock.AcquireOption{lock.OnDanger(time.Hour, func(*lock.Lock) {})}, lock.ErrInvalidOption},
		"danger without fn":   {"k", []lock.AcquireOption{lock.OnDanger(time.Second, nil)}, lock.ErrInvalidOption},
		"reserved attribute":  {"k", []lock.AcquireOption{lock.WithAttributes(map[string]string{"leaselockWrittenAtMillis": "1"})}, lock.ErrInvalidOption},
		"attribute not UTF-8": {"k", []lock.AcquireOption{lock.WithAttributes(map[string]string{"note": "v\xff"})}, lock.ErrInvalidOption},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := c.Acquire(ctx, tc.key, tc.opts...)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, l)
			page, err := s.List(ctx, backendListAll)
			require.NoError(t, err)
			require.Empty(t, page.Records, "nothing may be written on invalid input")
		})
	}
}
