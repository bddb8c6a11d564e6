package dynamostore_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// faultTransport sits between the SDK and a real server and decides, per
// request, what happens to it.
type faultTransport struct {
	next  http.RoundTripper
	calls atomic.Int64
	fault func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error)
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := f.calls.Add(1)
	if f.fault == nil {
		return f.next.RoundTrip(req)
	}
	return f.fault(n, req, f.next)
}

// faultEnv is a table on dynalite reached through a faultTransport, with
// the given retry settings (nil: the SDK's defaults).
func faultEnv(t *testing.T, retries func(*dynamodb.Options)) (*env, *faultTransport) {
	return faultEnvOn(t, testservers.Dynalite, retries)
}

// faultEnvOn is faultEnv on the given server.
func faultEnvOn(t *testing.T, kind testservers.Kind, retries func(*dynamodb.Options)) (*env, *faultTransport) {
	ft := &faultTransport{next: testservers.NewHTTPClient().Transport}
	opts := []func(*dynamodb.Options){func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: ft} }}
	if retries != nil {
		opts = append(opts, retries)
	}
	e := newEnv(t, kind, nil, opts...)
	ft.calls.Store(0) // count from the test's first request
	return e, ft
}

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// applyThenDrop forwards the request, so the server applies it, and then
// loses the response as a connection reset would.
func applyThenDrop(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil, errReset
}

// sent tells the SDK's httptrace hooks the request was written, as the real
// transport would, for faults that answer without forwarding.
func sent(req *http.Request) {
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.WroteRequest != nil {
		tr.WroteRequest(httptrace.WroteRequestInfo{})
	}
}

// answer returns a DynamoDB JSON error response.
func answer(status int, code, msg string) *http.Response {
	body := `{"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"` + msg + `"}`
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", "fault-injected")
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

func noRetries(o *dynamodb.Options) { dynamostore.Retries(1, 0)(o) }

func requireAmbiguous(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, backend.ErrAmbiguous)
	var ae *backend.AmbiguousError
	require.ErrorAs(t, err, &ae)
}

// TestLostResponseRetriedBySDK measures invariant 6: when the response of an
// applied conditional write is lost, the SDK's own retry comes back as a
// condition failure, and the conflict's Current carries the version the
// caller wrote — which is how the engine knows it won.
func TestLostResponseRetriedBySDK(t *testing.T) {
	t.Parallel()
	e, ft := faultEnv(t, nil)
	c := ctx(t)
	rec := lease("k", "alice")
	ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		if n == 1 {
			return applyThenDrop(req, next)
		}
		return next.RoundTrip(req)
	}
	_, err := e.store.Acquire(c, backend.AcquireRequest{Record: rec})
	var ce *backend.ConflictError
	require.ErrorAs(t, err, &ce, "the SDK retried an applied write")
	require.NotNil(t, ce.Current)
	require.Equal(t, rec.Version, ce.Current.Version, "the conflict shows the caller's own write")
	require.True(t, ce.MaybeApplied, "the store knows an earlier attempt may have been applied")
	require.Equal(t, int64(2), e.counter.Count("UpdateItem"))

	// A conflict met on the first attempt is certain.
	fault := ft.fault
	ft.fault = nil
	_, err = e.store.Acquire(c, backend.AcquireRequest{Record: lease("k", "bob")})
	require.ErrorAs(t, err, &ce)
	require.False(t, ce.MaybeApplied, "nothing was retried")
	ft.fault = fault

	// The same for a heartbeat.
	ft.calls.Store(0)
	beat := *ce.Current
	beat.Version = "beat-1"
	_, err = e.store.Update(c, beat, rec.Version)
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "beat-1", ce.Current.Version)

	// Reads are simply retried.
	ft.calls.Store(0)
	got, err := e.store.Get(c, rec.Key)
	require.NoError(t, err)
	require.Equal(t, "beat-1", got.Version)
}

// TestLostResponseWithoutRetryIsAmbiguous: with retries off, a write whose
// response was lost is ambiguous; here it was in fact applied.
func TestLostResponseWithoutRetryIsAmbiguous(t *testing.T) {
	t.Parallel()
	e, ft := faultEnv(t, noRetries)
	c := ctx(t)
	rec := lease("k", "alice")
	ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		return applyThenDrop(req, next)
	}
	_, err := e.store.Acquire(c, backend.AcquireRequest{Record: rec})
	requireAmbiguous(t, err)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	err = e.store.Delete(c, rec.Key, rec.Version)
	requireAmbiguous(t, err)

	ft.fault = nil
	_, err = e.store.Get(c, rec.Key)
	require.ErrorIs(t, err, backend.ErrNotFound, "the delete was applied")
}

// TestServerErrorOnWriteIsAmbiguous: a 5xx may follow an applied write; a
// read that meets 5xx is merely unavailable.
func TestServerErrorOnWriteIsAmbiguous(t *testing.T) {
	t.Parallel()
	e, ft := faultEnv(t, dynamostore.Retries(2, time.Millisecond))
	c := ctx(t)
	rec := lease("k", "alice")
	ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return answer(500, "InternalServerError", "injected"), nil
	}
	_, err := e.store.Acquire(c, backend.AcquireRequest{Record: rec})
	requireAmbiguous(t, err)
	require.Equal(t, int64(2), e.counter.Count("UpdateItem"), "5xx is retried")

	_, err = e.store.Get(c, rec.Key)
	require.ErrorIs(t, err, backend.ErrUnavailable)
	require.NotErrorIs(t, err, backend.ErrAmbiguous)
}

// TestThrottleIsUnavailable: a throttle that outlasts the retries applied
// nothing, so it is ErrUnavailable, not ambiguous — unless an earlier
// attempt may have been applied.
func TestThrottleIsUnavailable(t *testing.T) {
	t.Parallel()
	e, ft := faultEnv(t, dynamostore.Retries(3, time.Millisecond))
	c := ctx(t)
	ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		sent(req)
		return answer(400, "ProvisionedThroughputExceededException", "injected"), nil
	}
	_, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("k", "alice")})
	require.ErrorIs(t, err, backend.ErrUnavailable)
	require.NotErrorIs(t, err, backend.ErrAmbiguous)
	require.Equal(t, int64(3), e.counter.Count("UpdateItem"), "throttles are retried")

	e.counter.Reset()
	ft.calls.Store(0)
	ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		if n == 1 {
			sent(req)
			return answer(503, "ServiceUnavailable", "injected"), nil
		}
		sent(req)
		return answer(400, "ThrottlingException", "injected"), nil
	}
	_, err = e.store.Acquire(c, backend.AcquireRequest{Record: lease("k", "alice")})
	requireAmbiguous(t, err) // the 503 attempt might have been applied

	ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		if n%2 == 1 {
			sent(req)
			return answer(400, "ThrottlingException", "injected"), nil
		}
		return next.RoundTrip(req)
	}
	ft.calls.Store(0)
	_, err = e.store.Acquire(c, backend.AcquireRequest{Record: lease("k2", "alice")})
	require.NoError(t, err, "a throttle followed by success")
}

// TestTransactionConflictRetried: a single-item write that meets a
// transaction holding the item gets TransactionConflictException; Retries
// retries it, the SDK's default retryer does not (and the store reports
// ErrUnavailable).
func TestTransactionConflictRetried(t *testing.T) {
	t.Parallel()
	conflictOnce := func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		if n == 1 {
			sent(req)
			return answer(400, "TransactionConflictException", "injected"), nil
		}
		return next.RoundTrip(req)
	}
	e, ft := faultEnv(t, dynamostore.Retries(3, time.Millisecond))
	ft.fault = conflictOnce
	_, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: lease("k", "alice")})
	require.NoError(t, err)
	require.Equal(t, int64(2), e.counter.Count("UpdateItem"))

	e, ft = faultEnv(t, nil)
	ft.fault = conflictOnce
	_, err = e.store.Acquire(ctx(t), backend.AcquireRequest{Record: lease("k", "alice")})
	require.ErrorIs(t, err, backend.ErrUnavailable)
	require.NotErrorIs(t, err, backend.ErrAmbiguous)
}

// TestUnreachableIsUnavailable: nothing listening, nothing sent.
func TestUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	st, err := dynamostore.New(testservers.NewClient(endpoint, dynamostore.Retries(2, time.Millisecond)), "table", nil)
	require.NoError(t, err)
	_, err = st.Acquire(ctx(t), backend.AcquireRequest{Record: lease("k", "alice")})
	require.ErrorIs(t, err, backend.ErrUnavailable)
	require.NotErrorIs(t, err, backend.ErrAmbiguous, "a refused connection sent nothing")
	_, err = st.Get(ctx(t), backend.Key{Partition: "k"})
	require.ErrorIs(t, err, backend.ErrUnavailable)
}

// TestContext: a context cancelled before the call sends nothing; one that
// expires while the request is in flight leaves the write ambiguous.
func TestContext(t *testing.T) {
	t.Parallel()
	e, ft := faultEnv(t, nil)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.store.Acquire(cancelled, backend.AcquireRequest{Record: lease("k", "alice")})
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, backend.ErrAmbiguous)

	ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
		resp, err := next.RoundTrip(req) // applied
		if err == nil {
			resp.Body.Close()
		}
		<-req.Context().Done() // and the answer never comes
		return nil, req.Context().Err()
	}
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_, err = e.store.Acquire(short, backend.AcquireRequest{Record: lease("k", "alice")})
	requireAmbiguous(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// fakeAPI is an API that is not an SDK client: the store cannot watch its
// attempts and judges by the final error alone.
type fakeAPI struct {
	dynamostore.API
	err error
}

func (f fakeAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f.err
}

func TestNonSDKClientErrorsAreAmbiguous(t *testing.T) {
	st, err := dynamostore.New(fakeAPI{err: errors.New("boom")}, "table", nil)
	require.NoError(t, err)
	_, err = st.Acquire(context.Background(), backend.AcquireRequest{Record: lease("k", "alice")})
	requireAmbiguous(t, err)
}
