package wallclock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

func TestVersionCarriesItsTime(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	v := NewVersion(at)
	require.Len(t, v, VersionLen)
	require.Equal(t, byte('7'), v[14], "a UUIDv7")
	require.Contains(t, "89ab", string(v[19]), "RFC 9562 variant")
	got, ok := WrittenAt(backend.Record{Version: v})
	require.True(t, ok)
	require.True(t, got.Equal(at))
	require.NotEqual(t, v, NewVersion(at), "versions are unique even within a millisecond")
}

func TestOtherVersionsCarryNoTime(t *testing.T) {
	for _, v := range []string{
		"0b1c2e4a-8f3d-4c2b-9e1f-2a3b4c5d6e7f",           // a v4, as the Java client writes
		"", "v1", "0b1c2e4a-8f3d-7c2b-1e1f-2a3b4c5d6e7f", // wrong variant
		"zzzzzzzz-8f3d-7c2b-9e1f-2a3b4c5d6e7f",
	} {
		_, ok := WrittenAt(backend.Record{Version: v})
		require.False(t, ok, "%q", v)
	}
}

func TestLegacyStampAttribute(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	rec := backend.Record{Version: "v2", Attributes: map[string]string{Attribute: "1700000000123 v2"}}
	got, ok := WrittenAt(rec)
	require.True(t, ok)
	require.True(t, got.Equal(at))

	rec.Version = "v3" // written since by a client that keeps no time
	_, ok = WrittenAt(rec)
	require.False(t, ok, "a stamp of another version is stale")

	for _, bad := range []string{"", "123", "x v3", "123v3"} {
		_, ok = WrittenAt(backend.Record{Version: "v3", Attributes: map[string]string{Attribute: bad}})
		require.False(t, ok, "%q", bad)
	}
}
