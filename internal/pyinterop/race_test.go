package pyinterop

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestRaceForFreeKey: leaselock and the Python client try to take the same
// free key at the same moment, many times; exactly one wins each time, and
// the loser names the winner.
func TestRaceForFreeKey(t *testing.T) {
	const rounds = 25
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind)
		c := ctx(t)
		p := e.startPython(t, "py-racer")
		g := e.goClient(t, "go-racer")
		wins := map[string]int{}
		for i := range rounds {
			key := fmt.Sprint("race-", i)
			var (
				answer      string
				pyErr       error
				done        = make(chan struct{})
				goLock, err = (*lock.Lock)(nil), error(nil)
			)
			go func() {
				defer close(done)
				answer, pyErr = p.Do("try " + key)
			}()
			time.Sleep(time.Duration(i%6) * 2 * time.Millisecond) // vary who is first
			goLock, err = g.TryAcquire(c, key)
			<-done
			require.NoError(t, pyErr)
			pyWon := strings.HasPrefix(answer, "ok ")
			goWon := err == nil
			require.True(t, pyWon != goWon, "round %d: python %q, leaselock %v: exactly one must win", i, answer, err)
			owner := e.raw(t, key, "")["owner_name"]
			if goWon {
				wins["leaselock"]++
				require.Equal(t, s("go-racer"), owner)
				require.Equal(t, "timeout", answer)
				require.NoError(t, goLock.Err())
				continue
			}
			wins["python"]++
			require.Equal(t, s("py-racer"), owner)
			var held *lock.LockedError
			require.True(t, errors.As(err, &held), "leaselock: %v", err)
			assert.Equal(t, "py-racer", held.Owner)
		}
		t.Logf("%s: %d rounds, wins %v", kind, rounds, wins)
	})
}
