package testservers

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/lock"
)

// TestWaitingCallEndsWhenServerDies has a lock client wait for a key held
// by another, kills the server under it, and checks the wait ends within
// seconds with the server's last output in the error: through a client of
// the server (Server.Client), and through a context of the server
// (Server.Context) on a plain client.
func TestWaitingCallEndsWhenServerDies(t *testing.T) {
	Get(t, Dynalite) // skips when not installed
	for _, via := range []string{"client", "context"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			srv, err := Start(context.Background(), Dynalite)
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Stop() })
			setup, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			table := TableName(t)

			holderStore, err := dynamostore.New(srv.Client(), table, nil)
			require.NoError(t, err)
			_, err = holderStore.CreateTable(setup, dynamostore.TableOptions{})
			require.NoError(t, err)
			alice, err := lock.New(holderStore, lock.WithOwner("alice"), lock.WithLeaseDuration(time.Minute),
				lock.WithHeartbeatPeriod(15*time.Second))
			require.NoError(t, err)
			t.Cleanup(func() { _ = alice.Close(context.Background()) }) // the server is dead: fails at once
			_, err = alice.Acquire(setup, "k")
			require.NoError(t, err)

			counter := dynamostore.NewCounter()
			client := srv.Client(counter.Install)
			waitCtx := Context(t) // bounded, but blind to this private server
			if via == "context" {
				client = NewClient(srv.Endpoint, counter.Install)
				waitCtx = srv.Context(t)
			}
			waiterStore, err := dynamostore.New(client, table, nil)
			require.NoError(t, err)
			bob, err := lock.New(waiterStore, lock.WithOwner("bob"), lock.WithLeaseDuration(time.Minute),
				lock.WithHeartbeatPeriod(15*time.Second), lock.WithPollPeriod(50*time.Millisecond))
			require.NoError(t, err)
			t.Cleanup(func() { _ = bob.Close(context.Background()) })
			waited := make(chan error, 1)
			go func() {
				_, err := bob.Acquire(waitCtx, "k")
				waited <- err
			}()
			// bob has found the key held and polls it.
			deadline := time.Now().Add(30 * time.Second)
			for counter.Total() < 3 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			require.GreaterOrEqual(t, counter.Total(), int64(3), "bob never polled")

			killed := time.Now()
			killProcess(srv.cmd) // a crash, not Stop
			select {
			case err = <-waited:
			case <-time.After(20 * time.Second):
				t.Fatal("bob still waits 20s after the server died")
			}
			t.Logf("bob's Acquire ended %v after the kill: %v", time.Since(killed), err)
			require.Less(t, time.Since(killed), 10*time.Second)
			require.True(t, srv.crashed())
			why := err
			if via == "context" {
				// The engine reports the context's cause when it ends between
				// calls, and the store's "context canceled" when it ends
				// during one; the cause is there for the test to show.
				require.True(t, errors.Is(err, context.Canceled) || errors.Is(err, ErrExited), "%v", err)
				why = context.Cause(waitCtx)
			}
			require.True(t, errors.Is(why, ErrExited), "the error says the server exited: %v", why)
			require.Contains(t, why.Error(), "dynalite_guard: installed", "the error carries the server's last output")

			// Once dead, a call fails at once instead of retrying.
			start := time.Now()
			_, err = srv.Client().ListTables(context.Background(), &dynamodb.ListTablesInput{})
			require.ErrorIs(t, err, ErrExited)
			require.ErrorIs(t, err, context.Canceled, "not retried by the SDK or the engine")
			require.Less(t, time.Since(start), time.Second)
		})
	}
}

// TestSharedServerDeathFailsItsTests kills the shared dynalite of a child
// test binary: the test using it fails when it ends, with the server's last
// output; its test context ends at once with the same cause; a later test
// asking for the server fails at once; the death is printed as it happens.
func TestSharedServerDeathFailsItsTests(t *testing.T) {
	if os.Getenv("LEASELOCK_TESTSERVERS_CHILD") == "kill-shared" {
		t.Run("dies under it", func(t *testing.T) {
			srv := Get(t, Dynalite)
			ctx := Context(t) // blind to srv itself: ends through the binary-wide death
			killProcess(srv.cmd)
			select {
			case <-ctx.Done():
				t.Logf("test context ended: %v", context.Cause(ctx))
			case <-time.After(10 * time.Second):
				t.Log("test context still live 10s after the death")
			}
		})
		t.Run("asks for it later", func(t *testing.T) {
			Get(t, Dynalite)
			t.Log("Get returned a dead server")
		})
		return
	}
	Get(t, Dynalite) // skips when not installed
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSharedServerDeathFailsItsTests$", "-test.v")
	cmd.Env = append(os.Environ(), "LEASELOCK_TESTSERVERS_CHILD=kill-shared")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	s := string(out)
	require.Error(t, err, "the child passed:\n%s", s)
	require.Less(t, time.Since(start), time.Minute)
	require.Contains(t, s, "testservers: a shared server died while tests were running", "printed at once")
	require.Contains(t, s, "test context ended: testservers: server process exited: dynalite")
	require.Contains(t, s, "the dynalite server died during this test")
	require.Contains(t, s, "--- FAIL: TestSharedServerDeathFailsItsTests/dies_under_it")
	require.Contains(t, s, "the shared dynalite server died earlier in this test binary")
	require.Contains(t, s, "--- FAIL: TestSharedServerDeathFailsItsTests/asks_for_it_later")
	require.NotContains(t, s, "Get returned a dead server")
	require.Contains(t, s, "dynalite_guard: installed", "the failures carry the server's output")
}
