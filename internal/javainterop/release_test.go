package javainterop

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestGoReleaseThenJavaAcquires: a key leaselock released, by marking it
// (the default: isReleased "1", record kept) or by deleting it, is free for
// the Java client at once, without waiting out a lease.
func TestGoReleaseThenJavaAcquires(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		g := e.goClient(t, "go-releaser")
		j := e.startJava(t, "java-next")

		for _, tc := range []struct {
			key  string
			opts []lock.AcquireOption
		}{
			{"marked", nil},
			{"deleted", []lock.AcquireOption{lock.DeleteOnRelease()}},
		} {
			l, err := g.Acquire(c, tc.key, tc.opts...)
			require.NoError(t, err)
			require.NoError(t, l.Release(c))
			item := e.raw(t, tc.key)
			if tc.key == "marked" {
				require.Equal(t, s("1"), item["isReleased"], "leaselock marks a release the way Java does")
				require.Equal(t, s("go-releaser"), item["ownerName"])
				seen := j.lock(t, "get "+tc.key)
				require.True(t, seen.Released, "Java's getLock treats the record as released")
			} else {
				require.Empty(t, item)
				require.Equal(t, "none", j.Must(t, "get "+tc.key))
			}

			start := time.Now()
			got := j.lock(t, "acquire "+tc.key)
			require.Less(t, time.Since(start), lease/2, "%s: Java must not wait out a lease for a released key", tc.key)
			require.Equal(t, "java-next", got.Owner)
			item = e.raw(t, tc.key)
			require.Equal(t, s("java-next"), item["ownerName"])
			require.NotContains(t, item, "isReleased")

			var held *lock.LockedError
			_, err = g.TryAcquire(c, tc.key)
			require.ErrorAs(t, err, &held)
			require.Equal(t, "java-next", held.Owner)
		}
	})
}

// TestJavaReleaseThenGoAcquires: whatever way the Java client releases —
// its default (delete the item), releaseLock with deleteLock=false, or a
// lock acquired with deleteLockOnRelease=false — leaselock acquires the key
// at once, in one request.
func TestJavaReleaseThenGoAcquires(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, nil)
		c := ctx(t)
		j := e.startJava(t, "java-releaser")
		g := e.goClient(t, "go-next")

		for _, tc := range []struct {
			name, acquire, release string
			deleted                bool
		}{
			{"default-delete", "acquire default-delete", "release default-delete", true},
			{"explicit-delete", "acquire explicit-delete delete=false", "release explicit-delete mode=delete", true},
			{"explicit-mark", "acquire explicit-mark", "release explicit-mark mode=mark", false},
			{"mark-by-option", "acquire mark-by-option delete=false", "release mark-by-option", false},
		} {
			j.lock(t, tc.acquire)
			require.Equal(t, "released", j.Must(t, tc.release), tc.name)
			item := e.raw(t, tc.name)
			if tc.deleted {
				require.Empty(t, item, "%s: Java deleted the item", tc.name)
			} else {
				require.Equal(t, s("1"), item["isReleased"], "%s: Java marks a release with S \"1\"", tc.name)
				require.Equal(t, s("java-releaser"), item["ownerName"])
			}

			e.counter.Reset()
			l, err := g.TryAcquire(c, tc.name)
			require.NoError(t, err, tc.name)
			require.Equal(t, int64(1), e.counter.Total(), "%s: one request (%v)", tc.name, e.counter.Counts())
			require.Equal(t, uint64(1), l.Token(), "%s: Java items carry no counter", tc.name)
			item = e.raw(t, tc.name)
			require.Equal(t, s("go-next"), item["ownerName"])
			require.NotContains(t, item, "isReleased")
			require.Equal(t, n("1"), item[dynamostore.AttrFencingToken])

			seen := j.lock(t, "get "+tc.name)
			require.Equal(t, "go-next", seen.Owner)
			require.False(t, seen.Released)
			j.expect(t, "try "+tc.name+" skipwait", "unavailable")
		}
	})
}
