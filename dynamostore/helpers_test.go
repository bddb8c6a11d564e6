package dynamostore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// servers is every server the suites run on.
var servers = testservers.Linearizable

// onServers runs fn as a parallel subtest on each server.
var onServers = testservers.OnEach

// env is one test's table on one server, with a request counter on the
// client.
type env struct {
	kind    testservers.Kind
	srv     *testservers.Server
	client  *dynamodb.Client
	counter *dynamostore.Counter
	store   *dynamostore.Store
	table   string
}

// newEnv creates a fresh table on the server and a store on it.
func newEnv(t testing.TB, kind testservers.Kind, opts *dynamostore.Options, optFns ...func(*dynamodb.Options)) *env {
	t.Helper()
	e := &env{kind: kind, srv: testservers.Get(t, kind), counter: dynamostore.NewCounter(), table: testservers.TableName(t)}
	e.client = e.srv.Client(append([]func(*dynamodb.Options){e.counter.Install}, optFns...)...)
	var err error
	e.store, err = dynamostore.New(e.client, e.table, opts)
	require.NoError(t, err)
	_, err = e.store.CreateTable(ctx(t), dynamostore.TableOptions{})
	require.NoError(t, err)
	e.counter.Reset()
	return e
}

// another returns a second store on the same table through its own client.
func (e *env) another(t testing.TB, opts *dynamostore.Options) *dynamostore.Store {
	t.Helper()
	s, err := dynamostore.New(e.srv.Client(), e.table, opts)
	require.NoError(t, err)
	return s
}

// rawItem reads an item as DynamoDB holds it.
func (e *env) rawItem(t testing.TB, key map[string]types.AttributeValue) map[string]types.AttributeValue {
	t.Helper()
	out, err := e.srv.Client().GetItem(ctx(t), &dynamodb.GetItemInput{
		TableName: aws.String(e.table), Key: key, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	return out.Item
}

// ctx returns a context for a test's store calls: a minute at most, and
// over at once if a test server dies (see testservers.Context).
// lockClient is a lock client on st for owner, closed at cleanup within a
// bounded time (its releases are store calls too).
func lockClient(t testing.TB, st backend.Store, owner string) *lock.Client {
	t.Helper()
	c, err := lock.New(st, lock.WithOwner(owner))
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Close(cctx)
	})
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(testservers.Context(t), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func lease(key string, owner string) backend.Record {
	return backend.Record{Key: backend.Key{Partition: key}, Owner: owner, Version: rand.Text(), LeaseDuration: 20 * time.Second}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func b(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }
