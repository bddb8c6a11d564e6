package dynamostore_test

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// TestCounterItemSurvivesForeignWrites: with counter items, tokens go on
// increasing across everything that drops the lock item's own counter: a
// release by deleting, a foreign acquire that puts a whole new item (as
// python_dynamodb_lock does), and a foreign release that deletes it.
func TestCounterItemSurvivesForeignWrites(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, pythonOpts)
		c := ctx(t)
		key := backend.Key{Partition: "job"}
		acquire := func(expect string) backend.Acquired {
			t.Helper()
			got, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("job", "go"), ExpectVersion: expect})
			require.NoError(t, err)
			return got
		}
		foreignPut := func(version string) {
			t.Helper()
			_, err := e.client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: item{
				"lock_key": s("job"), "sort_key": s("-"), "owner_name": s("py"), "lease_duration": n("3"),
				"record_version_number": s(version), "expiry_time": n("1700003600")}})
			require.NoError(t, err)
		}

		first := acquire("").Record
		require.Equal(t, uint64(1), first.Token)
		require.NoError(t, e.store.Delete(c, key, first.Version))
		second := acquire("").Record
		require.Equal(t, uint64(2), second.Token, "a release by deleting keeps the count")

		foreignPut("py-1") // a Python takeover: the whole item replaced
		cur, err := e.store.Get(c, key)
		require.NoError(t, err)
		require.Zero(t, cur.Token, "a Python-written item carries no token")
		third := acquire("py-1")
		require.Equal(t, "py-1", third.Replaced.Version)
		require.Equal(t, uint64(3), third.Record.Token, "a takeover of a Python holder goes on from the count")

		foreignPut("py-2")
		_, err = e.client.DeleteItem(c, &dynamodb.DeleteItemInput{TableName: aws.String(e.table), Key: pyKey("job", "")})
		require.NoError(t, err)
		require.Equal(t, uint64(4), acquire("").Record.Token, "and so does an acquisition after a Python release")
	})
}

// TestCounterItemRequests measures what counter items cost: three
// UpdateItems per acquisition (lock item, counter, token), and nothing
// extra for a refused acquisition, a heartbeat or a release.
func TestCounterItemRequests(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, pythonOpts)
		c := ctx(t)
		got, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("job", "a")})
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"UpdateItem": 3}, e.counter.Counts(), "acquire of a free key")

		e.counter.Reset()
		_, err = e.store.Acquire(c, backend.AcquireRequest{Record: lease("job", "b")})
		require.ErrorIs(t, err, backend.ErrConflict)
		want := map[string]int64{"UpdateItem": 1}
		if kind == testservers.Dynalite {
			want["GetItem"] = 1 // dynalite returns no item with a refusal
		}
		require.Equal(t, want, e.counter.Counts(), "a refused acquisition draws no token")

		e.counter.Reset()
		beat := got.Record
		beat.Version = "v2"
		_, err = e.store.Update(c, beat, got.Record.Version)
		require.NoError(t, err)
		require.NoError(t, e.store.Delete(c, beat.Key, "v2"))
		require.Equal(t, map[string]int64{"UpdateItem": 1, "DeleteItem": 1}, e.counter.Counts(), "heartbeat and release")
	})
}

// pythonFaultEnv is a Python-layout table on dynalite reached through a
// faultTransport.
func pythonFaultEnv(t *testing.T, retries func(*dynamodb.Options)) (*env, *faultTransport) {
	ft := &faultTransport{next: testservers.NewHTTPClient().Transport}
	opts := []func(*dynamodb.Options){func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: ft} }}
	if retries != nil {
		opts = append(opts, retries)
	}
	e := newEnv(t, testservers.Dynalite, pythonOpts, opts...)
	ft.calls.Store(0)
	return e, ft
}

// TestCounterItemFailures: a lease whose token could not be drawn or
// written is handed back (the lock item deleted) and the acquisition
// reported not applied; only when handing it back fails too is the outcome
// ambiguous. A retried draw skips a number, never repeats one.
func TestCounterItemFailures(t *testing.T) {
	key := backend.Key{Partition: "job"}
	t.Run("draw-not-sent", func(t *testing.T) {
		e, ft := pythonFaultEnv(t, noRetries)
		ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
			if n == 2 { // the draw
				return answer(400, "ThrottlingException", "injected"), nil
			}
			return next.RoundTrip(req)
		}
		_, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: lease("job", "a")})
		require.ErrorIs(t, err, backend.ErrUnavailable)
		require.False(t, errors.Is(err, backend.ErrAmbiguous))
		_, err = e.store.Get(ctx(t), key)
		require.ErrorIs(t, err, backend.ErrNotFound, "the lease was handed back")
	})
	t.Run("token-answer-lost", func(t *testing.T) {
		e, ft := pythonFaultEnv(t, noRetries)
		ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
			if n == 3 { // the token write: applied, answer lost
				return applyThenDrop(req, next)
			}
			return next.RoundTrip(req)
		}
		_, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: lease("job", "a")})
		require.ErrorIs(t, err, backend.ErrUnavailable)
		_, err = e.store.Get(ctx(t), key)
		require.ErrorIs(t, err, backend.ErrNotFound)
		ft.fault = nil
		got, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: lease("job", "a")})
		require.NoError(t, err)
		require.Equal(t, uint64(2), got.Record.Token, "the handed-back lease used token 1")
	})
	t.Run("hand-back-fails", func(t *testing.T) {
		e, ft := pythonFaultEnv(t, noRetries)
		ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
			if n >= 2 { // the draw and the hand-back
				sent(req)
				return nil, errReset
			}
			return next.RoundTrip(req)
		}
		rec := lease("job", "a")
		_, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: rec})
		requireAmbiguous(t, err)
		ft.fault = nil
		cur, err := e.store.Get(ctx(t), key)
		require.NoError(t, err)
		require.Equal(t, rec.Version, cur.Version, "the lease stayed")
		require.Zero(t, cur.Token, "with no token: an engine that adopts it holds token 0")
	})
	t.Run("draw-retried", func(t *testing.T) {
		e, ft := pythonFaultEnv(t, nil) // the SDK's retries
		ft.fault = func(n int64, req *http.Request, next http.RoundTripper) (*http.Response, error) {
			if n == 2 {
				return applyThenDrop(req, next)
			}
			return next.RoundTrip(req)
		}
		got, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: lease("job", "a")})
		require.NoError(t, err)
		require.Equal(t, uint64(2), got.Record.Token, "the lost draw counted: token 1 was skipped")
	})
}

// TestCounterItemChurn races two stores through many acquisitions of one
// key, free and by immediate takeover, releasing by deleting: every
// acquisition gets its own token, and one that ended before another began
// has the smaller token.
func TestCounterItemChurn(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, pythonOpts)
		stores := []*dynamostore.Store{e.store, e.another(t, pythonOpts)}
		c := ctx(t)
		key := backend.Key{Partition: "churn"}
		type grant struct {
			start, end time.Time
			token      uint64
		}
		var (
			mu     sync.Mutex
			grants []grant
		)
		rounds := 60
		var wg sync.WaitGroup
		for who, st := range stores {
			wg.Go(func() {
				for i := range rounds {
					req := backend.AcquireRequest{Record: lease("churn", fmt.Sprint("owner-", who))}
					if cur, err := st.Get(c, key); err == nil {
						req.ExpectVersion = cur.Version
					}
					start := time.Now()
					got, err := st.Acquire(c, req)
					end := time.Now()
					if err != nil {
						if !errors.Is(err, backend.ErrConflict) {
							t.Errorf("round %d: %v", i, err)
						}
						continue
					}
					mu.Lock()
					grants = append(grants, grant{start, end, got.Record.Token})
					mu.Unlock()
					if i%2 == 0 {
						_ = st.Delete(c, key, got.Record.Version) // may have been taken over already
					}
				}
			})
		}
		wg.Wait()
		require.NotEmpty(t, grants)
		sort.Slice(grants, func(i, j int) bool { return grants[i].token < grants[j].token })
		for i := 1; i < len(grants); i++ {
			require.NotEqual(t, grants[i-1].token, grants[i].token, "token %d granted twice", grants[i].token)
		}
		for _, g := range grants {
			for _, h := range grants {
				if g.end.Before(h.start) && g.token >= h.token {
					t.Fatalf("token %d ended before token %d began", g.token, h.token)
				}
			}
		}
		t.Logf("%s: %d acquisitions, tokens %d..%d", kind, len(grants), grants[0].token, grants[len(grants)-1].token)
	})
}

// TestListSkipsCounterItems: counter items are not locks.
func TestListSkipsCounterItems(t *testing.T) {
	e := newEnv(t, testservers.Dynalite, pythonOpts)
	c := ctx(t)
	for _, k := range []string{"a", "b"} {
		_, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease(k, "o")})
		require.NoError(t, err)
	}
	page, err := e.store.List(c, backend.ListRequest{})
	require.NoError(t, err)
	var keys []string
	for _, r := range page.Records {
		require.False(t, strings.HasSuffix(r.Key.Sort, dynamostore.FenceSuffix))
		keys = append(keys, r.Key.String())
	}
	sort.Strings(keys)
	require.Equal(t, []string{"a", "b"}, keys)
}
