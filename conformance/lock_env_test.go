package conformance

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/memstore"
)

// slowAcquire answers every Acquire after a delay, as a store on a loaded
// machine can.
type slowAcquire struct {
	*memstore.Store
	delay time.Duration
}

func (s slowAcquire) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	got, err := s.Store.Acquire(ctx, req)
	time.Sleep(s.delay)
	return got, err
}

func acquireReleaseCase(t *testing.T) []lockCase {
	for _, c := range lockCases() {
		if c.name == "AcquireRelease" {
			return []lockCase{c}
		}
	}
	t.Fatal("no AcquireRelease case")
	return nil
}

// TestRunLockRerunsDisturbedCases: in real time, a case whose acquire is
// answered after its lease is not failed but run again with a lease twice
// as long; there the store answers in time and the case passes.
func TestRunLockRerunsDisturbedCases(t *testing.T) {
	const lease = 100 * time.Millisecond
	var mu sync.Mutex
	attempts := map[string]bool{} // subtest name -> skipped
	h := LockHarness{
		Remote: true,
		Lease:  lease,
		NewStores: func(t *testing.T) (backend.Store, backend.Store) {
			m := memstore.New()
			var s backend.Store = m
			mu.Lock()
			if len(attempts) == 0 { // the first attempt answers late
				s = slowAcquire{m, lease * 3 / 2}
			}
			attempts[t.Name()] = false
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				attempts[t.Name()] = t.Skipped()
			})
			return s, s
		},
	}
	runLock(t, h, acquireReleaseCase(t))
	require.Equal(t, map[string]bool{
		t.Name() + "/AcquireRelease/lease=100ms": true,  // disturbed, skipped
		t.Name() + "/AcquireRelease/lease=200ms": false, // passed
	}, attempts)
}

// TestRunLockFailsWhenEveryAttemptIsDisturbed: a store too slow for every
// lease tried fails the case on the last attempt; a slow machine never
// turns into a silent pass. The failing run happens in a child process.
func TestRunLockFailsWhenEveryAttemptIsDisturbed(t *testing.T) {
	const lease = 100 * time.Millisecond
	if os.Getenv("LEASELOCK_CONFORMANCE_ALWAYS_SLOW") == "1" {
		runLock(t, LockHarness{Remote: true, Lease: lease,
			NewStores: func(*testing.T) (backend.Store, backend.Store) {
				s := slowAcquire{memstore.New(), 5 * lease} // later than the last lease, 4 x 100ms
				return s, s
			}}, acquireReleaseCase(t))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRunLockFailsWhenEveryAttemptIsDisturbed$", "-test.v")
	cmd.Env = append(os.Environ(), "LEASELOCK_CONFORMANCE_ALWAYS_SLOW=1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child passed:\n%s", out)
	require.Contains(t, string(out), "--- SKIP: TestRunLockFailsWhenEveryAttemptIsDisturbed/AcquireRelease/lease=100ms")
	require.Contains(t, string(out), "--- SKIP: TestRunLockFailsWhenEveryAttemptIsDisturbed/AcquireRelease/lease=200ms")
	require.Contains(t, string(out), "--- FAIL: TestRunLockFailsWhenEveryAttemptIsDisturbed/AcquireRelease/lease=400ms")
	require.Contains(t, string(out), "the store answered an acquire after its lease")
}

// hangingAcquire never answers an Acquire: it waits for the caller's
// context, as a store whose server stopped answering does.
type hangingAcquire struct{ *memstore.Store }

func (s hangingAcquire) Acquire(ctx context.Context, _ backend.AcquireRequest) (backend.Acquired, error) {
	<-ctx.Done()
	return backend.Acquired{}, ctx.Err()
}

// TestRunLockHungStoreFailsTheCase: a store call that hangs ends with the
// case's time budget, and the case fails saying so, instead of hanging the
// test binary (or panicking in the watchdog). In a child process, with a
// budget of half a second.
func TestRunLockHungStoreFailsTheCase(t *testing.T) {
	if os.Getenv("LEASELOCK_CONFORMANCE_HANG") == "1" {
		caseTimeout = 500 * time.Millisecond
		runLock(t, LockHarness{Remote: true, Lease: 100 * time.Millisecond,
			NewStores: func(*testing.T) (backend.Store, backend.Store) {
				s := hangingAcquire{memstore.New()}
				return s, s
			}}, acquireReleaseCase(t))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRunLockHungStoreFailsTheCase$", "-test.v")
	cmd.Env = append(os.Environ(), "LEASELOCK_CONFORMANCE_HANG=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child passed:\n%s", out)
	require.Less(t, time.Since(start), 30*time.Second)
	require.Contains(t, string(out), "--- FAIL: TestRunLockHungStoreFailsTheCase/AcquireRelease/lease=100ms")
	require.Contains(t, string(out), "ran out of its time budget")
	require.NotContains(t, string(out), "panic:", "the watchdog's last resort was not needed")
}
