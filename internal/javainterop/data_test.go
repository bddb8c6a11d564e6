package javainterop

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestDataCrossesOver: lock data (a B attribute) written by either side —
// on acquire, on a heartbeat, on release — is read back by the other, and
// so are extra string attributes.
func TestDataCrossesOver(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		j := e.startJava(t, "java-data")
		g := e.goClient(t, "go-data")

		// Java -> leaselock.
		got := j.lock(t, "acquire from-java data="+hexOf("java acquire"))
		require.Equal(t, []byte("java acquire"), got.data())
		require.Equal(t, b([]byte("java acquire")), e.raw(t, "from-java")["data"])
		info, err := g.Get(c, "from-java", "")
		require.NoError(t, err)
		require.Equal(t, []byte("java acquire"), info.Data)

		j.lock(t, "heartbeat from-java data="+hexOf("java heartbeat"))
		info, err = g.Get(c, "from-java", "")
		require.NoError(t, err)
		require.Equal(t, []byte("java heartbeat"), info.Data)

		require.Equal(t, "released", j.Must(t, "release from-java mode=mark data="+hexOf("java release")))
		l, err := g.Acquire(c, "from-java", lock.KeepData())
		require.NoError(t, err)
		require.Equal(t, []byte("java release"), l.Data(), "KeepData keeps what Java left on release")
		require.Equal(t, b([]byte("java release")), e.raw(t, "from-java")["data"])

		j.lock(t, "acquire cleared delete=false data="+hexOf("left behind"))
		require.Equal(t, "released", j.Must(t, "release cleared"))
		l, err = g.Acquire(c, "cleared")
		require.NoError(t, err)
		require.Empty(t, l.Data(), "without KeepData a fresh acquisition clears the data")
		require.NotContains(t, e.raw(t, "cleared"), "data")

		// leaselock -> Java.
		l, err = g.Acquire(c, "from-go", lock.WithData([]byte("go acquire")))
		require.NoError(t, err)
		require.Equal(t, []byte("go acquire"), j.lock(t, "get from-go").data())

		require.NoError(t, l.Heartbeat(c, lock.WithNewData([]byte("go heartbeat"))))
		require.Equal(t, []byte("go heartbeat"), j.lock(t, "get from-go").data())

		require.NoError(t, l.Release(c, lock.ReleaseWithData([]byte("go release"))))
		got = j.lock(t, "acquire from-go replacedata=false")
		require.Equal(t, []byte("go release"), got.data(), "Java's replaceData=false keeps what leaselock left")
		require.Equal(t, b([]byte("go release")), e.raw(t, "from-go")["data"])

		// Extra attributes, both ways.
		j.lock(t, "acquire attrs-java attr.team=payments")
		info, err = g.Get(c, "attrs-java", "")
		require.NoError(t, err)
		require.Equal(t, map[string]string{"team": "payments"}, info.Attributes)

		l, err = g.Acquire(c, "attrs-go", lock.WithAttributes(map[string]string{"team": "ledger"}))
		require.NoError(t, err)
		seen := j.lock(t, "get attrs-go")
		require.Equal(t, map[string]string{"S": "ledger"}, seen.Attributes["team"])

		// A Java acquisition (PutItem) drops every attribute it was not given.
		require.NoError(t, l.Release(c))
		j.lock(t, "acquire attrs-go")
		require.NotContains(t, e.raw(t, "attrs-go"), "team")
	})
}
