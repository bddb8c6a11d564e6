package netfault_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/leaselock/leaselock/conformance/netfault"
)

// server is a tiny HTTP service standing in for a store's server: every
// POST is a write it counts, and it answers "ok".
type server struct {
	*httptest.Server
	writes atomic.Int64
	conns  atomic.Int64 // connections accepted
}

func newServer(t *testing.T) *server {
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost {
			s.writes.Add(1)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// through returns a client whose connections go to p whatever the URL's
// host, and p's URL, as a store's client would be configured.
func through(t *testing.T, p *netfault.Proxy) (*http.Client, string) {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, "http://" + p.Addr() + "/"
}

func post(c *http.Client, url string) (string, error) {
	resp, err := c.Post(url, "text/plain", strings.NewReader("write"))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestPassRelays(t *testing.T) {
	srv := newServer(t)
	p := netfault.Start(t, srv.Listener.Addr().String())
	c, url := through(t, p)
	for range 3 {
		body, err := post(c, url)
		require.NoError(t, err)
		require.Equal(t, "ok", body)
	}
	require.EqualValues(t, 3, srv.writes.Load())
	require.Zero(t, p.Cuts())
}

func TestCutBeforeRequestForwardsNothing(t *testing.T) {
	srv := newServer(t)
	p := netfault.Start(t, srv.Listener.Addr().String())
	c, url := through(t, p)
	p.SetMode(netfault.CutBeforeRequest)
	_, err := post(c, url)
	require.Error(t, err, "the client must see the cut")
	require.Zero(t, srv.writes.Load(), "the server must never see a request cut before it")
	require.Equal(t, 1, p.Cuts())
	require.Equal(t, 1, p.CutsBy(netfault.CutBeforeRequest))
	require.Zero(t, p.CutsBy(netfault.CutAfterRequest))

	p.SetMode(netfault.Pass)
	body, err := post(c, url)
	require.NoError(t, err, "passing again after a cut")
	require.Equal(t, "ok", body)
	require.EqualValues(t, 1, srv.writes.Load())
}

func TestCutAfterRequestDropsTheAnswer(t *testing.T) {
	srv := newServer(t)
	p := netfault.Start(t, srv.Listener.Addr().String())
	c, url := through(t, p)
	p.SetMode(netfault.CutAfterRequest)
	_, err := post(c, url)
	require.Error(t, err, "the client must not get the answer")
	require.EqualValues(t, 1, srv.writes.Load(), "the server must have acted on the request")
	require.Equal(t, 1, p.Cuts())
	require.Equal(t, 1, p.CutsBy(netfault.CutAfterRequest))
	require.Zero(t, p.CutsBy(netfault.CutBeforeRequest))
}

// A connection opened while passing and kept alive in the client's pool is
// cut too: the mode is read per request, not per connection.
func TestModeAppliesToOpenConnections(t *testing.T) {
	srv := newServer(t)
	p := netfault.Start(t, srv.Listener.Addr().String())
	c, url := through(t, p)
	_, err := post(c, url)
	require.NoError(t, err)
	p.SetMode(netfault.CutAfterRequest)
	_, err = post(c, url)
	require.Error(t, err)
	require.EqualValues(t, 2, srv.writes.Load())
	require.EqualValues(t, 1, srv.conns.Load(), "the cut request went over the pooled connection")
	require.Equal(t, 1, p.Cuts())
}

func TestCloseEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := newServer(t)
	p, err := netfault.New(srv.Listener.Addr().String())
	require.NoError(t, err)
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	_, err = post(c, "http://"+p.Addr()+"/") // leaves a pooled connection open
	require.NoError(t, err)
	require.NoError(t, p.Close())
	_, err = net.Dial("tcp", p.Addr())
	require.Error(t, err, "a closed proxy accepts nothing")
	tr.CloseIdleConnections()
	srv.Close()
}

func TestUpstreamDownClosesClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	p := netfault.Start(t, addr)
	c, url := through(t, p)
	_, err = post(c, url)
	require.Error(t, err)
}

// SetModeAfter passes the next n requests, then applies the mode: how a
// write made of several exchanges is cut at each one in turn.
func TestModeAfterPassingSome(t *testing.T) {
	for _, mode := range []netfault.Mode{netfault.CutBeforeRequest, netfault.CutAfterRequest} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := newServer(t)
			p := netfault.Start(t, srv.Listener.Addr().String())
			c, url := through(t, p)
			p.SetModeAfter(2, mode)
			for i := range 2 {
				_, err := post(c, url)
				require.NoError(t, err, "request %d passes", i)
			}
			_, err := post(c, url)
			require.Error(t, err, "the third request is cut")
			want := int64(2)
			if mode == netfault.CutAfterRequest {
				want = 3
			}
			require.Equal(t, want, srv.writes.Load())
			require.Equal(t, 1, p.Cuts())
		})
	}
}
