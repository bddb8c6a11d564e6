package testservers

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Bound is the longest a test context lives (see Context): far longer than
// any one test's calls take on a loaded machine, far shorter than go test's
// timeout, so a call that hangs fails its own test with a message instead
// of the whole binary with a goroutine dump.
const Bound = 5 * time.Minute

// Deadline is when t's contexts end: Bound from now, or earlier if the
// test binary's -timeout comes first, less a margin that leaves time to
// report the failure, run cleanups and stop the servers.
func Deadline(t testing.TB) time.Time {
	d := time.Now().Add(Bound)
	dt, ok := t.(interface{ Deadline() (time.Time, bool) }) // *testing.T has one
	if !ok {
		return d
	}
	if td, ok := dt.Deadline(); ok {
		margin := min(30*time.Second, time.Until(td)/10)
		d = minTime(d, td.Add(-margin))
	}
	return d
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Context returns a context for t's calls to the test servers. It ends
// when t ends, at Deadline(t), or as soon as any server shared by this test
// binary dies, with that server's Err (and its last output) as the cause.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := context.AfterFunc(sharedDeath, func() { cancel(context.Cause(sharedDeath)) })
	if sharedDeath.Err() != nil {
		cancel(context.Cause(sharedDeath))
	}
	ctx, cancelBound := context.WithDeadlineCause(ctx, Deadline(t),
		fmt.Errorf("testservers: %s: test context reached its bound (%v, or the -timeout less a margin)", t.Name(), Bound))
	t.Cleanup(func() { stop(); cancelBound(); cancel(context.Canceled) })
	return ctx
}

// Context is testservers.Context that also ends when s exits, s being
// shared or not.
func (s *Server) Context(t testing.TB) context.Context {
	ctx, cancel := s.Watch(Context(t))
	t.Cleanup(cancel)
	return ctx
}

// Watch returns a copy of parent that is also cancelled, with s.Err() as
// its cause, when the server process exits (at once if it already has).
func (s *Server) Watch(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	if err := s.Err(); err != nil {
		cancel(err)
		return ctx, func() {}
	}
	stop := context.AfterFunc(s.life, func() { cancel(s.Err()) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}
