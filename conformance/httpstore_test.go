package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/conformance/netfault"
	"github.com/leaselock/leaselock/memstore"
)

// httpStore is a store that keeps its records on a server, reached over
// HTTP on loopback: the smallest network store there is, written to test
// the Errors clauses. The server is a memstore behind a JSON handler.
type httpStore struct {
	url    string
	client *http.Client
	// lostAnswerUnavailable is the flaw: every transport failure is
	// reported unavailable, including one after the request was sent.
	lostAnswerUnavailable bool
}

var _ backend.Store = (*httpStore)(nil)

type wireRequest struct {
	Key     backend.Key
	Acquire backend.AcquireRequest
	Record  backend.Record
	Expect  string
}

type wireAnswer struct {
	Record   backend.Record
	Acquired backend.Acquired
	Kind     string // "", "conflict", "not-found", "invalid", "error"
	Current  *backend.Record
	Message  string
}

// serveStore answers wireRequests at /{op} from s.
func serveStore(t *testing.T, s backend.Store) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wireRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ans wireAnswer
		var err error
		ctx := r.Context()
		switch strings.TrimPrefix(r.URL.Path, "/") {
		case "get":
			ans.Record, err = s.Get(ctx, req.Key)
		case "acquire":
			ans.Acquired, err = s.Acquire(ctx, req.Acquire)
		case "update":
			ans.Record, err = s.Update(ctx, req.Record, req.Expect)
		case "delete":
			err = s.Delete(ctx, req.Key, req.Expect)
		default:
			http.NotFound(w, r)
			return
		}
		var ce *backend.ConflictError
		switch {
		case err == nil:
		case errors.As(err, &ce):
			ans.Kind, ans.Current = "conflict", ce.Current
		case errors.Is(err, backend.ErrNotFound):
			ans.Kind = "not-found"
		case errors.Is(err, backend.ErrInvalid):
			ans.Kind = "invalid"
		default:
			ans.Kind = "error"
		}
		if err != nil {
			ans.Message = err.Error()
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newHTTPStore(t *testing.T, url string) *httpStore {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpStore{url: url, client: &http.Client{Transport: tr}}
}

// call sends one request. Classifying its failure is the point of this
// store: a failure before any byte was written is unavailable; after,
// the server may have acted, and a write is ambiguous.
func (s *httpStore) call(ctx context.Context, op string, key backend.Key, req wireRequest, write bool) (wireAnswer, error) {
	if err := backend.ValidateKey(key, 0); err != nil {
		return wireAnswer{}, err
	}
	if err := ctx.Err(); err != nil {
		return wireAnswer{}, fmt.Errorf("httpstore: %s %q: %w", op, key, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return wireAnswer{}, fmt.Errorf("httpstore: %w: %v", backend.ErrInvalid, err)
	}
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaderField: func(string, []string) { wrote.Store(true) }}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, s.url+"/"+op, bytes.NewReader(body))
	if err != nil {
		return wireAnswer{}, fmt.Errorf("httpstore: %w: %v", backend.ErrInvalid, err)
	}
	var ans wireAnswer
	resp, err := s.client.Do(hreq)
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
	}
	switch {
	case err == nil:
	case write && wrote.Load() && !s.lostAnswerUnavailable:
		return wireAnswer{}, &backend.AmbiguousError{Err: fmt.Errorf("httpstore: %s %q: %w", op, key, err)}
	default:
		return wireAnswer{}, fmt.Errorf("httpstore: %s %q: %w: %w", op, key, backend.ErrUnavailable, err)
	}
	switch ans.Kind {
	case "":
		return ans, nil
	case "conflict":
		return ans, &backend.ConflictError{Key: key, Current: ans.Current}
	case "not-found":
		return ans, fmt.Errorf("httpstore: %q: %w", key, backend.ErrNotFound)
	case "invalid":
		return ans, fmt.Errorf("httpstore: %w: %s", backend.ErrInvalid, ans.Message)
	}
	return ans, fmt.Errorf("httpstore: %s %q: %s", op, key, ans.Message)
}

func (s *httpStore) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	ans, err := s.call(ctx, "get", key, wireRequest{Key: key}, false)
	return ans.Record, err
}

func (s *httpStore) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	ans, err := s.call(ctx, "acquire", req.Record.Key, wireRequest{Acquire: req}, true)
	return ans.Acquired, err
}

func (s *httpStore) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	ans, err := s.call(ctx, "update", rec.Key, wireRequest{Record: rec, Expect: expect}, true)
	return ans.Record, err
}

func (s *httpStore) Delete(ctx context.Context, key backend.Key, expect string) error {
	_, err := s.call(ctx, "delete", key, wireRequest{Key: key, Expect: expect}, true)
	return err
}

// httpHarness runs the suite over httpStore, flawed or not.
func httpHarness(flawed bool) func(h *conformance.StoreHarness) {
	return func(h *conformance.StoreHarness) {
		h.NewStores = func(t *testing.T) (backend.Store, backend.Store) {
			srv := serveStore(t, memstore.New())
			a, b := newHTTPStore(t, srv.URL), newHTTPStore(t, srv.URL)
			a.lostAnswerUnavailable, b.lostAnswerUnavailable = flawed, flawed
			return a, b
		}
		h.NewStoresBehindProxy = func(t *testing.T) (backend.Store, backend.Store, *netfault.Proxy) {
			srv := serveStore(t, memstore.New())
			p := netfault.Start(t, srv.Listener.Addr().String())
			behind := newHTTPStore(t, "http://"+p.Addr())
			behind.lostAnswerUnavailable = flawed
			return behind, newHTTPStore(t, srv.URL), p
		}
		h.GuardedOpDuring = nil // httpStore has no guarded writes
	}
}

// TestHTTPStoreIsCorrectWithoutItsFlaw shows the network test store passes
// the whole suite, Errors clauses included: what they catch in the flawed
// one is its classification alone.
func TestHTTPStoreIsCorrectWithoutItsFlaw(t *testing.T) {
	h := conformance.StoreHarness{SortKeys: conformance.SortKeysOptional, Races: 100}
	httpHarness(false)(&h)
	conformance.RunStore(t, h)
}
