package pyinterop

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/linedriver"
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

// pyClient is one Python process running one DynamoDBLockClient, driven
// by the line protocol (internal/linedriver).
type pyClient struct {
	owner string
	*linedriver.Driver
}

// startPython starts the Python client for owner on the env's table, with
// the package's lease and heartbeat, and waits until it is ready. It is
// stopped (quit: close(release_locks=True)) at cleanup; its stderr is
// logged if the test failed.
func (e *env) startPython(t *testing.T, owner string) *pyClient {
	t.Helper()
	root, err := testservers.RepoRoot()
	require.NoError(t, err)
	cmd := exec.Command(python(t), filepath.Join(root, "internal", "pyinterop", "driver.py"),
		"--endpoint", e.srv.Endpoint, "--table", e.table, "--owner", owner,
		"--lease-ms", strconv.FormatInt(lease.Milliseconds(), 10),
		"--heartbeat-ms", strconv.FormatInt(heartbeat.Milliseconds(), 10))
	// Loopback emulators need no real credentials or CA bundle; keep the
	// machine's AWS settings out of the driver.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PYTHONUNBUFFERED=1")
	return &pyClient{owner: owner,
		Driver: linedriver.Start(t, "python "+owner, cmd, "ready "+owner, answerTimeout)}
}

// lock sends a command that must answer "ok {lock}" and returns the lock.
func (p *pyClient) lock(t *testing.T, line string) pyLock {
	t.Helper()
	ans := p.Must(t, line)
	l, ok := parseLock(ans)
	require.True(t, ok, "python %s: %q answered %q", p.owner, line, ans)
	return l
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

func parseLock(answer string) (pyLock, bool) { return linedriver.ParseOK[pyLock](answer) }

// attrsArg renders additional attributes for the acquire command.
func attrsArg(t *testing.T, attrs map[string]map[string]string) string {
	t.Helper()
	b, err := json.Marshal(attrs)
	require.NoError(t, err)
	return "attrs=" + strconv.Quote(string(b))
}

// b64 encodes bytes for a B attribute of attrsArg.
func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
