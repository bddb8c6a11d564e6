package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// childEnv selects the child mode of this test binary; the crash test sets
// it, with the child's settings in the variables below.
const (
	childEnv         = "LEASELOCK_RELIABILITY_CHILD"
	childEndpointEnv = "LEASELOCK_RELIABILITY_ENDPOINT"
	childTableEnv    = "LEASELOCK_RELIABILITY_TABLE"
	childKeyEnv      = "LEASELOCK_RELIABILITY_KEY"
	childOwnerEnv    = "LEASELOCK_RELIABILITY_OWNER"
)

// childMain is the lock-holding child process: it acquires one key on the
// DynamoDB endpoint it was given, prints "HELD <token>", and holds the key
// (heartbeating) until it is killed.
func childMain(mode string) int {
	if mode != "holder" {
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
		return 2
	}
	client := testservers.NewClient(os.Getenv(childEndpointEnv), dynamostore.Retries(4, 200*time.Millisecond))
	store, err := dynamostore.New(client, os.Getenv(childTableEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := lock.New(store, lock.WithOwner(os.Getenv(childOwnerEnv)), lock.WithLeaseDuration(remoteTiming.lease),
		lock.WithHeartbeatPeriod(remoteTiming.beat), lock.WithPollPeriod(remoteTiming.poll))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := c.Acquire(ctx, os.Getenv(childKeyEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("HELD %d\n", l.Token())
	<-l.Done() // only a loss ends this; the test kills the process first
	fmt.Fprintln(os.Stderr, "lost:", l.Err())
	return 3
}

// child is a running holder process.
type child struct {
	cmd   *exec.Cmd
	token uint64
	owner string
}

func startHolder(t *testing.T, d *dynamoTable, key, owner string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=holder", childEndpointEnv+"="+d.srv.Endpoint,
		childTableEnv+"="+d.table, childKeyEnv+"="+key, childOwnerEnv+"="+owner)
	cmd.Stderr = os.Stderr
	configureChild(cmd)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		require.True(t, ok, "child %s exited before holding %s", owner, key)
		c := &child{cmd: cmd, owner: owner}
		_, err := fmt.Sscanf(l, "HELD %d", &c.token)
		require.NoError(t, err, "child said %q", l)
		return c
	case <-time.After(30 * time.Second):
		t.Fatalf("child %s did not acquire %s", owner, key)
		return nil
	}
}

// TestCrashedHolderProcess: a holder process is killed with SIGKILL while
// holding a lock on dynalite. A waiter in another process (this one) gets
// the key only after the lease, not before; a second holder process and a
// holder in this process are not disturbed.
func TestCrashedHolderProcess(t *testing.T) {
	t.Parallel()
	d := newDynamoTable(t, testservers.Dynalite, nil)
	ctx, cancel := context.WithTimeout(d.ctx(t), 2*time.Minute)
	defer cancel()
	tm := remoteTiming
	store := d.store(t, nil)

	bystander := tm.client(t, store, "bystander")
	defer bystander.Close(ctx)
	lby, err := bystander.Acquire(ctx, "bystander-key")
	require.NoError(t, err)

	victim := startHolder(t, d, "k", "victim")
	survivor := startHolder(t, d, "survivor-key", "survivor")

	taker := tm.client(t, store, "taker")
	defer taker.Close(ctx)
	_, err = taker.TryAcquire(ctx, "k")
	var held *lock.LockedError
	require.ErrorAs(t, err, &held)
	require.Equal(t, "victim", held.Owner)

	// The waiter starts watching while the victim is alive: its heartbeats
	// (from another process) must keep the waiter out for leases on end.
	type got struct {
		l   *lock.Lock
		err error
		at  time.Time
	}
	taken := make(chan got, 1)
	go func() {
		l, err := taker.Acquire(ctx, "k")
		taken <- got{l, err, time.Now()}
	}()
	select {
	case g := <-taken:
		t.Fatalf("the waiter got a live process's lock: %v %v", g.l, g.err)
	case <-time.After(3 * tm.lease):
	}

	survivorBefore, err := store.Get(ctx, backend.Key{Partition: "survivor-key"})
	require.NoError(t, err)
	killedAt := time.Now()
	require.NoError(t, victim.cmd.Process.Kill()) // SIGKILL: no release, no goodbye
	err = victim.cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit) && strings.Contains(exit.Error(), "killed"), "victim: %v", err)

	g := <-taken
	require.NoError(t, g.err)
	after := g.at.Sub(killedAt)
	require.Greater(t, g.l.Token(), victim.token)
	// The victim's last heartbeat was at most one period (plus jitter)
	// before the kill; the waiter must sit out a whole lease after it.
	require.GreaterOrEqual(t, after, tm.lease-tm.beat*11/10, "taken over before the lease could have ended")
	require.LessOrEqual(t, after, tm.lease+2*tm.poll+500*time.Millisecond, "a dead holder's key stayed stuck")

	// Nothing else was disturbed: the survivor process still heartbeats its
	// key, and this process's bystander still holds its own.
	survivorAfter, err := store.Get(ctx, backend.Key{Partition: "survivor-key"})
	require.NoError(t, err)
	require.Equal(t, "survivor", survivorAfter.Owner)
	require.Equal(t, survivor.token, survivorAfter.Token)
	require.False(t, survivorAfter.Released)
	require.NotEqual(t, survivorBefore.Version, survivorAfter.Version, "the survivor's heartbeats go on")
	require.NoError(t, lby.Err())
	rec, err := store.Get(ctx, backend.Key{Partition: "bystander-key"})
	require.NoError(t, err)
	require.Equal(t, "bystander", rec.Owner)
	require.Equal(t, lby.Token(), rec.Token)
	require.NoError(t, g.l.Release(ctx))
	t.Logf("victim killed holding token %d; taker got token %d %v later (lease %v); survivor and bystander undisturbed",
		victim.token, g.l.Token(), after.Round(time.Millisecond), tm.lease)
}
