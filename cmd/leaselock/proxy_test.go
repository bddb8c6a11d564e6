package main

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// cutProxy forwards TCP connections to a test server until cut or hung.
// Cut, it closes its listener and every connection, so the server looks
// unreachable (connection refused). Hung, it keeps every connection open,
// accepts new ones, and never answers again: a store that takes requests
// and goes silent.
type cutProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	clients []net.Conn
	servers []net.Conn
	cut     bool
	hung    bool
}

// newCutProxy proxies to the host of endpoint and returns the proxy's
// endpoint URL.
func newCutProxy(t *testing.T, endpoint string) (*cutProxy, string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startProxy(t, ln, u.Host), "http://" + ln.Addr().String()
}

// startProxy serves ln, forwarding to target.
func startProxy(t *testing.T, ln net.Listener, target string) *cutProxy {
	p := &cutProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.cutOff)
	return p
}

// newSilentEndpoint returns the endpoint URL of a server that accepts
// connections and requests and never answers.
func newSilentEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, ln, "")
	p.hang()
	return "http://" + ln.Addr().String()
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut, hung := p.cut, p.hung
		if !cut {
			p.clients = append(p.clients, c)
		}
		p.mu.Unlock()
		switch {
		case cut:
			c.Close()
			return
		case hung:
			go func() { _, _ = io.Copy(io.Discard, c) }()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.servers = append(p.servers, s)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close() }()
		go func() {
			_, _ = io.Copy(c, s)
			p.mu.Lock()
			defer p.mu.Unlock()
			if !p.hung {
				c.Close()
			}
		}()
	}
}

// cutOff makes the server unreachable through the proxy, for good.
func (p *cutProxy) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return
	}
	p.cut = true
	p.ln.Close()
	for _, c := range append(p.clients, p.servers...) {
		c.Close()
	}
}

// hang makes the server silent through the proxy: requests are taken,
// never answered.
func (p *cutProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
	for _, s := range p.servers {
		s.Close()
	}
}

// resume forwards new connections to the server again after hang.
func (p *cutProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = false
}
