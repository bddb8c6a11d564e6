package pyinterop

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers"
)

const (
	installScript = "scripts/install-test-servers.sh"

	// answerTimeout bounds one command; the longest (a blocking acquire)
	// waits a few leases.
	answerTimeout = 60 * time.Second
)

// pythonReady checks, once per test binary, that the virtualenv's Python
// can import the pinned library.
var pythonReady = sync.OnceValues(func() (string, error) {
	root, err := testservers.RepoRoot()
	if err != nil {
		return "", err
	}
	python := filepath.Join(root, ".cache", "venv", "bin", "python")
	if _, err := os.Stat(python); err != nil {
		return "", fmt.Errorf("%s missing", python)
	}
	out, err := exec.Command(python, "-c",
		"import boto3, importlib.metadata as m; import python_dynamodb_lock; print(m.version('python_dynamodb_lock'))").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("python_dynamodb_lock not importable: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if v := strings.TrimSpace(string(out)); v != pinnedVersion {
		return "", fmt.Errorf("python_dynamodb_lock %s installed, the tests pin %s", v, pinnedVersion)
	}
	return python, nil
})

// pinnedVersion is the version requirements.txt pins.
const pinnedVersion = "0.9.1"

// python returns the virtualenv's interpreter, or skips the test (fails it
// under LEASELOCK_REQUIRE_SERVERS=1) when the library is not installed.
func python(t *testing.T) string {
	t.Helper()
	py, err := pythonReady()
	if err != nil {
		msg := fmt.Sprintf("python_dynamodb_lock not ready (%v): run %s", err, installScript)
		if os.Getenv(testservers.RequireEnv) == "1" {
			t.Fatalf("%s is set: %s", testservers.RequireEnv, msg)
		}
		t.Skip(msg)
	}
	return py
}

// pyClient is one Python process running one DynamoDBLockClient.
type pyClient struct {
	owner  string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
	stderr *testservers.TailBuffer

	mu sync.Mutex // one command at a time
}

// startPython starts the Python client for owner on the env's table, with
// the package's lease and heartbeat, and waits until it is ready. It is
// stopped (quit: close(release_locks=True)) at cleanup; its stderr is
// logged if the test failed.
func (e *env) startPython(t *testing.T, owner string) *pyClient {
	t.Helper()
	root, err := testservers.RepoRoot()
	require.NoError(t, err)
	p := &pyClient{owner: owner, lines: make(chan string, 16), exited: make(chan struct{}),
		stderr: testservers.NewTailBuffer(32 << 10)}
	p.cmd = exec.Command(python(t), filepath.Join(root, "internal", "pyinterop", "driver.py"),
		"--endpoint", e.srv.Endpoint, "--table", e.table, "--owner", owner,
		"--lease-ms", strconv.FormatInt(lease.Milliseconds(), 10),
		"--heartbeat-ms", strconv.FormatInt(heartbeat.Milliseconds(), 10))
	// Loopback emulators need no real credentials or CA bundle; keep the
	// machine's AWS settings out of the driver.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, "PYTHONUNBUFFERED=1")
	p.cmd.Stderr = p.stderr
	configureProcess(p.cmd)
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("python %s stderr (tail):\n%s", owner, p.stderr.String())
		}
	})
	ready, err := p.answer(answerTimeout)
	require.NoError(t, err, "python %s did not start: %s", owner, p.stderr.String())
	require.Equal(t, "ready "+owner, ready, "python %s: %s", owner, p.stderr.String())
	return p
}

// do sends one command and returns its one-line answer. Safe to call from
// any goroutine.
func (p *pyClient) do(line string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		return "", fmt.Errorf("python %s: send %q: %w", p.owner, line, err)
	}
	ans, err := p.answer(answerTimeout)
	if err != nil {
		return "", fmt.Errorf("python %s: %q: %w", p.owner, line, err)
	}
	return ans, nil
}

func (p *pyClient) answer(timeout time.Duration) (string, error) {
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.exited:
		return "", errors.New("the Python process exited")
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer within %v", timeout)
	}
}

// must sends a command and fails the test on a transport error.
func (p *pyClient) must(t *testing.T, line string) string {
	t.Helper()
	ans, err := p.do(line)
	require.NoError(t, err)
	return ans
}

// lock sends a command that must answer "ok {lock}" and returns the lock.
func (p *pyClient) lock(t *testing.T, line string) pyLock {
	t.Helper()
	ans := p.must(t, line)
	l, ok := parseLock(ans)
	require.True(t, ok, "python %s: %q answered %q", p.owner, line, ans)
	return l
}

// kill ends the process at once (SIGKILL): no release, no more heartbeats.
func (p *pyClient) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("python %s did not exit after SIGKILL", p.owner)
	}
}

// stop asks the driver to quit (it closes the client, releasing what it
// holds), and kills it if it does not exit promptly.
func (p *pyClient) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.do("quit")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// pyLock is what the Python client makes of a lock item (driver.lock_json).
type pyLock struct {
	Key          string                       `json:"key"`
	SortKey      string                       `json:"sortKey"`
	Owner        string                       `json:"owner"`
	RVN          string                       `json:"rvn"`
	LeaseSeconds float64                      `json:"leaseSeconds"`
	ExpiryTime   int64                        `json:"expiryTime"`
	Attrs        map[string]map[string]string `json:"attrs"`
	Status       string                       `json:"status"` // for a lock it acquired
}

// binary returns the B attribute name as bytes; nil when absent or not B.
func (l pyLock) binary(t *testing.T, name string) []byte {
	t.Helper()
	v, ok := l.Attrs[name]["B"]
	if !ok {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	require.NoError(t, err)
	return b
}

func parseLock(answer string) (pyLock, bool) {
	var l pyLock
	body, ok := strings.CutPrefix(answer, "ok ")
	if !ok {
		return l, false
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	return l, dec.Decode(&l) == nil
}

// attrsArg renders additional attributes for the acquire command.
func attrsArg(t *testing.T, attrs map[string]map[string]string) string {
	t.Helper()
	b, err := json.Marshal(attrs)
	require.NoError(t, err)
	return "attrs=" + strconv.Quote(string(b))
}

// b64 encodes bytes for a B attribute of attrsArg.
func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
