package netfault

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Mode says what the proxy does with the bytes of the next requests.
type Mode int32

const (
	// Pass relays both ways.
	Pass Mode = iota
	// CutBeforeRequest closes a connection as soon as the client sends
	// anything on it; nothing reaches the server.
	CutBeforeRequest
	// CutAfterRequest forwards the client's bytes, waits for the server's
	// answer to begin (so the server has acted on the request), then
	// closes the connection instead of relaying the answer.
	CutAfterRequest
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case CutBeforeRequest:
		return "cut-before-request"
	case CutAfterRequest:
		return "cut-after-request"
	}
	return "netfault.Mode(invalid)"
}

// Proxy relays TCP connections from a loopback port to an upstream address,
// cutting them as its Mode says. Its methods are safe for concurrent use.
type Proxy struct {
	upstream string
	ln       net.Listener
	mode     atomic.Int32
	cuts     [CutAfterRequest + 1]atomic.Int64 // by the mode that cut

	mu     sync.Mutex
	passes int // requests still to let pass before the mode applies
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New starts a proxy on 127.0.0.1 (a free port) in front of upstream
// (host:port), in Pass mode.
func New(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{upstream: upstream, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Start is New for tests: it fails tb on error and closes the proxy when
// the test ends.
func Start(tb testing.TB, upstream string) *Proxy {
	tb.Helper()
	p, err := New(upstream)
	if err != nil {
		tb.Fatalf("netfault: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// Addr is the host:port clients connect to instead of upstream.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode changes what happens to requests from now on, on new and open
// connections alike. A request already forwarded keeps the fate of the
// mode it was forwarded under.
func (p *Proxy) SetMode(m Mode) { p.SetModeAfter(0, m) }

// SetModeAfter lets the next n requests pass, counted across all
// connections, and applies m to the requests after them. A store whose one
// write takes several exchanges (a SQL transaction: BEGIN, SELECT ... FOR
// UPDATE, UPDATE, COMMIT) is cut at each of them in turn with n = 0, 1, 2...
//
// A request is what the client sends before the server answers: the proxy
// knows no protocol, so it counts turns of a request-answer exchange.
func (p *Proxy) SetModeAfter(n int, m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.passes = n
	p.mode.Store(int32(m))
}

// fate decides, as a new request begins, what happens to it.
func (p *Proxy) fate() Mode {
	m := Mode(p.mode.Load())
	if m == Pass {
		return Pass
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.passes > 0 {
		p.passes--
		return Pass
	}
	return m
}

// Cuts is how many connections the proxy has cut.
func (p *Proxy) Cuts() int { return p.CutsBy(CutBeforeRequest) + p.CutsBy(CutAfterRequest) }

// CutsBy is how many connections the proxy has cut under mode m: a test
// that mixes both kinds reports how many of each it injected.
func (p *Proxy) CutsBy(m Mode) int {
	if m <= Pass || m > CutAfterRequest {
		return 0
	}
	return int(p.cuts[m].Load())
}

// Close stops accepting, closes every open connection and waits for the
// relaying goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// track registers c for Close; it reports false once the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// serve relays one client connection.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	if !p.track(client) {
		return
	}
	defer p.forget(client)
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return // the client sees its connection closed: nothing was sent upstream
	}
	defer server.Close()
	if !p.track(server) {
		return
	}
	defer p.forget(server)

	c := &conn{p: p, client: client, server: server}
	done := make(chan struct{})
	go func() { defer close(done); c.toServer() }()
	c.toClient()
	<-done
}

// conn is one relayed connection.
type conn struct {
	p              *Proxy
	client, server net.Conn
	asking         atomic.Bool // the client has sent a request the server has not begun to answer
	doomed         atomic.Bool // a request was forwarded under CutAfterRequest
	cutOnce        sync.Once
}

// cut closes both sides, once, and counts it under the mode that cut.
func (c *conn) cut(m Mode) {
	c.cutOnce.Do(func() {
		c.p.cuts[m].Add(1)
		if tc, ok := c.client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as when a path or a host fails
		}
		_ = c.client.Close()
		_ = c.server.Close()
	})
}

func (c *conn) toServer() {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.client.Read(buf)
		if n > 0 && !c.asking.Swap(true) { // a new request begins
			switch c.p.fate() {
			case CutBeforeRequest:
				c.cut(CutBeforeRequest)
				return
			case CutAfterRequest:
				c.doomed.Store(true)
			}
		}
		if n > 0 {
			if _, werr := c.server.Write(buf[:n]); werr != nil {
				_ = c.client.Close()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The client is done sending; let the answer through.
				if tc, ok := c.server.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			_ = c.server.Close()
			return
		}
	}
}

func (c *conn) toClient() {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			if c.doomed.Load() {
				c.cut(CutAfterRequest)
				return
			}
			c.asking.Store(false)
			if _, werr := c.client.Write(buf[:n]); werr != nil {
				_ = c.server.Close()
				return
			}
		}
		if err != nil {
			_ = c.client.Close()
			return
		}
	}
}
