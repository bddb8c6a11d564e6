package otelock_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/otelock"
)

// TestOnDynamoDB runs a real sequence on each DynamoDB test server: a free
// acquisition (one store call), a contender refused, a guarded write where
// the server has transactions, a steal found by a heartbeat, and a
// re-acquisition released; and checks what the reader and the recorder
// received, store calls included.
func TestOnDynamoDB(t *testing.T) {
	testservers.OnEach(t, func(t *testing.T, kind testservers.Kind) {
		srv := testservers.Get(t, kind)
		ctx := srv.Context(t)
		table := testservers.TableName(t)
		newStore := func() *dynamostore.Store {
			s, err := dynamostore.New(srv.Client(), table, nil)
			require.NoError(t, err)
			return s
		}
		admin := newStore()
		_, err := admin.CreateTable(ctx, dynamostore.TableOptions{})
		require.NoError(t, err)

		tm := newTelemetry(t)
		timing := []lock.Option{lock.WithObserver(tm.obs), lock.WithLeaseDuration(3 * time.Second),
			lock.WithHeartbeatPeriod(300 * time.Millisecond), lock.WithPollPeriod(100 * time.Millisecond)}
		alice := newClient(t, newStore(), "alice", timing...)
		bob := newClient(t, newStore(), "bob", timing...)

		wctx, work := tm.tracer.Start(ctx, "work")
		l, err := alice.Acquire(wctx, "k")
		require.NoError(t, err)
		require.Equal(t, []string{"leaselock.store.Acquire"}, tm.children(tm.one(t, "leaselock.Acquire")),
			"a free key costs one store call")
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricStoreCalls, storeOp(lock.StoreAcquire)))
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricLocksHeld))

		_, err = bob.TryAcquire(ctx, "k")
		require.ErrorIs(t, err, lock.ErrLocked)
		require.Equal(t, uint64(1), tm.hist(t, otelock.MetricAcquireDuration, opTry, outcome(lock.OutcomeHeld)).Count)
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricStoreCalls, storeOp(lock.StoreAcquire), errType("conflict")))

		if kind == testservers.Moto { // dynalite has no transactions
			require.NoError(t, dynamostore.WriteGuarded(wctx, l, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(table),
				Item: map[string]types.AttributeValue{
					"key": &types.AttributeValueMemberS{Value: fmt.Sprint("app-", kind)}},
			}}))
			require.Equal(t, int64(1), tm.sum(t, otelock.MetricGuardedWrites, outcome(lock.OutcomeCommitted)))
			gw := tm.one(t, "leaselock.WriteGuarded")
			require.Equal(t, []string{"leaselock.store.WriteGuarded"}, tm.children(gw))
			require.Equal(t, work.SpanContext().SpanID(), gw.Parent().SpanID())
		}

		// Another client overwrites the record; alice's next heartbeat
		// finds it.
		steal(t, ctx, admin, "k")
		select {
		case <-l.Done():
		case <-ctx.Done():
			t.Fatal("the steal was not found")
		}
		work.End()
		require.ErrorIs(t, l.Err(), lock.ErrStolen)
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricLosses, otelock.KeyLossReason.String("stolen"),
			otelock.KeyLossCause.String("overwritten")))
		require.Equal(t, "mallory", attrs(event(t, tm.one(t, "work"), otelock.EventLost).Attributes)["leaselock.holder"])
		require.Positive(t, tm.sum(t, otelock.MetricStoreCalls, storeOp(lock.StoreUpdate), errType("conflict")))

		// bob waits for mallory's lease to run out on his clock, then
		// takes over and releases.
		lb, err := bob.Acquire(ctx, "k")
		require.NoError(t, err)
		waited := tm.hist(t, otelock.MetricAcquireWait, opAcquire, outcome(lock.OutcomeAcquired))
		require.Equal(t, uint64(2), waited.Count, "alice's, with no wait, and bob's")
		require.GreaterOrEqual(t, waited.Sum, 3.0, "a takeover waits a whole lease")
		require.NoError(t, lb.Release(ctx))
		require.Zero(t, tm.sum(t, otelock.MetricLocksHeld))
		require.Equal(t, int64(1), tm.sum(t, otelock.MetricReleases, opRelease, outcome(lock.OutcomeReleased)))
		for _, s := range tm.spans.Ended() {
			if s.Name() != "work" {
				require.NotEqual(t, codes.Error, s.Status().Code, "%s: %s", s.Name(), s.Status().Description)
			}
		}
	})
}
