package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/reliability/contention"
	"github.com/leaselock/leaselock/internal/testservers"
)

var servers = testservers.Linearizable

// dynamoTable is one fresh table on one test server.
type dynamoTable struct {
	srv   *testservers.Server
	table string
}

// newDynamoTable creates a table for t on the server of the given kind
// (skipping, or failing under LEASELOCK_REQUIRE_SERVERS=1, when it is not
// installed).
func newDynamoTable(t *testing.T, kind testservers.Kind, opts *dynamostore.Options) *dynamoTable {
	t.Helper()
	d := &dynamoTable{srv: testservers.Get(t, kind), table: testservers.TableName(t)}
	st := d.store(t, opts)
	_, err := st.CreateTable(d.ctx(t), dynamostore.TableOptions{})
	require.NoError(t, err)
	return d
}

// ctx returns a context for t's calls on the table: bounded, and over at
// once if the server dies (see testservers.Server.Context).
func (d *dynamoTable) ctx(t *testing.T) context.Context { return d.srv.Context(t) }

// store returns a store on the table through its own client (its own
// connection pool), as a separate process would have.
func (d *dynamoTable) store(t *testing.T, opts *dynamostore.Options, optFns ...func(*dynamodb.Options)) *dynamostore.Store {
	t.Helper()
	fns := append([]func(*dynamodb.Options){dynamostore.Retries(4, 200*time.Millisecond)}, optFns...)
	st, err := dynamostore.New(d.srv.Client(fns...), d.table, opts)
	require.NoError(t, err)
	return st
}

// TestContentionDynamo runs the contention workload on each DynamoDB test
// server in real time with one-second leases: 4 clients (each with its own
// HTTP client) x 4 goroutines on 16 keys.
func TestContentionDynamo(t *testing.T) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			d := newDynamoTable(t, kind, nil)
			w := &contention.Workload{
				Keys: contention.Keys("dyn", 16), Workers: 4,
				Target:    pick[int64](2_000, 5_000),
				HoldTime:  contention.UniformHold(remoteTiming.beat/2, 2*remoteTiming.lease, 0.03),
				StallRate: 0.01, StallMax: remoteTiming.lease / 2,
				Pause: remoteTiming.poll, TryRate: 0.2, DoRate: 0.1, BeatRate: 0.05,
				History: contention.NewHistory(nil), Seed: 4,
			}
			for i := range 4 {
				cs := contention.NewCutStore(d.store(t, nil))
				w.Cuts = append(w.Cuts, cs)
				w.Clients = append(w.Clients, remoteTiming.client(t, cs, fmt.Sprint("client-", i)))
			}
			budget, cancel := context.WithTimeout(context.Background(), pick(4*time.Minute, 20*time.Minute))
			defer cancel()
			ctx, stop := d.srv.Watch(budget) // a dead server ends the run at once
			defer stop()
			start := time.Now()
			w.Run(ctx)
			elapsed := time.Since(start)
			for _, c := range w.Clients {
				require.NoError(t, c.Close(d.ctx(t)))
			}
			w.CheckEnded(t)
			contention.RequireClean(t, w.History)
			requireNoneStuck(t, d.store(t, nil), w.Keys, remoteTiming)
			w.Report(t, string(kind), elapsed)
			require.GreaterOrEqual(t, w.Result().Acquisitions, w.Target, "the run timed out")
		})
	}
}
