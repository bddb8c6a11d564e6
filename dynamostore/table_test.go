package dynamostore_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

func TestCreateAndAssertTable(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		c := ctx(t)
		client := testservers.Get(t, kind).Client()
		table := testservers.TableName(t)
		st, err := dynamostore.New(client, table, nil)
		require.NoError(t, err)

		ok, err := st.TableExists(c)
		require.NoError(t, err)
		require.False(t, ok)
		require.ErrorIs(t, st.AssertTable(c), dynamostore.ErrTableNotFound)

		_, err = st.CreateTable(c, dynamostore.TableOptions{})
		require.NoError(t, err)
		ok, err = st.TableExists(c)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, st.AssertTable(c))
		desc, err := client.DescribeTable(c, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		require.NoError(t, err)
		require.Equal(t, types.TableStatusActive, desc.Table.TableStatus)
		if desc.Table.BillingModeSummary != nil {
			require.Equal(t, types.BillingModePayPerRequest, desc.Table.BillingModeSummary.BillingMode)
		}

		_, err = st.CreateTable(c, dynamostore.TableOptions{})
		require.ErrorIs(t, err, dynamostore.ErrTableExists)

		// Stores whose layout does not match the table.
		for _, opts := range []*dynamostore.Options{
			{PartitionKeyName: "lockName"},
			{SortKeyName: "shard"},
		} {
			wrong, err := dynamostore.New(client, table, opts)
			require.NoError(t, err)
			err = wrong.AssertTable(c)
			require.ErrorIs(t, err, dynamostore.ErrSchemaMismatch)
			require.ErrorIs(t, err, backend.ErrInvalid)
			var se *dynamostore.SchemaError
			require.ErrorAs(t, err, &se)
			require.Len(t, se.Problems, 1, "%v", err)
			t.Log(err)
		}
	})
}

func TestCreateTableProvisionedWithSortKey(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		c := ctx(t)
		client := testservers.Get(t, kind).Client()
		table := testservers.TableName(t)
		st, err := dynamostore.New(client, table, &dynamostore.Options{SortKeyName: "sk"})
		require.NoError(t, err)
		_, err = st.CreateTable(c, dynamostore.TableOptions{ReadCapacity: 2, WriteCapacity: 3})
		require.NoError(t, err)
		require.NoError(t, st.AssertTable(c))
		desc, err := client.DescribeTable(c, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		require.NoError(t, err)
		require.Equal(t, int64(2), aws.ToInt64(desc.Table.ProvisionedThroughput.ReadCapacityUnits))
		require.Equal(t, int64(3), aws.ToInt64(desc.Table.ProvisionedThroughput.WriteCapacityUnits))

		hashOnly, err := dynamostore.New(client, table, nil)
		require.NoError(t, err)
		err = hashOnly.AssertTable(c)
		require.ErrorIs(t, err, dynamostore.ErrSchemaMismatch)
		require.Contains(t, err.Error(), `sort key "sk"`)

		_, err = st.CreateTable(c, dynamostore.TableOptions{ReadCapacity: 2})
		require.ErrorIs(t, err, backend.ErrInvalid)
	})
}

// TestCreateTableTTL: moto enables TTL; dynalite has no UpdateTimeToLive,
// which CreateTable tolerates.
func TestCreateTableTTL(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		c := ctx(t)
		client := testservers.Get(t, kind).Client()
		table := testservers.TableName(t)
		st, err := dynamostore.New(client, table, &dynamostore.Options{TTLAttribute: "expiresAt"})
		require.NoError(t, err)
		info, err := st.CreateTable(c, dynamostore.TableOptions{WaitTimeout: 30 * time.Second})
		require.NoError(t, err)
		require.Equal(t, kind != testservers.Dynalite, info.TTLEnabled)
		if info.TTLEnabled {
			ttl, err := client.DescribeTimeToLive(c, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
			require.NoError(t, err)
			require.Equal(t, types.TimeToLiveStatusEnabled, ttl.TimeToLiveDescription.TimeToLiveStatus)
			require.Equal(t, "expiresAt", aws.ToString(ttl.TimeToLiveDescription.AttributeName))
		}
	})
}

func TestMissingTable(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		c := ctx(t)
		st, err := dynamostore.New(testservers.Get(t, kind).Client(), "no-such-table", nil)
		require.NoError(t, err)
		_, err = st.Get(c, backend.Key{Partition: "k"})
		require.ErrorIs(t, err, dynamostore.ErrTableNotFound)
		require.ErrorIs(t, err, backend.ErrInvalid)
		require.Contains(t, err.Error(), `"no-such-table"`)
		_, err = st.Acquire(c, backend.AcquireRequest{Record: lease("k", "a")})
		require.ErrorIs(t, err, dynamostore.ErrTableNotFound)
		require.NotErrorIs(t, err, backend.ErrAmbiguous, "a 400 answer proves nothing was written")
		_, err = st.Update(c, lease("k", "a"), "v")
		require.ErrorIs(t, err, dynamostore.ErrTableNotFound)
		require.ErrorIs(t, st.Delete(c, backend.Key{Partition: "k"}, "v"), dynamostore.ErrTableNotFound)
		_, err = st.List(c, backend.ListRequest{})
		require.ErrorIs(t, err, dynamostore.ErrTableNotFound)
	})
}
