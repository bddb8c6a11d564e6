// Package dynamodblocal runs the conformance suites on Amazon's DynamoDB
// Local in a container, where a Docker engine exists. It is a module of its
// own so that testcontainers-go and its dependencies stay out of the
// library's go.mod.
package dynamodblocal_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// dynamoDBLocalImage is Amazon's DynamoDB Local. Its licence forbids
// bundling or downloading it here, so it runs only where a Docker engine can
// pull it; without one this test skips with the reason, and CI's proof is
// the moto and dynalite runs above.
const dynamoDBLocalImage = "amazon/dynamodb-local:2.2.1"

// TestDynamoDBLocal runs both suites on DynamoDB Local in a container.
func TestDynamoDBLocal(t *testing.T) {
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx := testservers.Context(t)
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        dynamoDBLocalImage,
			Cmd:          []string{"-jar", "DynamoDBLocal.jar", "-inMemory"},
			ExposedPorts: []string{"8000/tcp"},
			WaitingFor:   wait.ForListeningPort("8000/tcp").WithStartupTimeout(2 * time.Minute),
		},
		Started: true,
	})
	testcontainers.CleanupContainer(t, ctr)
	require.NoError(t, err)
	endpoint, err := ctr.PortEndpoint(ctx, "8000/tcp", "http")
	require.NoError(t, err)

	newStores := func(t *testing.T) (backend.Store, backend.Store) {
		client := testservers.NewClient(endpoint)
		table := testservers.TableName(t)
		a, err := dynamostore.New(client, table, nil)
		require.NoError(t, err)
		_, err = a.CreateTable(ctx, dynamostore.TableOptions{})
		require.NoError(t, err)
		b, err := dynamostore.New(testservers.NewClient(endpoint), table, nil)
		require.NoError(t, err)
		return a, b
	}
	t.Run("Store", func(t *testing.T) {
		conformance.RunStore(t, conformance.StoreHarness{NewStores: newStores,
			MaxKeyBytes: dynamostore.MaxPartitionKeyBytes, MaxDataBytes: 350_000, GuardedOp: guardedPut})
	})
	t.Run("Lock", func(t *testing.T) {
		conformance.RunLock(t, conformance.LockHarness{NewStores: newStores, Remote: true, GuardedOp: guardedPut})
	})
}

var appItemSeq atomic.Int64

// guardedPut returns ops that put one application item into the lock's own
// table, and a check that it was written.
func guardedPut(t *testing.T, st backend.Store) (any, func() bool) {
	store := st.(*dynamostore.Store)
	key := fmt.Sprintf("app-item-%d", appItemSeq.Add(1))
	ops := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(store.Table()),
		Item: map[string]types.AttributeValue{
			"key":     &types.AttributeValueMemberS{Value: key},
			"payload": &types.AttributeValueMemberS{Value: "written under the lock"},
		},
	}}}
	written := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := store.Get(ctx, backend.Key{Partition: key})
		if err == nil {
			return true
		}
		require.ErrorIs(t, err, backend.ErrNotFound)
		return false
	}
	return ops, written
}
