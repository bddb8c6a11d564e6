package lock_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/memstore"
)

var backendListAll = backend.ListRequest{}

// overwrite writes another owner's record over key's, as an operator who
// force-takes a lock does: its holder finds it stolen at its next write.
func overwrite(t *testing.T, mem *memstore.Store, key string) {
	t.Helper()
	ctx := context.Background()
	cur, err := mem.Get(ctx, backend.Key{Partition: key})
	require.NoError(t, err)
	next := cur
	next.Owner, next.Version = "mallory", "mallory-1"
	_, err = mem.Update(ctx, next, cur.Version)
	require.NoError(t, err)
}
