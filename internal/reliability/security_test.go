package reliability

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// foreignEnv is one run of the foreign-client checks on one store.
type foreignEnv struct {
	t          *testing.T
	ctx        context.Context
	store      backend.Store // the store handle the checks read through
	alice, bob *lock.Client
	tm         timing
	writes     func() int64 // write requests bob's store sent (nil: not counted)
	guardedOp  func(name string) (ops any, written func() bool)
}

// checkForeign: alice holds a key; bob, another client, tries every
// operation of the public API on it, and on a lock of his that alice took
// over. None may change alice's record. The only way to take a held key
// is to wait for its lease to lapse; an operator's force-release (the
// CLI) is the one deliberate exception and is not part of this API.
func checkForeign(e *foreignEnv) {
	t, ctx := e.t, e.ctx
	key := backend.Key{Partition: "k"}
	la, err := e.alice.Acquire(ctx, "k", lock.WithData([]byte("alice's data")))
	require.NoError(t, err)
	before, err := e.store.Get(ctx, key)
	require.NoError(t, err)
	unchanged := func(what string) {
		t.Helper()
		now, err := e.store.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, before.Owner, now.Owner, what)
		require.Equal(t, before.Token, now.Token, what)
		require.Equal(t, before.Data, now.Data, what)
		require.False(t, now.Released, what)
		require.NoError(t, la.Err(), what)
	}

	// Taking the held key, every way the API offers.
	_, err = e.bob.TryAcquire(ctx, "k")
	require.ErrorIs(t, err, lock.ErrLocked)
	_, err = e.bob.TryAcquire(ctx, "k", lock.Reentrant())
	require.ErrorIs(t, err, lock.ErrLocked)
	_, err = e.bob.TryAcquire(ctx, "k", lock.OnlyIfExists())
	require.ErrorIs(t, err, lock.ErrLocked)
	_, err = e.bob.TryAcquire(ctx, "k", lock.KeepData(), lock.WithData([]byte("bob's")))
	require.ErrorIs(t, err, lock.ErrLocked)
	_, err = e.bob.Acquire(ctx, "k", lock.AdditionalWait(0))
	require.ErrorIs(t, err, lock.ErrLocked, "AdditionalWait(0) waits out one lease of a live holder, then gives up")
	short, cancel := context.WithTimeout(ctx, e.tm.lease/2)
	_, err = e.bob.Acquire(short, "k")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	ran := false
	short, cancel = context.WithTimeout(ctx, e.tm.lease/2)
	err = e.bob.Do(short, "k", func(context.Context, *lock.Lock) error { ran = true; return nil })
	cancel()
	require.Error(t, err)
	require.False(t, ran)
	info, err := e.bob.Get(ctx, "k", "")
	require.NoError(t, err)
	require.Equal(t, lock.StateLocked, info.State)
	unchanged("after bob's attempts to take the key")

	// A lock of bob's that alice took over after it lapsed: none of its
	// operations may write over alice's record.
	lb, err := e.bob.Acquire(ctx, "k2", lock.MaxHold(time.Nanosecond))
	require.NoError(t, err)
	la2, err := e.alice.Acquire(ctx, "k2")
	require.NoError(t, err)
	before2, err := e.store.Get(ctx, backend.Key{Partition: "k2"})
	require.NoError(t, err)
	var sent int64
	if e.writes != nil {
		sent = e.writes()
	}
	require.ErrorIs(t, lb.Heartbeat(ctx), lock.ErrLockLost)
	require.ErrorIs(t, lb.Heartbeat(ctx, lock.WithNewData([]byte("bob's"))), lock.ErrLockLost)
	require.ErrorIs(t, lb.Release(ctx, lock.ReleaseWithData([]byte("bob's"))), lock.ErrLockLost)
	if e.guardedOp != nil {
		ops, written := e.guardedOp("bob-stale")
		require.ErrorIs(t, lb.WriteGuarded(ctx, ops), lock.ErrLockLost)
		require.False(t, written())
	}
	if e.writes != nil {
		require.Equal(t, sent, e.writes(), "an ended lock sent a write")
	}
	after2, err := e.store.Get(ctx, backend.Key{Partition: "k2"})
	require.NoError(t, err)
	require.Equal(t, before2, after2, "bob's ended lock changed alice's record")
	require.NoError(t, la2.Err())

	// A lock of bob's whose record alice took while bob still believes he
	// holds it (as after a force-release): every write bob sends is a
	// compare-and-swap on his version, and is refused.
	lb3, err := e.bob.Acquire(ctx, "k3")
	require.NoError(t, err)
	_, err = e.store.Acquire(ctx, backend.AcquireRequest{ExpectVersion: versionOf(t, e.store, "k3"), Record: backend.Record{
		Key: backend.Key{Partition: "k3"}, Owner: "alice", Version: "alices", LeaseDuration: e.tm.lease}})
	require.NoError(t, err)
	before3, err := e.store.Get(ctx, backend.Key{Partition: "k3"})
	require.NoError(t, err)
	require.ErrorIs(t, lb3.Heartbeat(ctx, lock.WithNewData([]byte("bob's"))), lock.ErrStolen)
	require.ErrorIs(t, lb3.Release(ctx), lock.ErrStolen)
	after3, err := e.store.Get(ctx, backend.Key{Partition: "k3"})
	require.NoError(t, err)
	require.Equal(t, before3, after3, "bob's refused writes changed alice's record")
	lb4, err := e.bob.Acquire(ctx, "k4", lock.DeleteOnRelease())
	require.NoError(t, err)
	_, err = e.store.Acquire(ctx, backend.AcquireRequest{ExpectVersion: versionOf(t, e.store, "k4"), Record: backend.Record{
		Key: backend.Key{Partition: "k4"}, Owner: "alice", Version: "alices", LeaseDuration: e.tm.lease}})
	require.NoError(t, err)
	require.ErrorIs(t, lb4.Release(ctx), lock.ErrStolen)
	_, err = e.store.Get(ctx, backend.Key{Partition: "k4"})
	require.NoError(t, err, "bob's delete removed alice's record")
	if e.guardedOp != nil {
		lb5, err := e.bob.Acquire(ctx, "k5")
		require.NoError(t, err)
		_, err = e.store.Acquire(ctx, backend.AcquireRequest{ExpectVersion: versionOf(t, e.store, lb5.Key()), Record: backend.Record{
			Key: backend.Key{Partition: "k5"}, Owner: "alice", Version: "alices", LeaseDuration: e.tm.lease}})
		require.NoError(t, err)
		ops, written := e.guardedOp("bob-after-takeover")
		err = lb5.WriteGuarded(ctx, ops)
		require.ErrorIs(t, err, lock.ErrStolen)
		require.ErrorIs(t, err, backend.ErrGuardFailed)
		require.False(t, written(), "a guarded write after a takeover committed")
	}

	// A second client with the same owner name gains nothing: it cannot
	// take the key either.
	twin := e.tm.client(t, e.store, e.alice.Owner())
	defer twin.Close(ctx)
	_, err = twin.TryAcquire(ctx, "k")
	require.ErrorIs(t, err, lock.ErrLocked)
	unchanged("after every foreign operation")
	require.NoError(t, la.Release(ctx))
}

// TestForeignClientCannotTouchALock runs the checks on memstore (virtual
// time, with memstore's guarded writes), on dynalite (counting the write
// requests bob's store sends) and on moto (with DynamoDB guarded writes).
func TestForeignClientCannotTouchALock(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			mem := memstore.New()
			e := &foreignEnv{t: t, ctx: ctx, store: mem, tm: virtualTiming,
				alice: virtualTiming.client(t, mem, "alice"), bob: virtualTiming.client(t, mem, "bob"),
				guardedOp: func(string) (any, func() bool) {
					var wrote bool
					return func() error { wrote = true; return nil }, func() bool { return wrote }
				}}
			defer e.alice.Close(ctx)
			defer e.bob.Close(ctx)
			checkForeign(e)
		})
	})
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			d := newDynamoTable(t, kind, nil)
			ctx := d.ctx(t)
			counter := dynamostore.NewCounter()
			store := d.store(t, nil)
			e := &foreignEnv{t: t, ctx: ctx, store: store, tm: remoteTiming,
				alice: remoteTiming.client(t, d.store(t, nil), "alice"),
				bob:   remoteTiming.client(t, d.store(t, nil, counter.Install), "bob"),
				writes: func() int64 {
					return counter.Count("UpdateItem") + counter.Count("DeleteItem") + counter.Count("TransactWriteItems")
				}}
			defer e.alice.Close(ctx)
			defer e.bob.Close(ctx)
			if kind == testservers.Moto {
				e.guardedOp = func(name string) (any, func() bool) {
					return []types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(d.table),
							Item: map[string]types.AttributeValue{"key": &types.AttributeValueMemberS{Value: "app-" + name}}}}},
						func() bool {
							out, err := d.srv.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table),
								ConsistentRead: aws.Bool(true),
								Key:            map[string]types.AttributeValue{"key": &types.AttributeValueMemberS{Value: "app-" + name}}})
							require.NoError(t, err)
							return len(out.Item) > 0
						}
				}
			}
			checkForeign(e)
		})
	}
}

// hostile are strings written in DynamoDB's expression syntax. If any
// reached an expression as text instead of as a placeholder value, the
// request would fail or, worse, mean something else.
var hostile = []string{
	"#a = :b OR attribute_exists(x)",
	":e",
	"#v",
	") OR (attribute_not_exists(#k)",
	"SET #o = :o REMOVE #r",
	"x, #f = :inc ADD #f :inc",
	"attribute_exists(key) AND size(data) > :zero",
	"'; DROP TABLE locks; --",
	"{\"S\":\"injected\"}",
}

// TestUserStringsStayOutOfExpressions writes keys, sort keys, owners,
// attribute names and values and data in expression syntax through the
// engine, on both servers and on a table whose key attributes are named in
// expression syntax too: everything round-trips literally, and the
// conditional writes keep their meaning (another owner is still refused).
func TestUserStringsStayOutOfExpressions(t *testing.T) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			opts := &dynamostore.Options{PartitionKeyName: "#k = :k OR x", SortKeyName: ":s) AND (#t"}
			d := newDynamoTable(t, kind, opts)
			ctx := d.ctx(t)
			store := d.store(t, opts)
			for i, s := range hostile {
				owner := "owner " + s
				attrs := map[string]string{"attr " + s: "value " + s}
				c := remoteTiming.client(t, d.store(t, opts), owner)
				other := remoteTiming.client(t, d.store(t, opts), "other "+s)
				l, err := c.Acquire(ctx, s, lock.WithSortKey(hostile[(i+1)%len(hostile)]),
					lock.WithData([]byte(s)), lock.WithAttributes(attrs))
				require.NoError(t, err, "%q", s)
				key := backend.Key{Partition: s, Sort: hostile[(i+1)%len(hostile)]}
				rec, err := store.Get(ctx, key)
				require.NoError(t, err)
				require.Equal(t, key, rec.Key)
				require.Equal(t, owner, rec.Owner)
				require.Equal(t, []byte(s), rec.Data)
				require.Equal(t, "value "+s, rec.Attributes["attr "+s])
				_, err = other.TryAcquire(ctx, s, lock.WithSortKey(key.Sort))
				require.ErrorIs(t, err, lock.ErrLocked, "%q: the condition must still refuse another owner", s)
				require.NoError(t, l.Heartbeat(ctx, lock.WithNewData([]byte("new "+s))))
				require.NoError(t, l.Release(ctx, lock.ReleaseWithData([]byte("left "+s))))
				rec, err = store.Get(ctx, key)
				require.NoError(t, err)
				require.True(t, rec.Released)
				require.Equal(t, []byte("left "+s), rec.Data)
				require.Equal(t, owner, rec.Owner)
				lo, err := other.TryAcquire(ctx, s, lock.WithSortKey(key.Sort), lock.DeleteOnRelease())
				require.NoError(t, err, "%q: a released record is free", s)
				require.Equal(t, uint64(2), lo.Token())
				require.NoError(t, lo.Release(ctx))
				_, err = store.Get(ctx, key)
				require.ErrorIs(t, err, backend.ErrNotFound)
				require.NoError(t, c.Close(ctx))
				require.NoError(t, other.Close(ctx))
			}
			t.Logf("%d hostile strings round-tripped as keys, sort keys, owners, attributes and data", len(hostile))
		})
	}
}

// secrets are distinctive values the logging test plants in lock data,
// attributes and credentials.
var secrets = []string{
	"SECRET-ACQUIRE-DATA-6b1f", "SECRET-ATTRIBUTE-VALUE-93c2", "SECRET-HEARTBEAT-DATA-0d7e",
	"SECRET-RELEASE-DATA-a45b", "SECRET-DO-DATA-77e1",
	"AKIDLEASELOCKTEST", "leaselock-test-secret", // testservers' static credentials
}

// requireNoSecrets fails if log holds any secret, raw, base64 or hex.
func requireNoSecrets(t *testing.T, log string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), hex.EncodeToString([]byte(s)),
			base64.StdEncoding.EncodeToString([]byte(s))[:16]} {
			require.NotContains(t, log, form, "the log holds a secret (%s)", s)
		}
	}
}

// safeBuffer is a bytes.Buffer for a logger written from many goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exerciseLogging runs a client through acquire, heartbeats, manual
// heartbeats with data, faults, danger, a steal, an expiry, Do and release.
func exerciseLogging(ctx context.Context, t *testing.T, c *lock.Client, fs *faultstore.Store, raw backend.Store, tm timing) {
	l, err := c.Acquire(ctx, "k", lock.WithData([]byte(secrets[0])),
		lock.WithAttributes(map[string]string{"note": secrets[1]}),
		lock.OnDanger(tm.lease/2, func(*lock.Lock) {}), lock.OnLost(func(*lock.Lock, error) {}))
	require.NoError(t, err)
	time.Sleep(2 * tm.beat) // background heartbeats
	require.NoError(t, l.Heartbeat(ctx, lock.WithNewData([]byte(secrets[2]))))
	for _, k := range []faultstore.Kind{faultstore.Ambiguous, faultstore.DroppedResponse, faultstore.Unavailable} {
		fs.Inject(faultstore.OpUpdate, k)
		_ = l.Heartbeat(ctx, lock.WithNewData([]byte(secrets[2])))
	}
	require.NoError(t, l.Release(ctx, lock.ReleaseWithData([]byte(secrets[3]))))

	// A steal: the record is taken over under the holder.
	ls, err := c.Acquire(ctx, "stolen", lock.WithData([]byte(secrets[0])))
	require.NoError(t, err)
	_, err = raw.Acquire(ctx, backend.AcquireRequest{ExpectVersion: versionOf(t, raw, ls.Key()), Record: backend.Record{
		Key: backend.Key{Partition: "stolen"}, Owner: "thief", Version: "v", LeaseDuration: tm.lease, Data: []byte(secrets[4])}})
	require.NoError(t, err)
	require.ErrorIs(t, ls.Heartbeat(ctx), lock.ErrStolen)

	// An expiry with danger first: the store goes away.
	le, err := c.Acquire(ctx, "expires", lock.WithData([]byte(secrets[0])),
		lock.OnDanger(tm.lease/2, func(*lock.Lock) {}))
	require.NoError(t, err)
	fs.SetRates(faultstore.Rates{Unavailable: 1}, 1)
	select {
	case <-le.Done():
	case <-ctx.Done():
		t.Fatalf("the lock cut off from its store never expired: %v", context.Cause(ctx))
	}
	require.ErrorIs(t, le.Err(), lock.ErrExpired)
	fs.SetRates(faultstore.Rates{}, 1)

	require.NoError(t, c.Do(ctx, "do", func(ctx context.Context, l *lock.Lock) error {
		return l.Heartbeat(ctx, lock.WithNewData([]byte(secrets[4])))
	}, lock.WithData([]byte(secrets[4]))))
	_, err = c.Acquire(ctx, "held-at-close", lock.WithData([]byte(secrets[0])))
	require.NoError(t, err)
	require.NoError(t, c.Close(ctx))
}

// TestNothingSecretIsLogged runs the engine at Debug level into a JSON
// handler through every path that logs, with distinctive lock data,
// attribute values and (on dynalite) credentials, and checks the log
// never holds them, in any encoding. The log must not be empty: that
// would prove nothing.
func TestNothingSecretIsLogged(t *testing.T) {
	check := func(t *testing.T, log string) {
		t.Helper()
		requireNoSecrets(t, log)
		for _, want := range []string{"acquired", "lost", "released", "danger"} {
			require.Contains(t, log, want, "the log should record %q events", want)
		}
		t.Logf("%d log lines, none with lock data, attributes or credentials", strings.Count(log, "\n"))
	}
	t.Run("memstore", func(t *testing.T) {
		var buf safeBuffer
		synctest.Test(t, func(t *testing.T) {
			mem := memstore.New()
			fs := faultstore.New(mem, nil)
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := virtualTiming.client(t, fs, "alice", lock.WithLogger(logger))
			exerciseLogging(context.Background(), t, c, fs, mem, virtualTiming) // synctest reports a call blocked for good
		})
		check(t, buf.String())
	})
	t.Run("dynalite", func(t *testing.T) {
		t.Parallel()
		d := newDynamoTable(t, testservers.Dynalite, nil)
		var buf safeBuffer
		fs := faultstore.New(d.store(t, nil), nil)
		logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c := remoteTiming.client(t, fs, "alice", lock.WithLogger(logger))
		exerciseLogging(d.ctx(t), t, c, fs, d.store(t, nil), remoteTiming)
		// A store error that carries the SDK's own message, logged too.
		bad, err := dynamostore.New(d.srv.Client(), "missing-"+d.table, nil)
		require.NoError(t, err)
		bc := remoteTiming.client(t, bad, "alice", lock.WithLogger(logger))
		_, err = bc.Acquire(d.ctx(t), "k", lock.WithData([]byte(secrets[0])))
		require.True(t, errors.Is(err, dynamostore.ErrTableNotFound), "%v", err)
		require.NoError(t, bc.Close(d.ctx(t)))
		check(t, buf.String())
	})
}
