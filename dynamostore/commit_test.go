package dynamostore_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// commitEnv is a moto table with two lock clients, alice and bob, each on
// its own store and connection pool.
type commitEnv struct {
	*env
	bobStore   *dynamostore.Store
	alice, bob *lock.Client
}

func newCommitEnv(t *testing.T) *commitEnv {
	e := &commitEnv{env: newEnv(t, testservers.Moto, nil)}
	e.bobStore = e.another(t, nil)
	e.alice, e.bob = lockClient(t, e.store, "alice"), lockClient(t, e.bobStore, "bob")
	return e
}

func (e *commitEnv) appValue(t *testing.T, key string) (string, bool) {
	it := e.rawItem(t, item{"key": s(key)})
	if len(it) == 0 {
		return "", false
	}
	return it["value"].(*types.AttributeValueMemberS).Value, true
}

// TestCommitAndRelease: the application's writes and the release of the
// lock commit in one transaction, or neither does.
func TestCommitAndRelease(t *testing.T) {
	t.Parallel()
	t.Run("live holder: applied, and the key is free at once", func(t *testing.T) {
		t.Parallel()
		e, c := newCommitEnv(t), ctx(t)
		l, err := e.alice.Acquire(c, "job")
		require.NoError(t, err)
		e.counter.Reset()
		require.NoError(t, dynamostore.CommitAndRelease(c, l, []types.TransactWriteItem{appPut(e.table, "result", "done", false)}))
		require.Equal(t, map[string]int64{"TransactWriteItems": 1}, e.counter.Counts(), "one request")
		require.ErrorIs(t, l.Err(), lock.ErrReleased)
		v, ok := e.appValue(t, "result")
		require.True(t, ok)
		require.Equal(t, "done", v)
		lb, err := e.bob.TryAcquire(c, "job")
		require.NoError(t, err, "released in the same transaction: no lease to wait out")
		require.Equal(t, l.Token()+1, lb.Token(), "the fencing counter survives")
	})

	t.Run("stale holder: refused, nothing applied", func(t *testing.T) {
		t.Parallel()
		e, c := newCommitEnv(t), ctx(t)
		l, err := e.alice.Acquire(c, "job")
		require.NoError(t, err)
		// Bob takes the key over as a waiter does once alice's lease has
		// ended on his clock (alice was paused, say).
		cur, err := e.bobStore.Get(c, backend.Key{Partition: "job"})
		require.NoError(t, err)
		took, err := e.bobStore.Acquire(c, backend.AcquireRequest{ExpectVersion: cur.Version,
			Record: backend.Record{Key: cur.Key, Owner: "bob", Version: "bobs", LeaseDuration: cur.LeaseDuration}})
		require.NoError(t, err)

		err = dynamostore.CommitAndRelease(c, l, []types.TransactWriteItem{appPut(e.table, "result", "stale", false)})
		require.ErrorIs(t, err, lock.ErrStolen, "the stale holder learns it lost the lock")
		require.ErrorIs(t, l.Err(), lock.ErrStolen)
		_, ok := e.appValue(t, "result")
		require.False(t, ok, "none of the stale holder's writes applied")
		now, err := e.bobStore.Get(c, cur.Key)
		require.NoError(t, err)
		require.Equal(t, took.Record.Version, now.Version, "bob's record untouched")
		require.False(t, now.Released)
	})

	t.Run("application condition fails: nothing applied, still held", func(t *testing.T) {
		t.Parallel()
		e, c := newCommitEnv(t), ctx(t)
		l, err := e.alice.Acquire(c, "job")
		require.NoError(t, err)
		require.NoError(t, dynamostore.WriteGuarded(c, l, appPut(e.table, "result", "first", false)))
		err = dynamostore.CommitAndRelease(c, l, []types.TransactWriteItem{
			appPut(e.table, "other", "x", false),
			appPut(e.table, "result", "second", true), // exists: fails
		})
		var te *dynamostore.TransactionError
		require.ErrorAs(t, err, &te)
		require.Equal(t, []int{1}, te.FailedItems())
		require.NoError(t, l.Err(), "the lock stays held")
		_, ok := e.appValue(t, "other")
		require.False(t, ok, "all or nothing")
		_, err = e.bob.TryAcquire(c, "job")
		require.ErrorIs(t, err, lock.ErrLocked)
		require.NoError(t, l.Release(c))
	})

	t.Run("delete on release", func(t *testing.T) {
		t.Parallel()
		e, c := newCommitEnv(t), ctx(t)
		l, err := e.alice.Acquire(c, "job", lock.DeleteOnRelease())
		require.NoError(t, err)
		require.NoError(t, dynamostore.CommitAndRelease(c, l, []types.TransactWriteItem{appPut(e.table, "result", "done", false)}))
		require.Empty(t, e.rawItem(t, item{"key": s("job")}), "the lock item is gone")
		_, ok := e.appValue(t, "result")
		require.True(t, ok)
	})
}

// TestCommitAndReleaseUnsupported: dynalite has no transactions; the lock
// says so and stays held.
func TestCommitAndReleaseUnsupported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testservers.Dynalite, nil)
	c := ctx(t)
	l, err := lockClient(t, e.store, "alice").Acquire(c, "job")
	require.NoError(t, err)
	err = dynamostore.CommitAndRelease(c, l, []types.TransactWriteItem{appPut(e.table, "result", "done", false)})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.NoError(t, l.Err(), "nothing was written; the lock is still held")
}

// TestGuardCheckComposes: the lock check as one item of the application's
// own transaction (here with an item on a second table).
func TestGuardCheckComposes(t *testing.T) {
	t.Parallel()
	e, c := newCommitEnv(t), ctx(t)
	l, err := e.alice.Acquire(c, "job")
	require.NoError(t, err)
	appTable := e.table + "-app"
	_, err = e.client.CreateTable(c, &dynamodb.CreateTableInput{
		TableName:            aws.String(appTable),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("key"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("key"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	require.NoError(t, err)
	write := func(value string) error {
		_, err := e.client.TransactWriteItems(c, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			appPut(appTable, "order-1", value, false),
			e.store.GuardCheck(l.Guard()),
		}})
		return err
	}
	require.NoError(t, write("while held"))

	// Bob takes the key over: alice's guard no longer holds.
	cur, err := e.bobStore.Get(c, backend.Key{Partition: "job"})
	require.NoError(t, err)
	_, err = e.bobStore.Acquire(c, backend.AcquireRequest{ExpectVersion: cur.Version,
		Record: backend.Record{Key: cur.Key, Owner: "bob", Version: "bobs", LeaseDuration: cur.LeaseDuration}})
	require.NoError(t, err)
	err = write("stale")
	var canceled *types.TransactionCanceledException
	require.ErrorAs(t, err, &canceled)
	require.Equal(t, "ConditionalCheckFailed", aws.ToString(canceled.CancellationReasons[1].Code), "the guard refused it")
	out, err := e.client.GetItem(c, &dynamodb.GetItemInput{TableName: aws.String(appTable), Key: item{"key": s("order-1")}, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	require.Equal(t, s("while held"), out.Item["value"], "the stale write did not apply")
}
