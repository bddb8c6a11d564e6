package reliability

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/faultstore"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/internal/wallclock"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// badEnv is what one bad-input case works with: a store (fresh memstore,
// or a dynalite table shared by the dynalite cases) and clients on it.
type badEnv struct {
	t     *testing.T
	ctx   context.Context
	store backend.Store
	list  backend.Lister
	dyn   *dynamoTable // dynalite cases only

	held  *lock.Lock   // set by setups that hold a lock
	other *lock.Client // set by setups that need a second client
}

// badTiming: leases long enough that no heartbeat runs during a case, so
// the store can be compared before and after.
var badTiming = timing{time.Minute, 20 * time.Second, time.Second}

// client starts a valid client on the case's store; Close is registered.
func (e *badEnv) client(owner string, opts ...lock.Option) *lock.Client {
	c := badTiming.client(e.t, e.store, owner, opts...)
	e.t.Cleanup(func() { _ = c.Close(e.ctx) }) // runs before e.ctx's own cleanup
	return c
}

// newClient is lock.New with the case's store and valid timings, then
// opts; it returns New's error.
func (e *badEnv) newClient(opts ...lock.Option) error {
	base := []lock.Option{lock.WithLeaseDuration(badTiming.lease), lock.WithHeartbeatPeriod(badTiming.beat)}
	c, err := lock.New(e.store, append(base, opts...)...)
	if c != nil {
		_ = c.Close(e.ctx)
	}
	return err
}

func (e *badEnv) hold(key string, opts ...lock.AcquireOption) {
	l, err := e.client("holder").Acquire(e.ctx, key, opts...)
	require.NoError(e.t, err)
	e.held = l
}

// snapshot lists every record of the store.
func (e *badEnv) snapshot() map[backend.Key]backend.Record {
	out := map[backend.Key]backend.Record{}
	req := backend.ListRequest{}
	for {
		page, err := e.list.List(e.ctx, req)
		require.NoError(e.t, err)
		for _, r := range page.Records {
			out[r.Key] = r
		}
		if page.Next == "" {
			return out
		}
		req.PageToken = page.Next
	}
}

type badInput struct {
	name  string
	setup func(e *badEnv) // may write; its writes are the baseline
	op    func(e *badEnv) error
	want  []error // the error must match every one with errors.Is
	// refusedWrite: the op sends one conditional write, which the store
	// refuses (the check cannot be made before sending).
	refusedWrite bool
}

// badInputsAnyStore run on memstore.
func badInputsAnyStore() []badInput {
	danger := func(*lock.Lock) {}
	acquire := func(key string, opts ...lock.AcquireOption) func(e *badEnv) error {
		return func(e *badEnv) error { _, err := e.client("alice").Acquire(e.ctx, key, opts...); return err }
	}
	closed := func(e *badEnv) { c := e.client("closed"); require.NoError(e.t, c.Close(e.ctx)); e.other = c }
	return []badInput{
		{name: "New: nil store", op: func(e *badEnv) error { _, err := lock.New(nil); return err },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: nil Option", op: func(e *badEnv) error { return e.newClient(nil) }, want: []error{lock.ErrInvalidOption}},
		{name: "New: zero lease", op: func(e *badEnv) error { return e.newClient(lock.WithLeaseDuration(0)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: negative lease", op: func(e *badEnv) error { return e.newClient(lock.WithLeaseDuration(-time.Second)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: zero heartbeat", op: func(e *badEnv) error { return e.newClient(lock.WithHeartbeatPeriod(0)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: negative heartbeat", op: func(e *badEnv) error { return e.newClient(lock.WithHeartbeatPeriod(-time.Second)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: heartbeat above lease/2", op: func(e *badEnv) error {
			return e.newClient(lock.WithLeaseDuration(10*time.Second), lock.WithHeartbeatPeriod(5*time.Second+1))
		}, want: []error{lock.ErrInvalidOption}},
		{name: "New: heartbeat equal to lease", op: func(e *badEnv) error {
			return e.newClient(lock.WithLeaseDuration(10*time.Second), lock.WithHeartbeatPeriod(10*time.Second))
		}, want: []error{lock.ErrInvalidOption}},
		{name: "New: zero poll", op: func(e *badEnv) error { return e.newClient(lock.WithPollPeriod(0)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: negative drift", op: func(e *badEnv) error { return e.newClient(lock.WithClockDrift(-0.01)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: drift 50%", op: func(e *badEnv) error { return e.newClient(lock.WithClockDrift(0.5)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: empty owner", op: func(e *badEnv) error { return e.newClient(lock.WithOwner("")) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: owner not valid UTF-8", op: func(e *badEnv) error { return e.newClient(lock.WithOwner("alice\xff")) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: zero heartbeat workers", op: func(e *badEnv) error { return e.newClient(lock.WithHeartbeatWorkers(0)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: negative heartbeat rate", op: func(e *badEnv) error { return e.newClient(lock.WithHeartbeatRate(-1)) },
			want: []error{lock.ErrInvalidOption}},
		{name: "New: negative wall-clock skew", op: func(e *badEnv) error { return e.newClient(lock.WithWallClockExpiry(-time.Second)) },
			want: []error{lock.ErrInvalidOption}},

		{name: "Acquire: empty key", op: acquire(""), want: []error{lock.ErrInvalidKey, backend.ErrInvalid}},
		{name: "Acquire: invalid UTF-8 key", op: acquire("lock-\xff\xfe"), want: []error{lock.ErrInvalidKey, backend.ErrInvalid}},
		{name: "Acquire: invalid UTF-8 sort key", op: acquire("k", lock.WithSortKey("\xc3\x28")),
			want: []error{lock.ErrInvalidKey, backend.ErrInvalid}},
		{name: "TryAcquire: empty key", op: func(e *badEnv) error {
			_, err := e.client("alice").TryAcquire(e.ctx, "")
			return err
		}, want: []error{lock.ErrInvalidKey}},
		{name: "Get: invalid UTF-8 key", op: func(e *badEnv) error {
			_, err := e.client("alice").Get(e.ctx, "\x80", "")
			return err
		}, want: []error{lock.ErrInvalidKey}},
		{name: "Acquire: nil AcquireOption", op: acquire("k", nil), want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: negative AdditionalWait", op: acquire("k", lock.AdditionalWait(-time.Second)),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: negative MaxHold", op: acquire("k", lock.MaxHold(-time.Second)), want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: zero safe time", op: acquire("k", lock.OnDanger(0, danger)), want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: safe time equal to the lease", op: acquire("k", lock.OnDanger(badTiming.lease, danger)),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: negative safe time", op: acquire("k", lock.OnDanger(-time.Second, danger)),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: OnDanger without a callback", op: acquire("k", lock.OnDanger(time.Second, nil)),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: empty attribute name", op: acquire("k", lock.WithAttributes(map[string]string{"": "x"})),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: reserved attribute name", op: acquire("k", lock.WithAttributes(map[string]string{wallclock.Attribute: "1"})),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: attribute name not valid UTF-8", op: acquire("k", lock.WithAttributes(map[string]string{"note\xfe": "x"})),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: attribute value not valid UTF-8", op: acquire("k", lock.WithAttributes(map[string]string{"note": "\xff"})),
			want: []error{lock.ErrInvalidOption}},
		{name: "Acquire: context already cancelled", op: func(e *badEnv) error {
			ctx, cancel := context.WithCancel(e.ctx)
			cancel()
			_, err := e.client("alice").Acquire(ctx, "k")
			return err
		}, want: []error{context.Canceled}},
		{name: "Acquire: deadline already passed", op: func(e *badEnv) error {
			ctx, cancel := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
			defer cancel()
			_, err := e.client("alice").Acquire(ctx, "k")
			return err
		}, want: []error{context.DeadlineExceeded}},

		{name: "closed client: Acquire", setup: closed, op: func(e *badEnv) error {
			_, err := e.other.Acquire(e.ctx, "k")
			return err
		}, want: []error{lock.ErrClosed}},
		{name: "closed client: TryAcquire", setup: closed, op: func(e *badEnv) error {
			_, err := e.other.TryAcquire(e.ctx, "k")
			return err
		}, want: []error{lock.ErrClosed}},
		{name: "closed client: Get", setup: closed, op: func(e *badEnv) error {
			_, err := e.other.Get(e.ctx, "k", "")
			return err
		}, want: []error{lock.ErrClosed}},
		{name: "closed client: Do", setup: closed, op: func(e *badEnv) error {
			return e.other.Do(e.ctx, "k", func(context.Context, *lock.Lock) error { return nil })
		}, want: []error{lock.ErrClosed}},

		{name: "Release: nil ReleaseOption", setup: func(e *badEnv) { e.hold("k") },
			op: func(e *badEnv) error { return e.held.Release(e.ctx, nil) }, want: []error{lock.ErrInvalidOption}},
		{name: "Release: data on a lock that deletes its record", setup: func(e *badEnv) { e.hold("k", lock.DeleteOnRelease()) },
			op: func(e *badEnv) error {
				return e.held.Release(e.ctx, lock.ReleaseWithData([]byte("d")))
			}, want: []error{lock.ErrInvalidOption}},
		{name: "Heartbeat: nil HeartbeatOption", setup: func(e *badEnv) { e.hold("k") },
			op: func(e *badEnv) error { return e.held.Heartbeat(e.ctx, nil) }, want: []error{lock.ErrInvalidOption}},
		{name: "WriteGuarded: ops of the wrong type", setup: func(e *badEnv) { e.hold("k") },
			op: func(e *badEnv) error { return e.held.WriteGuarded(e.ctx, "not ops") }, want: []error{backend.ErrInvalid}},
		{name: "WriteGuarded: store without guarded writes", setup: func(e *badEnv) {
			c := badTiming.client(e.t, faultstore.New(e.store, nil), "alice")
			e.t.Cleanup(func() { _ = c.Close(e.ctx) })
			l, err := c.Acquire(e.ctx, "k")
			require.NoError(e.t, err)
			e.held = l
		}, op: func(e *badEnv) error {
			return e.held.WriteGuarded(e.ctx, func() error { panic("must not run") })
		}, want: []error{errors.ErrUnsupported}},
		{name: "Release: a lock another client took over", setup: func(e *badEnv) {
			e.hold("k")
			_, err := e.store.Acquire(e.ctx, backend.AcquireRequest{ExpectVersion: versionOf(e.t, e.store, e.held.Key()),
				Record: backend.Record{Key: backend.Key{Partition: "k"}, Owner: "bob", Version: "bobs", LeaseDuration: time.Minute}})
			require.NoError(e.t, err)
		}, op: func(e *badEnv) error { return e.held.Release(e.ctx) }, want: []error{lock.ErrLockLost, lock.ErrStolen},
			refusedWrite: true},
	}
}

// badInputsDynamo run on a dynalite table.
func badInputsDynamo() []badInput {
	acquire := func(key string, opts ...lock.AcquireOption) func(e *badEnv) error {
		return func(e *badEnv) error { _, err := e.client("alice").Acquire(e.ctx, key, opts...); return err }
	}
	big := make([]byte, dynamostore.MaxItemBytes)
	store := func(table string, opts *dynamostore.Options) func(e *badEnv) error {
		return func(e *badEnv) error {
			_, err := dynamostore.New(e.dyn.srv.Client(), table, opts)
			return err
		}
	}
	return []badInput{
		{name: "key over 2048 bytes", op: acquire(strings.Repeat("k", dynamostore.MaxPartitionKeyBytes+1)),
			want: []error{lock.ErrInvalidKey, backend.ErrInvalid}},
		{name: "sort key on a table without one", op: acquire("k", lock.WithSortKey("s")),
			want: []error{lock.ErrInvalidKey, backend.ErrInvalid}},
		{name: "data over 400 KB", op: acquire("k", lock.WithData(big)),
			want: []error{dynamostore.ErrItemTooLarge, backend.ErrInvalid}},
		{name: "attribute named like a lock attribute", op: acquire("k", lock.WithAttributes(map[string]string{dynamostore.AttrOwnerName: "mallory"})),
			want: []error{backend.ErrInvalid}},
		{name: "attribute named like the partition key", op: acquire("k", lock.WithAttributes(map[string]string{"key": "other"})),
			want: []error{backend.ErrInvalid}},
		{name: "lease not a whole number of milliseconds", op: func(e *badEnv) error {
			c := timing{1500 * time.Microsecond, 500 * time.Microsecond, time.Millisecond}.client(e.t, e.store, "alice")
			defer c.Close(e.ctx)
			_, err := c.Acquire(e.ctx, "k")
			return err
		}, want: []error{backend.ErrInvalid}},
		{name: "Heartbeat with data over 400 KB", setup: func(e *badEnv) { e.hold("k") },
			op: func(e *badEnv) error {
				err := e.held.Heartbeat(e.ctx, lock.WithNewData(big))
				require.NoError(e.t, e.held.Err(), "a refused heartbeat does not lose the lock")
				return err
			}, want: []error{dynamostore.ErrItemTooLarge}},
		{name: "Release with data over 400 KB", setup: func(e *badEnv) { e.hold("k") },
			op: func(e *badEnv) error {
				err := e.held.Release(e.ctx, lock.ReleaseWithData(big))
				require.NoError(e.t, e.held.Err(), "a refused release leaves the lock held")
				return err
			}, want: []error{dynamostore.ErrItemTooLarge}},
		{name: "WriteGuarded: ops of the wrong type", setup: func(e *badEnv) { e.hold("k") },
			op:   func(e *badEnv) error { return e.held.WriteGuarded(e.ctx, func() error { return nil }) },
			want: []error{backend.ErrInvalid}},
		{name: "WriteGuarded: 100 ops", setup: func(e *badEnv) { e.hold("k") },
			op: func(e *badEnv) error {
				return e.held.WriteGuarded(e.ctx, make([]types.TransactWriteItem, dynamostore.MaxGuardedOps+1))
			}, want: []error{backend.ErrInvalid}},
		{name: "unknown table", op: func(e *badEnv) error {
			st, err := dynamostore.New(e.dyn.srv.Client(), "no-such-table-"+testservers.TableName(e.t), nil)
			require.NoError(e.t, err)
			c := badTiming.client(e.t, st, "alice")
			defer c.Close(e.ctx)
			_, err = c.Acquire(e.ctx, "k")
			return err
		}, want: []error{dynamostore.ErrTableNotFound, backend.ErrInvalid}},
		{name: "store: nil client", op: func(e *badEnv) error { _, err := dynamostore.New(nil, "locks", nil); return err },
			want: []error{backend.ErrInvalid}},
		{name: "store: table name too short", op: store("ab", nil), want: []error{backend.ErrInvalid}},
		{name: "store: table name with a space", op: store("lock table", nil), want: []error{backend.ErrInvalid}},
		{name: "store: partition key named like a lock attribute", op: store("locks", &dynamostore.Options{PartitionKeyName: dynamostore.AttrFencingToken}),
			want: []error{backend.ErrInvalid}},
		{name: "store: negative TTL retention", op: store("locks", &dynamostore.Options{TTLAttribute: "ttl", TTLRetention: -time.Hour}),
			want: []error{backend.ErrInvalid}},
	}
}

// TestBadInputs passes invalid input through the public API: each gets an
// error that errors.Is a documented sentinel, nothing panics, and the store
// is unchanged afterwards (for DynamoDB: not even a write request is sent).
func TestBadInputs(t *testing.T) {
	var tried atomic.Int32
	run := func(t *testing.T, tc badInput, newEnv func(t *testing.T) *badEnv, writes func() int64) {
		e := newEnv(t)
		if tc.setup != nil {
			tc.setup(e)
		}
		before := e.snapshot()
		var sent int64
		if writes != nil {
			sent = writes()
		}
		var err error
		require.NotPanics(t, func() { err = tc.op(e) })
		tried.Add(1)
		require.Error(t, err)
		for _, want := range tc.want {
			require.ErrorIs(t, err, want, "%v", err)
		}
		require.Equal(t, before, e.snapshot(), "the store changed")
		if writes != nil && !tc.refusedWrite {
			require.Equal(t, sent, writes(), "a write request was sent")
		}
		if msg := err.Error(); len(msg) > 300 {
			t.Log(msg[:150] + " ... " + msg[len(msg)-150:])
		} else {
			t.Log(msg)
		}
	}

	t.Run("memstore", func(t *testing.T) {
		for _, tc := range badInputsAnyStore() {
			t.Run(tc.name, func(t *testing.T) {
				run(t, tc, func(t *testing.T) *badEnv {
					m := memstore.New()
					return &badEnv{t: t, ctx: testservers.Context(t), store: m, list: m}
				}, nil)
			})
		}
	})
	t.Run("dynalite", func(t *testing.T) {
		testservers.Get(t, testservers.Dynalite) // skip (or fail) here, not in every case
		counter := dynamostore.NewCounter()
		writes := func() int64 {
			return counter.Count("UpdateItem") + counter.Count("DeleteItem") + counter.Count("PutItem") +
				counter.Count("TransactWriteItems")
		}
		for _, tc := range append(badInputsDynamo(), badInputsAnyStore()...) {
			t.Run(tc.name, func(t *testing.T) {
				run(t, tc, func(t *testing.T) *badEnv {
					d := newDynamoTable(t, testservers.Dynalite, nil)
					st := d.store(t, nil, counter.Install)
					return &badEnv{t: t, ctx: d.ctx(t), store: st, list: st, dyn: d}
				}, writes)
			})
		}
	})
	t.Logf("%d invalid inputs tried; every one refused with its sentinel, nothing written", tried.Load())
}
