package lock_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// TestOverloadKeepsWhatItCan: one worker renewing 60 locks through a store
// that answers in 50 ms can keep about 20 of them (lease 1 s). Renewing the
// most urgent first, doomed ones included, would make every lock late
// together; the scheduler keeps as many as the store allows, and every lock
// it loses says the heartbeats fell behind.
func TestOverloadKeepsWhatItCan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := slowStore{memstore.New(), 50 * time.Millisecond}
		c := newClient(t, s, "busy", lock.WithLeaseDuration(time.Second),
			lock.WithHeartbeatPeriod(300*time.Millisecond), lock.WithHeartbeatWorkers(1))
		var lost, behind atomic.Int32
		onLost := lock.OnLost(func(_ *lock.Lock, err error) {
			lost.Add(1)
			if errorsIs(err, lock.ErrHeartbeatsBehind) {
				behind.Add(1)
			}
		})
		for i := range 60 {
			_, err := c.TryAcquire(ctx, fmt.Sprint("k", i), onLost)
			require.NoError(t, err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		kept := len(c.Locks())
		t.Logf("kept %d of 60 locks after 10 leases; %d lost, %d of them to heartbeats falling behind", kept, lost.Load(), behind.Load())
		require.GreaterOrEqual(t, kept, 10, "a saturated store still renews the locks it can")
		require.Equal(t, int32(60-kept), lost.Load(), "every other lock was reported lost")
	})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
