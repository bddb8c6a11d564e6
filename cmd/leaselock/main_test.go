package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// The test binary plays three parts: the tests; the leaselock command
// itself (LEASELOCK_TEST_ROLE=cli, for tests that need a real process:
// signals, SIGKILL, environment); and the command that "leaselock run"
// runs (first argument childFlag).
const (
	roleEnv   = "LEASELOCK_TEST_ROLE"
	childFlag = "-leaselock-test-child"
)

// testAWSEnv isolates every test, and every process it starts, from the
// developer's AWS set-up: emulators take any credentials.
var testAWSEnv = map[string]string{
	"AWS_ACCESS_KEY_ID":           "AKIDLEASELOCKCLI",
	"AWS_SECRET_ACCESS_KEY":       "leaselock-cli-test",
	"AWS_REGION":                  "us-east-1",
	"AWS_EC2_METADATA_DISABLED":   "true",
	"AWS_CONFIG_FILE":             os.DevNull,
	"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		os.Exit(childMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == superviseCommand {
		os.Exit(superviseMain(os.Args[2:]))
	}
	if os.Getenv(roleEnv) == "cli" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", storeEnv,
		"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS",
		"PGSSLMODE", "PGCONNECT_TIMEOUT", "PGAPPNAME"} {
		os.Unsetenv(k)
	}
	for k, v := range testAWSEnv {
		os.Setenv(k, v)
	}
	// Nor may the developer's collector receive the tests' telemetry: only
	// the tests that start their own OTLP receiver export.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") || k == "TRACEPARENT" || k == "TRACESTATE" {
			os.Unsetenv(k)
		}
	}
	// Under -race every process would otherwise sleep a second at exit, and
	// the tests start dozens of them (leaselock itself and its commands).
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	testservers.Main(m)
}

// result is what one leaselock invocation did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs leaselock in-process with stdin.
func cli(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	ctx, cancel := context.WithTimeout(testservers.Context(t), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, stdin, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// mustCLI runs leaselock in-process and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) result {
	t.Helper()
	r := cli(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("leaselock %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// forceRelease force-releases key under a live holder as an operator
// would: a heartbeat that lands between the CLI's read and its conditional
// write makes it exit 75 with nothing written, and the operator runs it
// again. Any other outcome fails the test.
func forceRelease(t *testing.T, url, key string) result {
	t.Helper()
	args := []string{"release", "--force", "--yes", "--store", url, key}
	for attempt := 1; ; attempt++ {
		r := cli(t, nil, args...)
		if r.code != exitTempFail || attempt == 20 {
			requireCode(t, r, exitOK)
			return r
		}
		requireContains(t, r.stderr, "changed since it was read", "nothing was written")
	}
}

// process returns leaselock as a separate process (the test binary in the
// cli role) with the test environment plus extra variables. It is killed
// when the test ends, at the test's bound, or when a test server dies (see
// testservers.Context): a "leaselock run" waiting for a key on a dead
// server would otherwise wait forever.
func process(t *testing.T, extraEnv []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(testservers.Context(t), os.Args[0], args...)
	cmd.WaitDelay = 5 * time.Second // its children may hold the output pipes open
	cmd.Env = append(os.Environ(), roleEnv+"=cli")
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// testCtx bounds a test's own store calls: no test may hang on a store.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// runProcess runs leaselock as a process to completion, killing it after
// two minutes.
func runProcess(t *testing.T, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := process(t, extraEnv, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("leaselock %v: %v", args, err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	if !timer.Stop() {
		// Errorf, not Fatalf: tests call this from their own goroutines.
		t.Errorf("leaselock %v: still running after 2 minutes; killed\n%s", args, errOut.String())
		return result{-1, out.String(), errOut.String()}
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("leaselock %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code, out.String(), errOut.String()}
}

// childCommand is the argv of a "leaselock run" command played by this
// test binary.
func childCommand(args ...string) []string {
	return append([]string{os.Args[0], childFlag}, args...)
}

// tableEnv is one test's lock table on a test server.
type tableEnv struct {
	srv   *testservers.Server
	table string
	url   string // the store URL
}

// newTable creates a fresh table through the CLI. query is appended to the
// store URL (for example "sk=sort").
func newTable(t *testing.T, kind testservers.Kind, query string) tableEnv {
	t.Helper()
	srv := testservers.Get(t, kind)
	te := tableEnv{srv: srv, table: testservers.TableName(t)}
	te.url = fmt.Sprintf("dynamodb://%s?endpoint=%s", te.table, srv.Endpoint)
	if query != "" {
		te.url += "&" + query
	}
	mustCLI(t, "table", "create", "--store", te.url)
	return te
}

// store opens the test table directly, for tests that set up or check
// records without the CLI.
func (te tableEnv) store(t *testing.T, opts *dynamostore.Options) *dynamostore.Store {
	t.Helper()
	st, err := dynamostore.New(te.srv.Client(), te.table, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func requireContains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}

func requireCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got %v", code, r)
	}
}
