package pgcluster

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStopAndStartServer takes a cluster's server down and up again: the
// port refuses connections while it is down and accepts them on the same
// address after each start, and Stop works whether the server runs or not.
// A setting with a quote in it reaches the server intact.
func TestStopAndStartServer(t *testing.T) {
	c, err := Start(Options{Settings: map[string]string{"application_name": "it's"}})
	if errors.Is(err, ErrNotInstalled) && os.Getenv("LEASELOCK_REQUIRE_SERVERS") != "1" {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	opts, err := os.ReadFile(filepath.Join(c.data, "postmaster.opts"))
	require.NoError(t, err)
	require.Contains(t, string(opts), `"application_name=it's"`)

	accepts := func() error {
		conn, err := net.DialTimeout("tcp", c.Addr, 5*time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}
	require.NoError(t, accepts())
	require.NoError(t, c.StopServer(Fast))
	require.Error(t, accepts(), "stopped, yet the port accepts")
	require.NoError(t, c.StopServer(Fast), "stopping a stopped server is a no-op")
	require.NoError(t, c.StartServer())
	require.NoError(t, accepts())
	require.NoError(t, c.Restart(Immediate))
	require.NoError(t, accepts())
	require.NoError(t, c.Restart(Fast))
	require.NoError(t, accepts())

	require.NoError(t, c.StopServer(Immediate))
	require.NoError(t, c.Stop(), "Stop after StopServer")
	require.NoError(t, c.Stop(), "Stop again")
	_, err = os.Stat(c.dir)
	require.True(t, os.IsNotExist(err), "the cluster's directory is left: %v", err)
}
