package testservers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
)

// RequireEnv names the environment variable that turns a missing server
// from a skip into a failure. CI sets it to 1.
const RequireEnv = "LEASELOCK_REQUIRE_SERVERS"

// shared holds the servers of this test binary, started lazily, once each.
var shared = struct {
	mu      sync.Mutex
	started map[Kind]*startOnce
}{started: map[Kind]*startOnce{}}

type startOnce struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the server of the given kind shared by this test binary,
// starting it on first use. If the server is not installed the test is
// skipped, or failed when LEASELOCK_REQUIRE_SERVERS=1; any other start
// failure fails the test.
//
// A shared server that has died fails the test at once, with the end of
// the server's output; one that dies while t runs fails t when it ends
// (its calls end early: see Server.Client and Server.Context).
func Get(t testing.TB, kind Kind) *Server {
	t.Helper()
	srv, err := get(kind)
	if err == nil {
		if srv.crashed() {
			t.Fatalf("the shared %s server died earlier in this test binary:\n%v", kind, srv.Err())
		}
		reportCrash(t, srv)
		return srv
	}
	if errors.Is(err, ErrNotInstalled) {
		msg := fmt.Sprintf("%s not installed: run scripts/install-test-servers.sh (%v)", kind, err)
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is set: %s", RequireEnv, msg)
		}
		t.Skip(msg)
	}
	t.Fatalf("start %s: %v", kind, err)
	return nil
}

func get(kind Kind) (*Server, error) {
	shared.mu.Lock()
	so, ok := shared.started[kind]
	if !ok {
		so = &startOnce{}
		shared.started[kind] = so
	}
	shared.mu.Unlock()
	so.once.Do(func() {
		so.srv, so.err = Start(context.Background(), kind)
		if so.err == nil {
			watchShared(so.srv)
		}
	})
	return so.srv, so.err
}

// sharedDeath is cancelled, with the server's Err as its cause, when any
// server shared by this test binary dies: every test context (Context)
// ends with it, since tests reach the servers in more ways (CLI endpoints,
// child processes) than through a Server value.
var sharedDeath, sharedDied = context.WithCancelCause(context.Background())

// watchShared reports the death of a shared server at once, on the test
// binary's stderr, whatever the tests do next: if one of them then hangs
// anyway, the reason is already in the log.
func watchShared(s *Server) {
	context.AfterFunc(s.life, func() {
		if !s.crashed() {
			return
		}
		sharedDied(s.Err())
		fmt.Fprintf(os.Stderr, "testservers: a shared server died while tests were running:\n%v\n", s.Err())
	})
}

// reported holds the tests that will report a crash of the servers they
// got, so that a test calling Get many times reports each crash once.
var reported sync.Map // reportKey -> struct{}

type reportKey struct {
	t   testing.TB
	srv *Server
}

// reportCrash fails t, when it ends, if srv died while t ran: a test whose
// calls ended early on a dead server then says why, with the server's last
// output, whatever its own assertions printed.
func reportCrash(t testing.TB, srv *Server) {
	k := reportKey{t, srv}
	if _, dup := reported.LoadOrStore(k, struct{}{}); dup {
		return
	}
	t.Cleanup(func() {
		reported.Delete(k)
		if srv.crashed() {
			t.Errorf("the %s server died during this test:\n%v", srv.Kind, srv.Err())
		}
	})
}

// StopAll stops every server this test binary started, the PostgreSQL
// cluster included.
func StopAll() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	errs := []error{stopPostgres()}
	for kind, so := range shared.started {
		so.once.Do(func() {}) // wait for a start in progress
		if so.srv != nil {
			errs = append(errs, so.srv.Stop())
		}
		delete(shared.started, kind)
	}
	return errors.Join(errs...)
}

// Main is a TestMain body: it runs the tests, stops the servers and exits.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopAll(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

var (
	tableSeq    atomic.Uint64
	unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
)

// TableName returns a table name unique within this test binary, derived
// from the test's name so a failing test's table is easy to spot. All tests
// share one server process, so each must use its own table.
func TableName(t testing.TB) string {
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 180 {
		name = name[len(name)-180:]
	}
	return fmt.Sprintf("ll-%s-%d-%d", name, os.Getpid(), tableSeq.Add(1))
}

// Linearizable lists the servers every DynamoDB suite runs on: the ones
// whose conditional writes are atomic (moto through its serialising
// wrapper; MotoThreaded is kept out on purpose).
var Linearizable = []Kind{Dynalite, Moto}

// OnEach runs fn as a parallel subtest on each of the Linearizable servers.
func OnEach(t *testing.T, fn func(t *testing.T, kind Kind)) {
	t.Helper()
	for _, kind := range Linearizable {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}
