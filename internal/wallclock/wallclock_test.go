package wallclock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

func TestStampRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	rec := backend.Record{Version: "v2", Attributes: map[string]string{Attribute: Stamp(at, "v2")}}
	got, ok := WrittenAt(rec)
	require.True(t, ok)
	require.True(t, got.Equal(at))

	rec.Version = "v3" // written since by a client that keeps no stamp
	_, ok = WrittenAt(rec)
	require.False(t, ok, "a stamp of another version is stale")

	for _, bad := range []string{"", "123", "x v3", "123v3"} {
		_, ok = WrittenAt(backend.Record{Version: "v3", Attributes: map[string]string{Attribute: bad}})
		require.False(t, ok, "%q", bad)
	}
}
