package reliability

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// freezer wraps one holder's store. While frozen, the calls it selects
// block (ignoring their contexts, as a paused process does) until thaw;
// then they go through, late, exactly as a process resuming from a long
// GC pause sends the requests it had prepared.
type freezer struct {
	backend.Store
	all      bool // freeze every call, not only guarded writes
	mu       sync.Mutex
	frozen   bool
	gate     chan struct{}
	inFlight atomic.Int32 // calls now blocked
}

func newFreezer(s backend.Store, all bool) *freezer {
	return &freezer{Store: s, all: all, gate: make(chan struct{})}
}

func (f *freezer) freeze() { f.mu.Lock(); f.frozen = true; f.mu.Unlock() }

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		f.frozen = false
		close(f.gate)
	}
}

func (f *freezer) wait(guarded bool) {
	f.mu.Lock()
	frozen, gate := f.frozen && (guarded || f.all), f.gate
	f.mu.Unlock()
	if frozen {
		f.inFlight.Add(1)
		<-gate
		f.inFlight.Add(-1)
	}
}

func (f *freezer) Get(ctx context.Context, k backend.Key) (backend.Record, error) {
	f.wait(false)
	return f.Store.Get(ctx, k)
}

func (f *freezer) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	f.wait(false)
	return f.Store.Acquire(ctx, req)
}

func (f *freezer) Update(ctx context.Context, rec backend.Record, expect string) (backend.Record, error) {
	f.wait(false)
	return f.Store.Update(ctx, rec, expect)
}

func (f *freezer) Delete(ctx context.Context, k backend.Key, expect string) error {
	f.wait(false)
	return f.Store.Delete(ctx, k, expect)
}

func (f *freezer) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	f.wait(true)
	return f.Store.(backend.GuardedWriter).WriteGuarded(ctx, g, ops)
}

// TestPausedHolderMemstore: alice holds a key and starts a guarded write;
// then she pauses longer than her lease (her work context ends, so nothing
// renews the lease; her write is stuck in flight). Bob takes the key over,
// only after alice has been told she lost it; when alice resumes, her
// write reaches the store and is refused.
func TestPausedHolderMemstore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := memstore.New()
		fa := newFreezer(mem, false)
		alice := virtualTiming.client(t, fa, "alice")
		defer alice.Close(ctx)
		bob := virtualTiming.client(t, mem, "bob")
		defer bob.Close(ctx)

		work, pause := context.WithCancel(ctx)
		la, err := alice.Acquire(ctx, "k", lock.HeartbeatWhile(work))
		require.NoError(t, err)
		var written atomic.Bool
		fa.freeze()
		guarded := make(chan error, 1)
		go func() {
			guarded <- la.WriteGuarded(ctx, func() error { written.Store(true); return nil })
		}()
		pause() // the pause: nothing renews alice's lease from here on
		start := time.Now()
		synctest.Wait()
		require.Equal(t, int32(1), fa.inFlight.Load(), "alice's write is in flight")

		lb, err := bob.Acquire(ctx, "k")
		require.NoError(t, err)
		waited := time.Since(start)
		select {
		case <-la.Done():
		default:
			t.Fatal("bob took the key over before alice was told she lost it")
		}
		require.ErrorIs(t, la.Err(), lock.ErrExpired)
		require.Greater(t, lb.Token(), la.Token())

		fa.thaw() // alice resumes: her write arrives after the takeover
		err = <-guarded
		require.ErrorIs(t, err, lock.ErrLockLost)
		require.False(t, written.Load(), "the paused holder's guarded write must be refused")

		var bobWrote bool
		require.NoError(t, lb.WriteGuarded(ctx, func() error { bobWrote = true; return nil }))
		require.True(t, bobWrote)
		require.NoError(t, lb.Err())
		t.Logf("alice paused; bob took over after %v (lease %v); alice was told first; her write was refused", waited, virtualTiming.lease)
	})
}

// TestPausedHolderMoto: the same on moto with dynamostore's guarded write
// (TransactWriteItems with a ConditionCheck on the lock item), in real
// time, and a harder pause: every store call of alice's freezes, her
// heartbeats and her release of the lapsed lease included, and all of
// them are sent when she resumes.
func TestPausedHolderMoto(t *testing.T) {
	t.Parallel()
	d := newDynamoTable(t, testservers.Moto, nil)
	ctx, cancel := context.WithTimeout(d.ctx(t), time.Minute)
	defer cancel()
	fa := newFreezer(d.store(t, nil), true)
	alice := remoteTiming.client(t, fa, "alice")
	defer alice.Close(ctx)
	bobStore := d.store(t, nil)
	bob := remoteTiming.client(t, bobStore, "bob")
	defer bob.Close(ctx)

	appItem := func(value string) []types.TransactWriteItem {
		return []types.TransactWriteItem{{Put: &types.Put{
			TableName: aws.String(d.table),
			Item: map[string]types.AttributeValue{
				"key": &types.AttributeValueMemberS{Value: "app-item"}, "value": &types.AttributeValueMemberS{Value: value}},
		}}}
	}
	readApp := func() string {
		out, err := d.srv.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"key": &types.AttributeValueMemberS{Value: "app-item"}}})
		require.NoError(t, err)
		if len(out.Item) == 0 {
			return ""
		}
		return out.Item["value"].(*types.AttributeValueMemberS).Value
	}

	la, err := alice.Acquire(ctx, "k")
	require.NoError(t, err)
	fa.freeze()
	start := time.Now()
	guarded := make(chan error, 1)
	go func() { guarded <- la.WriteGuarded(ctx, appItem("alice")) }()

	lb, err := bob.Acquire(ctx, "k")
	require.NoError(t, err)
	waited := time.Since(start)
	select {
	case <-la.Done():
	default:
		t.Fatal("bob took the key over before alice was told she lost it")
	}
	require.ErrorIs(t, la.Err(), lock.ErrExpired)
	require.GreaterOrEqual(t, waited, remoteTiming.lease-remoteTiming.beat, "takeover before the lease could have ended")
	require.Positive(t, fa.inFlight.Load(), "alice's calls are frozen in flight")

	fa.thaw() // alice resumes; her frozen heartbeat, lapsed-lease release and guarded write are sent now
	err = <-guarded
	require.ErrorIs(t, err, lock.ErrLockLost)
	require.Empty(t, readApp(), "the paused holder's guarded write must be refused")

	// Her late writes change nothing: bob still holds the key.
	time.Sleep(2 * remoteTiming.beat)
	require.NoError(t, lb.Err())
	rec, err := bobStore.Get(ctx, backend.Key{Partition: "k"})
	require.NoError(t, err)
	require.Equal(t, "bob", rec.Owner)
	require.Equal(t, lb.Token(), rec.Token)
	require.False(t, rec.Released)
	require.NoError(t, lb.WriteGuarded(ctx, appItem("bob")))
	require.Equal(t, "bob", readApp())
	t.Logf("alice frozen; bob took over after %v (lease %v); alice was told first; her write was refused", waited, remoteTiming.lease)
}
