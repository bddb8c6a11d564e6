package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
)

// TestServerCapabilities measures, with raw SDK calls, what each emulator
// does where they differ from DynamoDB, and pins it: when an upgrade
// changes one of these, this test says so and docs/dynamodb.md needs an
// update.
func TestServerCapabilities(t *testing.T) {
	type caps struct {
		transactions, ttl, returnsItemOnConditionFailure, enforcesKeySize bool
	}
	want := map[testservers.Kind]caps{
		testservers.Dynalite: {transactions: false, ttl: false, returnsItemOnConditionFailure: false, enforcesKeySize: true},
		testservers.Moto:     {transactions: true, ttl: true, returnsItemOnConditionFailure: true, enforcesKeySize: true},
	}
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		var got caps
		tbl := aws.String(e.table)

		_, err := e.client.PutItem(c, &dynamodb.PutItemInput{TableName: tbl, Item: item{"key": s("k"), "v": s("1")}})
		require.NoError(t, err)

		_, err = e.client.TransactWriteItems(c, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: tbl, Item: item{"key": s("t1")}}}}})
		got.transactions = err == nil
		if err != nil {
			t.Logf("TransactWriteItems: %v", err)
		}

		_, err = e.client.UpdateTimeToLive(c, &dynamodb.UpdateTimeToLiveInput{TableName: tbl,
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)}})
		got.ttl = err == nil
		if err != nil {
			t.Logf("UpdateTimeToLive: %v", err)
		}

		_, err = e.client.PutItem(c, &dynamodb.PutItemInput{TableName: tbl, Item: item{"key": s("k")},
			ConditionExpression:                 aws.String("attribute_not_exists(#k)"),
			ExpressionAttributeNames:            map[string]string{"#k": "key"},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
		var ccf *types.ConditionalCheckFailedException
		require.ErrorAs(t, err, &ccf)
		got.returnsItemOnConditionFailure = len(ccf.Item) > 0

		_, err = e.client.PutItem(c, &dynamodb.PutItemInput{TableName: tbl, Item: item{"key": s(strings.Repeat("k", 2049))}})
		got.enforcesKeySize = err != nil

		require.Equal(t, want[kind], got, "%s capabilities changed: update docs/dynamodb.md", kind)
		t.Logf("%s: %+v", kind, got)
	})
}

// TestThreadedMotoIsNotLinearizable measures why the tests run moto with
// its requests serialised: plain moto_server can let two conditional
// acquires of one key both succeed. The count varies from run to run; the
// test only reports it, and checks that the serialised moto never does.
func TestThreadedMotoIsNotLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an extra server")
	}
	// count runs on a subtest's t: Get may skip it, and only the test's own
	// goroutine may do that.
	count := func(t *testing.T, kind testservers.Kind) int {
		e := newEnv(t, kind, nil)
		other := e.another(t, nil)
		c := ctx(t)
		doubles := 0
		for i := range 100 {
			key := fmt.Sprint("race-", i)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for j, st := range []backend.Store{e.store, other} {
				wg.Go(func() {
					_, errs[j] = st.Acquire(c, backend.AcquireRequest{Record: lease(key, fmt.Sprint("owner-", j))})
				})
			}
			wg.Wait()
			if errs[0] == nil && errs[1] == nil {
				doubles++
			}
			for _, err := range errs {
				if err != nil && !errors.Is(err, backend.ErrConflict) && !errors.Is(err, context.Canceled) {
					t.Fatalf("%s: %v", kind, err)
				}
			}
		}
		return doubles
	}
	t.Run("threaded", func(t *testing.T) {
		t.Parallel()
		t.Logf("plain moto_server: %d of 100 races had two winners", count(t, testservers.MotoThreaded))
	})
	t.Run("serialised", func(t *testing.T) {
		t.Parallel()
		require.Zero(t, count(t, testservers.Moto), "serialised moto must be linearizable")
	})
}
