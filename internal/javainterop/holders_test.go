package javainterop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestJavaHolderBlocksGoUntilItDies: while the Java client holds a key and
// heartbeats, leaselock reports it held by the Java owner and will not take
// it; once the JVM is killed, a waiting leaselock Acquire takes the key over
// after watching the Java client's last version for a whole lease.
func TestJavaHolderBlocksGoUntilItDies(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		j := e.startJava(t, "java-holder")
		first := j.lock(t, "acquire job")
		require.Equal(t, "java-holder", first.Owner)

		g := e.goClient(t, "go-waiter")
		_, err := g.TryAcquire(c, "job")
		var held *lock.LockedError
		require.ErrorAs(t, err, &held)
		require.ErrorIs(t, err, lock.ErrLocked)
		require.Equal(t, "java-holder", held.Owner)
		require.Equal(t, lease, held.LeaseDuration, "leaselock reads Java's leaseDuration")

		info, err := g.Get(c, "job", "")
		require.NoError(t, err)
		require.Equal(t, lock.StateLocked, info.State)
		require.Equal(t, "java-holder", info.Owner)

		// A bounded Acquire watches the Java heartbeats change the version
		// and gives up after the holder's lease plus its extra wait.
		start := time.Now()
		_, err = g.Acquire(c, "job", lock.AdditionalWait(heartbeat))
		require.ErrorIs(t, err, lock.ErrLocked)
		require.GreaterOrEqual(t, time.Since(start), lease)
		item := e.raw(t, "job")
		require.Equal(t, s("java-holder"), item["ownerName"])
		require.NotEqual(t, s(first.RecordVersionNumber), item["recordVersionNumber"],
			"the Java client heartbeats: its version moved on")

		// Crash the Java holder: no release, heartbeats stop.
		j.Kill(t)
		killed := time.Now()
		l, err := g.Acquire(c, "job")
		require.NoError(t, err)
		took := time.Since(killed)
		t.Logf("%s: took over %v after the JVM was killed (lease %v)", kind, took.Round(time.Millisecond), lease)
		// leaselock waits a lease after first seeing the last heartbeat,
		// which landed about one period before the kill (later bound kept
		// loose: a JVM starved by a busy machine heartbeats late).
		require.GreaterOrEqual(t, took, lease/2, "took over before the lease could have lapsed")
		require.Less(t, took, lease+3*time.Second, "took too long to take over a dead holder")
		require.Equal(t, s("go-waiter"), e.raw(t, "job")["ownerName"])

		// A fresh Java client sees leaselock's record as held.
		j2 := e.startJava(t, "java-second")
		seen := j2.lock(t, "get job")
		require.Equal(t, "go-waiter", seen.Owner)
		require.False(t, seen.Released)
		require.Equal(t, lease.Milliseconds(), seen.LeaseDurationMs)
		j2.expect(t, "try job skipwait", "unavailable")
		require.NoError(t, l.Err())
	})
}

// TestPausedJavaHolderCannotResurrect: a Java client paused past its lease
// (SIGSTOP: a long GC pause, a frozen VM) loses the key to leaselock, and
// when it resumes it can neither renew nor release leaselock's lock.
func TestPausedJavaHolderCannotResurrect(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		j := e.startJava(t, "java-paused")
		j.lock(t, "acquire job")
		g := e.goClient(t, "go-taker")

		pause(t, j)
		l, err := g.Acquire(c, "job")
		require.NoError(t, err)
		mine := e.raw(t, "job")
		require.Equal(t, s("go-taker"), mine["ownerName"])
		resume(t, j)

		// Give the resumed heartbeat thread a few periods to try.
		time.Sleep(4 * heartbeat)
		require.NoError(t, l.Err(), "leaselock's lock must survive the Java client waking up")
		now := e.raw(t, "job")
		require.Equal(t, s("go-taker"), now["ownerName"])
		require.Equal(t, "false", j.Must(t, "held job"), "the Java client knows its lease ended")
		require.Equal(t, "refused", j.Must(t, "release job mode=mark"), "a stale Java release must not apply")
		require.NoError(t, l.Err())
		require.Equal(t, s("go-taker"), e.raw(t, "job")["ownerName"])
		require.NotContains(t, e.raw(t, "job"), "isReleased")
	})
}

// TestGoHolderBlocksJavaUntilItStops: while leaselock holds a key and
// heartbeats, the Java client cannot acquire it, neither at once nor by
// waiting; when leaselock's heartbeats stop, the Java client takes the key
// over after a lease, and leaselock has reported the lock lost before then.
func TestGoHolderBlocksJavaUntilItStops(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		g := e.goClient(t, "go-holder")
		work, stopWork := context.WithCancel(c)
		defer stopWork()
		l, err := g.Acquire(c, "job", lock.HeartbeatWhile(work))
		require.NoError(t, err)

		j := e.startJava(t, "java-waiter")
		j.expect(t, "try job skipwait", "unavailable")
		seen := j.lock(t, "get job")
		require.Equal(t, "go-holder", seen.Owner)
		require.Equal(t, lease.Milliseconds(), seen.LeaseDurationMs)
		require.False(t, seen.Released)
		require.Equal(t, map[string]string{"N": "1"}, seen.Attributes[dynamostore.AttrFencingToken],
			"Java sees leaselock's counter as an additional attribute")

		// tryAcquireLock waits the lease plus its 1 s buffer, watching the
		// version; leaselock's heartbeats keep changing it.
		start := time.Now()
		require.Equal(t, "none", j.Must(t, "try job refresh=100"))
		require.GreaterOrEqual(t, time.Since(start), lease)
		require.NoError(t, l.Err(), "leaselock still holds the key")
		require.Equal(t, s("go-holder"), e.raw(t, "job")["ownerName"])

		// Stop leaselock's heartbeats; the Java client waits for the lease
		// to lapse and takes over.
		lostAt := make(chan time.Time, 1)
		go func() { <-l.Done(); lostAt <- time.Now() }()
		stopWork()
		stopped := time.Now()
		got := j.lock(t, fmt.Sprintf("acquire job refresh=100 wait=%d", (3*lease).Milliseconds()))
		acquired := time.Now()
		require.Equal(t, "java-waiter", got.Owner)
		t.Logf("%s: Java took over %v after leaselock stopped heartbeating", kind, acquired.Sub(stopped).Round(time.Millisecond))
		require.GreaterOrEqual(t, acquired.Sub(stopped), lease/2, "Java took over before the lease could have lapsed")

		select {
		case at := <-lostAt:
			require.True(t, at.Before(acquired), "leaselock must report the loss before Java holds the key")
		default:
			t.Fatal("leaselock still reports the lock held after Java took it over")
		}
		require.ErrorIs(t, l.Err(), lock.ErrLockLost)
		require.ErrorIs(t, l.Err(), lock.ErrExpired)

		item := e.raw(t, "job")
		require.Equal(t, s("java-waiter"), item["ownerName"])
		require.NotContains(t, item, dynamostore.AttrFencingToken, "Java's takeover is a PutItem: the counter is gone")
		var held *lock.LockedError
		_, err = g.TryAcquire(c, "job")
		require.ErrorAs(t, err, &held)
		require.Equal(t, "java-waiter", held.Owner)
	})
}

// TestRaceForFreeKey: leaselock and the Java client try to take the same
// free key at the same moment, many times; exactly one wins each time, and
// the loser names the winner.
func TestRaceForFreeKey(t *testing.T) {
	const rounds = 25
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		j := e.startJava(t, "java-racer")
		g := e.goClient(t, "go-racer")
		wins := map[string]int{}
		for i := range rounds {
			key := fmt.Sprint("race-", i)
			var (
				answer         string
				javaErr, goErr error
				done           = make(chan struct{})
			)
			go func() {
				defer close(done)
				// wait=0: one attempt; refresh=10: a lost PutItem re-reads at once.
				answer, javaErr = j.Do("try " + key + " skipwait wait=0 refresh=10")
			}()
			time.Sleep(time.Duration(i%6) * 2 * time.Millisecond) // vary who is first
			_, goErr = g.TryAcquire(c, key)
			<-done
			require.NoError(t, javaErr)
			javaWon := strings.HasPrefix(answer, "ok ")
			goWon := goErr == nil
			require.True(t, javaWon != goWon, "round %d: java %q, leaselock %v: exactly one must win", i, answer, goErr)
			owner := e.raw(t, key)["ownerName"]
			if goWon {
				wins["leaselock"]++
				require.Equal(t, s("go-racer"), owner)
				require.True(t, answer == "none" || strings.HasPrefix(answer, "unavailable"), "java answered %q", answer)
				continue
			}
			wins["java"]++
			require.Equal(t, s("java-racer"), owner)
			var held *lock.LockedError
			require.True(t, errors.As(goErr, &held), "leaselock: %v", goErr)
			assert.Equal(t, "java-racer", held.Owner)
		}
		t.Logf("%s: %d rounds, wins %v", kind, rounds, wins)
	})
}
