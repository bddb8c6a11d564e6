package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/conformance/netfault"
	"github.com/leaselock/leaselock/internal/reliability/contention"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/pgstore"
)

// TestContentionWorkload runs the reliability suite's contention workload
// (internal/reliability/contention, the one memstore, dynalite and moto
// run) on PostgreSQL, with real connections cut under it.
//
// Four clients, each with its own pool behind its own netfault proxy, run
// three goroutines each on eight keys. Each proxy cuts connections at
// random, before requests reach the server and after the server acted on
// them. 4% of holds stall: half stop heartbeating (MaxHold), half are cut
// off from the store for that one lock; when told they lost the lock they
// wait until the key has a newer tenure (every other one, until their own
// client holds it again, so only the guard's token check can refuse them)
// and then write anyway, through pgstore's guard alone. Every hold writes to a fence table through
// pgstore.WriteGuarded, in a transaction that also refuses a token older
// than the fence's. A StealJudge sees every client's writes.
//
// Required: no two holders overlap unless the first had been told; tokens
// grow in acquisition order; no stale write committed; every loss reported
// with a reason, and no steal without a takeover (in particular no own
// release that landed reported as stolen); every late write after a
// takeover refused; afterwards a fresh client gets every key within a
// lease. Nothing here times the store: the one time limit is the last
// check's, a lease plus a poll plus a second for requests.
func TestContentionWorkload(t *testing.T) {
	addr := needCluster(t)
	const (
		clients = 4
		lease   = time.Second
		beat    = lease / 4
		poll    = lease / 10
	)
	table := freshTable()
	direct := newStoreOn(t, addr, table, true)
	judge := contention.NewStealJudge()
	// The run takes about 25 s here (2 cores, -race); the budget is far
	// above it, for a machine busy with other work.
	target, budget := int64(800), 3*time.Minute
	if os.Getenv("LEASELOCK_LONG") == "1" {
		target, budget = 5_000, 15*time.Minute
	}
	w := &contention.Workload{
		Keys: contention.Keys("pg", 8), Workers: 3, Target: target,
		HoldTime:  contention.UniformHold(beat/2, 2*lease, 0.03),
		StallRate: 0.04, StallMax: lease / 2,
		Pause: poll, TryRate: 0.2, DoRate: 0.1, BeatRate: 0.05,
		History: contention.NewHistory(nil), Seed: 16, Faults: true, Judge: judge,
	}
	fence := newFence(t, handleOf(t, direct).pool, "fence_"+table, w.Keys)
	w.Resource, w.LateWrite = fence, fence.writeLate

	runCtx, stopRun := context.WithTimeout(context.Background(), budget)
	defer stopRun()
	var proxies []*netfault.Proxy
	var chaos sync.WaitGroup
	chaosCtx, stopChaos := context.WithCancel(runCtx)
	defer stopChaos()
	for i := range clients {
		p := netfault.Start(t, addr)
		proxies = append(proxies, p)
		s := newStoreOn(t, p.Addr(), table, false, cancelsDirect(addr),
			func(c *pgxpool.Config) { c.MaxConns = 8 })
		owner := fmt.Sprint("client-", i)
		fence.via[owner] = s
		cs := contention.NewCutStore(judge.Watch(s))
		w.Cuts = append(w.Cuts, cs)
		c, err := lock.New(cs, lock.WithOwner(owner), lock.WithLeaseDuration(lease),
			lock.WithHeartbeatPeriod(beat), lock.WithPollPeriod(poll))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close(context.Background()) }) // if the test stops early; closed below otherwise
		w.Clients = append(w.Clients, c)
		chaos.Go(func() { cutAtRandom(chaosCtx, p, uint64(i)+1) })
	}

	start := time.Now()
	w.Run(runCtx)
	elapsed := time.Since(start)
	stopChaos()
	chaos.Wait()
	ctx := testCtx(t) // bounds what follows; the run itself may take longer than testCtx allows
	for _, c := range w.Clients {
		closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_ = c.Close(closeCtx) // a cut-off holder's release fails; CheckEnded sees every lock ended
		cancel()
	}

	w.CheckEnded(t)
	contention.RequireClean(t, w.History)
	require.Empty(t, fence.stale(), "a stale holder's write got past pgstore's guard (the fence refused it)")
	before, after := 0, 0
	for _, p := range proxies {
		before += p.CutsBy(netfault.CutBeforeRequest)
		after += p.CutsBy(netfault.CutAfterRequest)
	}
	res := w.Result()
	w.Report(t, "pgstore with cut connections", elapsed)
	t.Logf("connections cut: %d before the request reached the server, %d after it acted; "+
		"%d steals reported after a takeover, %d false; late writes refused by the guard: %d after another client's takeover, "+
		"%d while their own client held the key again; %d late writes before any takeover",
		before, after, res.Errors[contention.TrueSteal], res.Errors[contention.FalseSteal],
		res.Errors[contention.LateRefused], res.Errors[contention.LateRefusedOwnClient], res.Errors[contention.LateCommitted])
	require.GreaterOrEqual(t, res.Acquisitions, w.Target, "the run timed out")
	require.Zero(t, res.Errors[contention.FalseSteal], "a steal was reported with no takeover: e.g. %s",
		res.Examples[contention.FalseSteal])
	require.Zero(t, res.Errors[contention.StolenWithLeaseLeft], "a release that landed was reported as a steal: e.g. %s",
		res.Examples[contention.StolenWithLeaseLeft])
	require.Zero(t, res.Errors[contention.StolenByOwnOwner], "a lock was reported stolen by its own owner: e.g. %s",
		res.Examples[contention.StolenByOwnOwner])
	require.Positive(t, before, "no connection was cut before a request")
	require.Positive(t, after, "no connection was cut after the server acted")
	require.Positive(t, res.CutOff, "no holder was cut off")
	require.Positive(t, res.Stalls-res.CutOff, "no holder stopped heartbeating")
	require.Positive(t, res.Errors[contention.LateRefused], "no late write met another owner's record: the guard's owner check went untested")
	require.Positive(t, res.Errors[contention.LateRefusedOwnClient], "no late write met its own owner's newer tenure: the guard's token check went untested")

	// Every client is gone: a fresh one gets every key within a lease
	// (cut-off holders' records lapse), with a token above every one the
	// fence has seen.
	fresh, err := lock.New(direct, lock.WithOwner("fresh"), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(beat), lock.WithPollPeriod(poll))
	require.NoError(t, err)
	defer fresh.Close(context.Background())
	contention.RequireNoneStuck(t, fresh, w.Keys, lease, poll+time.Second)
	fenced, writes := fence.read(t)
	require.GreaterOrEqual(t, writes, int64(fence.Writes()), "the fence table holds fewer writes than were confirmed")
	for _, k := range w.Keys {
		l, err := fresh.TryAcquire(ctx, k)
		require.NoError(t, err)
		require.Greater(t, l.Token(), fenced[k], "%s: the fresh tenure's token is above every earlier one", k)
		require.NoError(t, l.Release(ctx))
	}
}

// cutAtRandom is the network's misbehaviour: every few tens of
// milliseconds, it cuts whatever p's client sends next after letting zero
// to two requests pass (before or after the server acts on it), then
// passes again a few milliseconds later.
func cutAtRandom(ctx context.Context, p *netfault.Proxy, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	defer p.SetMode(netfault.Pass)
	for ctx.Err() == nil {
		time.Sleep(time.Duration(20+rng.IntN(40)) * time.Millisecond)
		mode := netfault.CutBeforeRequest
		if rng.IntN(2) == 0 {
			mode = netfault.CutAfterRequest
		}
		p.SetModeAfter(rng.IntN(3), mode)
		time.Sleep(time.Duration(1+rng.IntN(3)) * time.Millisecond)
		p.SetMode(netfault.Pass)
	}
}

// fence is the workload's resource on PostgreSQL: a table of the highest
// token written per key. Every write goes through pgstore's guard and, in
// the same transaction, updates the key's row only if the row's token is
// not above the writer's, so a stale holder whose write the guard let
// through is refused here, and counted.
type fence struct {
	pool  *pgxpool.Pool
	table string
	via   map[string]*pgstore.Store // each client's store, by owner: late writes go there

	committed atomic.Int64
	mu        sync.Mutex
	refused   []string
}

var _ contention.Resource = (*fence)(nil)

func newFence(t *testing.T, pool *pgxpool.Pool, table string, keys []string) *fence {
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (k text PRIMARY KEY, token bigint NOT NULL, writes bigint NOT NULL)`, table))
	require.NoError(t, err)
	for _, k := range keys {
		_, err := pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s VALUES ($1, 0, 0)`, table), k)
		require.NoError(t, err)
	}
	return &fence{pool: pool, table: table, via: map[string]*pgstore.Store{}}
}

// op is the application's statement for one write as the holder of key
// with token.
func (f *fence) op(key string, token uint64) pgstore.TxFunc {
	return func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET token = $2, writes = writes + 1 WHERE k = $1 AND token <= $2`, f.table),
			key, int64(token))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			f.mu.Lock()
			f.refused = append(f.refused, fmt.Sprintf("%s: token %d is older than the fence's", key, token))
			f.mu.Unlock()
			return errStaleToken
		}
		return nil
	}
}

var errStaleToken = errors.New("fence: stale token")

// Write implements contention.Resource through the lock, as applications
// write.
func (f *fence) Write(ctx context.Context, l *lock.Lock) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := pgstore.WriteGuarded(ctx, l, f.op(l.Key(), l.Token()))
	if err == nil {
		f.committed.Add(1)
	}
	return err
}

// writeLate is a stalled holder's write after its loss, past the engine,
// which would refuse to send it: only pgstore's guard stands between it
// and the data.
func (f *fence) writeLate(ctx context.Context, l *lock.Lock) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := f.via[l.Owner()].WriteGuarded(ctx, l.Guard(), f.op(l.Key(), l.Token()))
	if err == nil {
		f.committed.Add(1)
	}
	return err
}

// Writes implements contention.Resource: the writes confirmed committed.
func (f *fence) Writes() int { return int(f.committed.Load()) }

func (f *fence) stale() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.refused...)
}

// read returns the fence's token per key and the writes it holds in all.
func (f *fence) read(t *testing.T) (map[string]uint64, int64) {
	rows, err := f.pool.Query(testCtx(t), fmt.Sprintf(`SELECT k, token, writes FROM %s`, f.table))
	require.NoError(t, err)
	tokens, total := map[string]uint64{}, int64(0)
	for rows.Next() {
		var k string
		var token, writes int64
		require.NoError(t, rows.Scan(&k, &token, &writes))
		tokens[k], total = uint64(token), total+writes
	}
	require.NoError(t, rows.Err())
	return tokens, total
}
