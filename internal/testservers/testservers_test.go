package testservers

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	require.NoError(t, err)
	_, err = os.Stat(root + "/go.mod")
	require.NoError(t, err)
}

func TestTableNameUniqueAndValid(t *testing.T) {
	a, b := TableName(t), TableName(t)
	require.NotEqual(t, a, b)
	require.Regexp(t, `^[a-zA-Z0-9_.-]{3,255}$`, a)
}

// TestServersAnswer starts each server, creates a table and writes an item
// through the loopback client.
func TestServersAnswer(t *testing.T) {
	for _, kind := range []Kind{Dynalite, Moto} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := Get(t, kind)
			require.Same(t, srv, Get(t, kind), "one server per test binary")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := srv.Client()
			table := TableName(t)
			_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName:            aws.String(table),
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("key"), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("key"), KeyType: types.KeyTypeHash}},
				BillingMode:          types.BillingModePayPerRequest,
			})
			require.NoError(t, err)
			err = dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
				o.MinDelay = 10 * time.Millisecond
			}).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 10*time.Second)
			require.NoError(t, err)
			_, err = c.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(table),
				Item:      map[string]types.AttributeValue{"key": &types.AttributeValueMemberS{Value: "k"}},
			})
			require.NoError(t, err)
			out, err := c.GetItem(ctx, &dynamodb.GetItemInput{
				TableName:      aws.String(table),
				Key:            map[string]types.AttributeValue{"key": &types.AttributeValueMemberS{Value: "k"}},
				ConsistentRead: aws.Bool(true),
			})
			require.NoError(t, err)
			require.Len(t, out.Item, 1)
		})
	}
}

// TestStopKillsProcess starts a private server and checks Stop leaves no
// process behind.
func TestStopKillsProcess(t *testing.T) {
	Get(t, Dynalite) // skips when not installed
	srv, err := Start(context.Background(), Dynalite)
	require.NoError(t, err)
	pid := srv.cmd.Process.Pid
	require.NoError(t, srv.Stop())
	require.NoError(t, srv.Stop(), "Stop is idempotent")
	err = syscall.Kill(pid, 0)
	require.True(t, errors.Is(err, syscall.ESRCH), "process %d still exists: %v", pid, err)
}
