package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// versionOf reads the version of key's record, as a waiter that watched it
// would know it.
func versionOf(t testing.TB, s backend.Store, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec, err := s.Get(ctx, backend.Key{Partition: key})
	require.NoError(t, err)
	return rec.Version
}
