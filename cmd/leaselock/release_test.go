package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// requireToldOfForceRelease: the holder learns of a force-release at its
// next heartbeat, as a steal naming who released it.
func requireToldOfForceRelease(t *testing.T, l *lock.Lock) {
	t.Helper()
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("holder not told of the force-release")
	}
	var lost *lock.LostError
	if !errors.As(l.Err(), &lost) || lost.Reason != lock.Stolen || !strings.HasPrefix(lost.Holder, "force-release:") {
		t.Fatalf("holder's error: %v", l.Err())
	}
}

func TestReleaseForce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	te := newTable(t, testservers.Dynalite, "")
	st := te.store(t, nil)
	alice := te.holder(t, "alice", nil, 2*time.Second, 100*time.Millisecond)
	l, err := alice.Acquire(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	key := backend.Key{Partition: "orders"}

	t.Run("refused without --force", func(t *testing.T) {
		r := cli(t, nil, "release", "--store", te.url, "orders")
		requireCode(t, r, exitUsage)
		requireContains(t, r.stderr, "without --force")
	})
	t.Run("not confirmed", func(t *testing.T) {
		for _, answer := range []string{"no\n", "", "yes please\n"} {
			r := cli(t, strings.NewReader(answer), "release", "--force", "--store", te.url, "orders")
			requireCode(t, r, exitRefused)
			requireContains(t, r.stdout, "owner      alice")
			requireContains(t, r.stderr, "Force-release orders, held by alice with token 1?", `Type "yes"`,
				"not confirmed: nothing was written")
		}
		if l.Err() != nil {
			t.Fatalf("lock lost after a declined release: %v", l.Err())
		}
	})
	t.Run("stale version", func(t *testing.T) {
		r := cli(t, nil, "release", "--force", "--yes", "--version", "not-the-version", "--store", te.url, "orders")
		requireCode(t, r, exitTempFail)
		requireContains(t, r.stderr, "not released", "not not-the-version; nothing was written")
	})
	t.Run("record changed while asking", func(t *testing.T) {
		// The holder heartbeats while the operator reads the question: the
		// conditional write on the version read must not clobber it.
		r := cli(t, &heartbeatThenYes{t: t, l: l}, "release", "--force", "--store", te.url, "orders")
		requireCode(t, r, exitTempFail)
		requireContains(t, r.stderr, "changed since it was read", "owner alice, token 1, held", "nothing was written")
		if l.Err() != nil {
			t.Fatalf("lock lost: %v", l.Err())
		}
		rec, err := st.Get(ctx, key)
		if err != nil || rec.Released || rec.Owner != "alice" {
			t.Fatalf("record after refused release: %+v %v", rec, err)
		}
	})
	t.Run("confirmed", func(t *testing.T) {
		r := cli(t, strings.NewReader("yes\n"), "release", "--force", "--store", te.url, "orders")
		requireCode(t, r, exitOK)
		requireContains(t, r.stdout, "released orders (was held by alice with token 1); the next acquirer gets token 2")
		rec, err := st.Get(ctx, key)
		if err != nil || !rec.Released || rec.Token != 1 || !strings.HasPrefix(rec.Owner, "force-release:") {
			t.Fatalf("record after release: %+v %v", rec, err)
		}
		requireToldOfForceRelease(t, l)
		// The fencing counter survived.
		l2, err := alice.Acquire(ctx, "orders")
		if err != nil || l2.Token() != 2 {
			t.Fatalf("re-acquire: token %v, %v", l2, err)
		}
		if err := l2.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nothing to release", func(t *testing.T) {
		r := mustCLI(t, "release", "--force", "--yes", "--store", te.url, "orders")
		requireContains(t, r.stdout, "already released")
		r = mustCLI(t, "release", "--force", "--yes", "--store", te.url, "no-such-lock")
		requireContains(t, r.stdout, "no record: nothing to release")
	})
	t.Run("--yes with --version", func(t *testing.T) {
		l3, err := alice.Acquire(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		// Stop heartbeats from changing the version under us: read it,
		// then release at once; retry if a heartbeat slipped in.
		for attempt := 0; ; attempt++ {
			rec, err := st.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			r := cli(t, nil, "release", "--force", "--yes", "--version", rec.Version, "--store", te.url, "orders")
			if r.code == exitTempFail && attempt < 5 {
				continue
			}
			requireCode(t, r, exitOK)
			break
		}
		select {
		case <-l3.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("holder not told of the force-release")
		}
	})
}

// heartbeatThenYes answers "yes" to the confirmation, after renewing the
// lock: the record changes between the read and the release.
type heartbeatThenYes struct {
	t    *testing.T
	l    *lock.Lock
	done bool
}

func (r *heartbeatThenYes) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	r.done = true
	if err := r.l.Heartbeat(testCtx(r.t)); err != nil {
		r.t.Errorf("heartbeat: %v", err)
	}
	return copy(p, "yes\n"), nil
}
