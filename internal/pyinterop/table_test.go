package pyinterop

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestTableCreatedByPython: a table made by the Python client's
// create_dynamodb_table (provisioned, lock_key and sort_key, TTL on
// expiry_time) is the table dynamostore's FormatPython expects, and both
// clients contend on it. On dynalite, which lacks UpdateTimeToLive, the
// Python helper fails after creating the table; the table works all the
// same.
func TestTableCreatedByPython(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnvNoTable(t, kind)
		c := ctx(t)
		p := e.startPython(t, "py-admin")
		ans := p.Must(t, "createtable")
		if kind == testservers.Dynalite {
			require.True(t, strings.HasPrefix(ans, "error ClientError") && strings.Contains(ans, "UnknownOperationException"),
				"dynalite has no TTL: %q", ans)
		} else {
			require.Equal(t, "ok", ans)
			ttl, err := e.client.DescribeTimeToLive(c, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(e.table)})
			require.NoError(t, err)
			require.Equal(t, "expiry_time", aws.ToString(ttl.TimeToLiveDescription.AttributeName))
		}
		require.NoError(t, e.store.AssertTable(c), "the Python table has the format's key schema")

		g := e.goClient(t, "go-user")
		l, err := g.Acquire(c, "job")
		require.NoError(t, err)
		require.Equal(t, "timeout", p.Must(t, "try job"))
		require.NoError(t, l.Release(c))
		got := p.lock(t, "acquire job")
		require.Equal(t, "py-admin", got.Owner)
	})
}

// TestTableCreatedByGo: a table made by dynamostore's CreateTable in the
// Python format (on-demand, the same keys, TTL on expiry_time where the
// server has TTL) serves the Python client.
func TestTableCreatedByGo(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		desc, err := e.client.DescribeTable(c, &dynamodb.DescribeTableInput{TableName: aws.String(e.table)})
		require.NoError(t, err)
		keys := map[string]types.KeyType{}
		for _, k := range desc.Table.KeySchema {
			keys[aws.ToString(k.AttributeName)] = k.KeyType
		}
		require.Equal(t, map[string]types.KeyType{"lock_key": types.KeyTypeHash, "sort_key": types.KeyTypeRange}, keys)
		if kind == testservers.Moto {
			ttl, err := e.client.DescribeTimeToLive(c, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(e.table)})
			require.NoError(t, err)
			require.Equal(t, types.TimeToLiveStatusEnabled, ttl.TimeToLiveDescription.TimeToLiveStatus)
			require.Equal(t, "expiry_time", aws.ToString(ttl.TimeToLiveDescription.AttributeName))
		}

		p := e.startPython(t, "py-user")
		p.lock(t, "acquire job")
		g := e.goClient(t, "go-admin")
		var held *lock.LockedError
		_, err = g.TryAcquire(c, "job")
		require.ErrorAs(t, err, &held)
		require.Equal(t, "py-user", held.Owner)
		require.Equal(t, "released", p.Must(t, "release job"))
		_, err = g.TryAcquire(c, "job")
		require.NoError(t, err)
	})
}
