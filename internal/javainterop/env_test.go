package javainterop

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// Lease settings shared by both sides: short, so a test that waits out a
// lease stays quick, and a heartbeat period a sixth of the lease, so a busy
// machine (JVMs starting, the race detector) does not lose a lease.
const (
	lease     = 3 * time.Second
	heartbeat = 500 * time.Millisecond
	poll      = 100 * time.Millisecond
)

// onServers runs fn as a parallel subtest on each server.
var onServers = testservers.OnEach

// env is one test's table on one server.
type env struct {
	kind    testservers.Kind
	srv     *testservers.Server
	jar     string
	client  *dynamodb.Client
	counter *dynamostore.Counter // counts the leaselock side's requests
	store   *dynamostore.Store
	table   string
	opts    dynamostore.Options
}

// newEnv checks the Java driver is built, starts (or reuses) the server and
// creates a fresh table with dynamostore's table management.
func newEnv(t *testing.T, kind testservers.Kind, opts *dynamostore.Options) *env {
	t.Helper()
	e := newEnvNoTable(t, kind, opts)
	_, err := e.store.CreateTable(ctx(t), dynamostore.TableOptions{})
	require.NoError(t, err)
	return e
}

// newEnvNoTable is newEnv for a table someone else creates.
func newEnvNoTable(t *testing.T, kind testservers.Kind, opts *dynamostore.Options) *env {
	t.Helper()
	e := &env{kind: kind, jar: driverJar(t), srv: testservers.Get(t, kind), counter: dynamostore.NewCounter(),
		table: testservers.TableName(t)}
	if opts != nil {
		e.opts = *opts
	}
	e.client = e.srv.Client(e.counter.Install)
	var err error
	e.store, err = dynamostore.New(e.client, e.table, &e.opts)
	require.NoError(t, err)
	return e
}

// goClient returns a leaselock client on the table, closed at cleanup.
func (e *env) goClient(t *testing.T, owner string) *lock.Client {
	t.Helper()
	c, err := lock.New(e.store, lock.WithOwner(owner), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(heartbeat), lock.WithPollPeriod(poll))
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(e.srv.Context(t), 30*time.Second)
		defer cancel()
		require.NoError(t, c.Close(cctx))
	})
	return c
}

// raw reads a lock item as the table holds it (partition key only).
func (e *env) raw(t *testing.T, key string) map[string]types.AttributeValue {
	t.Helper()
	return e.rawKey(t, key, "")
}

// rawKey reads a lock item by partition and, on a sort-key table, sort key.
func (e *env) rawKey(t *testing.T, key, sort string) map[string]types.AttributeValue {
	t.Helper()
	pk := e.opts.PartitionKeyName
	if pk == "" {
		pk = dynamostore.DefaultPartitionKeyName
	}
	k := map[string]types.AttributeValue{pk: s(key)}
	if e.opts.SortKeyName != "" {
		k[e.opts.SortKeyName] = s(sort)
	}
	out, err := e.srv.Client().GetItem(ctx(t), &dynamodb.GetItemInput{
		TableName: aws.String(e.table), Key: k, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	return out.Item
}

// ctx is a per-test context that ends with the test, after a minute, or at
// once if a test server dies (see testservers.Context).
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(testservers.Context(t), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func b(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

// equalS reports whether av is the string attribute v.
func equalS(av types.AttributeValue, v string) bool {
	sv, ok := av.(*types.AttributeValueMemberS)
	return ok && sv.Value == v
}
