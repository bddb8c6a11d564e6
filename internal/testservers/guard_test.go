package testservers

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// abortRequest sends dynalite the start of a request and hangs up while
// dynalite is reading its body, as an SDK call cancelled on its deadline
// does under load.
func abortRequest(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	// Content-Length promises more than is sent. Expect: 100-continue makes
	// Node answer once it has handed the request to dynalite's handler, so
	// the hang-up below reaches a request being read, every time.
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.0\r\n"+
		"X-Amz-Target: DynamoDB_20120810.ListTables\r\nExpect: 100-continue\r\nContent-Length: 4096\r\n\r\n", u.Host)
	if err != nil {
		return err
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(status, " 100 ") {
		return fmt.Errorf("dynalite did not ask for the body: %q", status)
	}
	_, err = conn.Write([]byte(`{"Limit": `))
	return err
}

// answers reports whether the server answers its health check.
func answers(endpoint string) bool {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Get(endpoint + "/")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestDynaliteSurvivesClientAbort aborts requests mid-body: dynalite 4.0.0
// alone dies of the first one (an uncaught "Error: aborted"); started with
// internal/testservers/servers/dynalite_guard.js, as Start does, it logs each one and goes
// on answering. The first subtest pins the upstream bug: when an upgrade
// fixes it, it fails and the guard can go.
func TestDynaliteSurvivesClientAbort(t *testing.T) {
	Get(t, Dynalite) // skips when not installed
	const aborts = 5
	for _, tc := range []struct {
		name    string
		noGuard bool
	}{
		{"without the guard dynalite dies", true},
		{"with the guard dynalite survives", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := start(context.Background(), Dynalite, options{noGuard: tc.noGuard})
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Stop() })
			n := aborts
			if tc.noGuard {
				n = 1
			}
			for i := range n {
				if err := abortRequest(srv.Endpoint); err != nil {
					select { // a refused or reset connection: did it die?
					case <-srv.Done():
					case <-time.After(5 * time.Second):
					}
					t.Fatalf("abort %d: %v\nserver: %v\n%s", i+1, err, srv.Err(), srv.Output())
				}
			}
			// Node handles a hang-up on a later turn of its event loop: wait
			// until the server has logged every abort, or has died of one.
			deadline := time.Now().Add(15 * time.Second)
			for strings.Count(srv.Output(), "Error: aborted") < n && srv.Err() == nil && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if tc.noGuard {
				select {
				case <-srv.Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("unguarded dynalite survived an aborted request; is the guard still needed?\n%s", srv.Output())
				}
				require.ErrorIs(t, srv.Err(), ErrExited)
				require.Contains(t, srv.Err().Error(), "Error: aborted", "Err carries the server's last output")
				return
			}
			require.NoError(t, srv.Err(), "dynalite died of an aborted request")
			require.Equal(t, n, strings.Count(srv.Output(), "dynalite_guard: ignored uncaught exception: Error: aborted"),
				"each abort is logged once:\n%s", srv.Output())
			require.True(t, answers(srv.Endpoint), "dynalite stopped answering:\n%s", srv.Output())
			c := srv.Client()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = c.ListTables(ctx, nil)
			require.NoError(t, err, "dynalite still serves the API")
		})
	}
}
