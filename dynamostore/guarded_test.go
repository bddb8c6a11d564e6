package dynamostore_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// appPut puts an application item into table, optionally only if absent.
func appPut(table, key, value string, onlyIfAbsent bool) types.TransactWriteItem {
	put := &types.Put{TableName: aws.String(table), Item: item{"key": s(key), "value": s(value)}}
	if onlyIfAbsent {
		put.ConditionExpression = aws.String("attribute_not_exists(#k)")
		put.ExpressionAttributeNames = map[string]string{"#k": "key"}
	}
	return types.TransactWriteItem{Put: put}
}

func guardOf(r backend.Record) backend.Guard {
	return backend.Guard{Key: r.Key, Owner: r.Owner, Token: r.Token}
}

// TestGuardedWrites runs on moto, which has transactions.
func TestGuardedWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testservers.Moto, nil)
	other := e.another(t, nil)
	c := ctx(t)
	appValue := func(key string) (string, bool) {
		it := e.rawItem(t, item{"key": s(key)})
		if len(it) == 0 {
			return "", false
		}
		return it["value"].(*types.AttributeValueMemberS).Value, true
	}

	held, err := e.store.Acquire(c, backend.AcquireRequest{Record: lease("lock", "alice")})
	require.NoError(t, err)
	alice := guardOf(held.Record)

	t.Run("commits while held, in one request", func(t *testing.T) {
		e.counter.Reset()
		require.NoError(t, e.store.WriteGuarded(c, alice, []types.TransactWriteItem{appPut(e.table, "app-1", "one", false)}))
		require.Equal(t, map[string]int64{"TransactWriteItems": 1}, e.counter.Counts())
		v, ok := appValue("app-1")
		require.True(t, ok)
		require.Equal(t, "one", v)
	})

	t.Run("application condition failure is not a guard failure", func(t *testing.T) {
		err := e.store.WriteGuarded(c, alice, []types.TransactWriteItem{
			appPut(e.table, "app-2", "two", false),
			appPut(e.table, "app-1", "overwrite", true), // app-1 exists: fails
		})
		require.Error(t, err)
		require.NotErrorIs(t, err, backend.ErrGuardFailed)
		require.ErrorIs(t, err, dynamostore.ErrTransactionCanceled)
		var te *dynamostore.TransactionError
		require.ErrorAs(t, err, &te)
		require.Equal(t, []int{1}, te.FailedItems(), "%v", err)
		t.Log(err)
		_, ok := appValue("app-2")
		require.False(t, ok, "a canceled transaction writes nothing")
		v, _ := appValue("app-1")
		require.Equal(t, "one", v)
	})

	t.Run("stale holder refused after takeover", func(t *testing.T) {
		took, err := other.Acquire(c, backend.AcquireRequest{Record: lease("lock", "bob"), ExpectVersion: held.Record.Version})
		require.NoError(t, err)
		err = e.store.WriteGuarded(c, alice, []types.TransactWriteItem{appPut(e.table, "app-3", "stale", false)})
		require.ErrorIs(t, err, backend.ErrGuardFailed)
		_, ok := appValue("app-3")
		require.False(t, ok, "the stale holder's write must not commit")

		// Both the guard and an application condition fail: the guard wins.
		err = e.store.WriteGuarded(c, alice, []types.TransactWriteItem{appPut(e.table, "app-1", "x", true)})
		require.ErrorIs(t, err, backend.ErrGuardFailed)

		// The new holder's writes commit.
		require.NoError(t, other.WriteGuarded(c, guardOf(took.Record), []types.TransactWriteItem{appPut(e.table, "app-3", "bob", false)}))
		v, _ := appValue("app-3")
		require.Equal(t, "bob", v)

		// Released: refused even for the owner and token that held it.
		rel := took.Record
		rel.Version, rel.Released = "released", true
		_, err = other.Update(c, rel, took.Record.Version)
		require.NoError(t, err)
		err = other.WriteGuarded(c, guardOf(took.Record), []types.TransactWriteItem{appPut(e.table, "app-4", "x", false)})
		require.ErrorIs(t, err, backend.ErrGuardFailed)
	})

	t.Run("bad ops", func(t *testing.T) {
		require.ErrorIs(t, e.store.WriteGuarded(c, alice, "not ops"), backend.ErrInvalid)
		require.ErrorIs(t, e.store.WriteGuarded(c, alice, make([]types.TransactWriteItem, 100)), backend.ErrInvalid)
		// An op on the lock item itself is refused by DynamoDB.
		err := e.store.WriteGuarded(c, alice, []types.TransactWriteItem{appPut(e.table, "lock", "x", false)})
		require.ErrorIs(t, err, backend.ErrInvalid)
		t.Log(err)
		require.NotErrorIs(t, err, backend.ErrGuardFailed)
	})
}

// TestGuardedWritesUnsupported: dynalite has no TransactWriteItems.
func TestGuardedWritesUnsupported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testservers.Dynalite, nil)
	held, err := e.store.Acquire(ctx(t), backend.AcquireRequest{Record: lease("lock", "alice")})
	require.NoError(t, err)
	err = e.store.WriteGuarded(ctx(t), guardOf(held.Record), []types.TransactWriteItem{appPut(e.table, "a", "b", false)})
	require.ErrorIs(t, err, dynamostore.ErrUnsupported)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorIs(t, err, backend.ErrInvalid)
	require.NotErrorIs(t, err, backend.ErrAmbiguous)
}
