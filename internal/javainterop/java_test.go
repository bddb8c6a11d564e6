package javainterop

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	installScript = "scripts/install-java-interop.sh"
	jarPath       = "internal/javainterop/java/target/leaselock-java-interop.jar"

	// answerTimeout bounds one command; the longest (a blocking acquire)
	// waits a few leases.
	answerTimeout = 60 * time.Second
)

// driverJar returns the built Java driver. A missing or stale jar, or no
// java on PATH, skips the test, or fails it under LEASELOCK_REQUIRE_SERVERS=1.
func driverJar(t *testing.T) string {
	t.Helper()
	root, err := testservers.RepoRoot()
	require.NoError(t, err)
	jar := filepath.Join(root, jarPath)
	problem := ""
	if _, err := exec.LookPath("java"); err != nil {
		problem = "java not found on PATH"
	} else if st, err := os.Stat(jar); err != nil {
		problem = jarPath + " missing"
	} else if newer := newerThan(filepath.Join(root, "interop", "java"), st.ModTime()); newer != "" {
		problem = fmt.Sprintf("%s is older than %s", jarPath, newer)
	}
	if problem != "" {
		msg := fmt.Sprintf("Java lock-client driver not ready (%s): run %s", problem, installScript)
		if os.Getenv(testservers.RequireEnv) == "1" {
			t.Fatalf("%s is set: %s", testservers.RequireEnv, msg)
		}
		t.Skip(msg)
	}
	return jar
}

// newerThan returns a file of the Maven project (pom.xml or src/) modified
// after stamp, or "".
func newerThan(project string, stamp time.Time) string {
	found := ""
	check := func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(stamp) {
			found = path
			return fs.SkipAll
		}
		return nil
	}
	_ = filepath.WalkDir(filepath.Join(project, "pom.xml"), check)
	if found == "" {
		_ = filepath.WalkDir(filepath.Join(project, "src"), check)
	}
	return found
}

// javaOpts configure one JVM beyond its owner name.
type javaOpts struct {
	partitionKey, sortKey string
	createTable           bool // create the table with createLockTableInDynamoDB first
}

// javaClient is one JVM running one AmazonDynamoDBLockClient.
type javaClient struct {
	owner  string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
	stderr *testservers.TailBuffer

	mu sync.Mutex // one command at a time
}

// startJava starts the Java client for owner on the env's table, with the
// package's lease and heartbeat, and waits until it is ready. It is stopped
// (quit, which releases what it holds) at cleanup; its stderr is logged if
// the test failed.
func (e *env) startJava(t *testing.T, owner string, o ...javaOpts) *javaClient {
	t.Helper()
	args := []string{
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m", "-Xss1m",
		"-jar", e.jar,
		"--endpoint", e.srv.Endpoint, "--table", e.table, "--owner", owner,
		"--lease-ms", strconv.FormatInt(lease.Milliseconds(), 10),
		"--heartbeat-ms", strconv.FormatInt(heartbeat.Milliseconds(), 10),
	}
	for _, opt := range o {
		if opt.partitionKey != "" {
			args = append(args, "--partition-key", opt.partitionKey)
		}
		if opt.sortKey != "" {
			args = append(args, "--sort-key", opt.sortKey)
		}
		if opt.createTable {
			args = append(args, "--create-table", "true")
		}
	}
	j := &javaClient{owner: owner, lines: make(chan string, 16), exited: make(chan struct{}),
		stderr: testservers.NewTailBuffer(32 << 10)}
	j.cmd = exec.Command("java", args...)
	j.cmd.Stderr = j.stderr
	configureProcess(j.cmd)
	var err error
	j.stdin, err = j.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := j.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, j.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			j.lines <- sc.Text()
		}
		_ = j.cmd.Wait()
		close(j.exited)
	}()
	t.Cleanup(func() {
		j.stop()
		if t.Failed() {
			t.Logf("java %s stderr (tail):\n%s", owner, j.stderr.String())
		}
	})
	ready, err := j.answer(answerTimeout)
	require.NoError(t, err, "java %s did not start", owner)
	require.Equal(t, "ready "+owner, ready, "java %s: %s", owner, j.stderr.String())
	return j
}

// do sends one command and returns its one-line answer. Safe to call from
// any goroutine.
func (j *javaClient) do(line string) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := io.WriteString(j.stdin, line+"\n"); err != nil {
		return "", fmt.Errorf("java %s: send %q: %w", j.owner, line, err)
	}
	ans, err := j.answer(answerTimeout)
	if err != nil {
		return "", fmt.Errorf("java %s: %q: %w", j.owner, line, err)
	}
	return ans, nil
}

func (j *javaClient) answer(timeout time.Duration) (string, error) {
	select {
	case l := <-j.lines:
		return l, nil
	case <-j.exited:
		return "", errors.New("JVM exited")
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer within %v", timeout)
	}
}

// must sends a command and fails the test on a transport error.
func (j *javaClient) must(t *testing.T, line string) string {
	t.Helper()
	ans, err := j.do(line)
	require.NoError(t, err)
	return ans
}

// lock sends a command that must answer "ok {lock}" and returns the lock.
func (j *javaClient) lock(t *testing.T, line string) javaLock {
	t.Helper()
	ans := j.must(t, line)
	l, ok := parseLock(ans)
	require.True(t, ok, "java %s: %q answered %q", j.owner, line, ans)
	return l
}

// expect sends a command whose answer must start with prefix.
func (j *javaClient) expect(t *testing.T, line, prefix string) string {
	t.Helper()
	ans := j.must(t, line)
	require.True(t, strings.HasPrefix(ans, prefix), "java %s: %q answered %q, want %q...", j.owner, line, ans, prefix)
	return ans
}

// kill ends the JVM at once (SIGKILL): no release, no more heartbeats.
func (j *javaClient) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, j.cmd.Process.Kill())
	select {
	case <-j.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("java %s did not exit after SIGKILL", j.owner)
	}
}

// stop asks the driver to quit (it closes the lock client, releasing what it
// holds), and kills it if it does not exit promptly.
func (j *javaClient) stop() {
	select {
	case <-j.exited:
		return
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = j.do("quit")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	_ = j.stdin.Close()
	select {
	case <-j.exited:
	case <-time.After(10 * time.Second):
		_ = j.cmd.Process.Kill()
		<-j.exited
	}
}

// javaLock is what the Java client reports about a lock (Json.lock).
type javaLock struct {
	Key                 string                       `json:"key"`
	SortKey             *string                      `json:"sortKey"`
	Owner               string                       `json:"owner"`
	RecordVersionNumber string                       `json:"recordVersionNumber"`
	LeaseDurationMs     int64                        `json:"leaseDurationMs"`
	Released            bool                         `json:"released"`
	Data                *string                      `json:"data"` // hex
	Attributes          map[string]map[string]string `json:"attributes"`
}

// data returns the lock's data; nil when it has none.
func (l javaLock) data() []byte {
	if l.Data == nil {
		return nil
	}
	d, err := hex.DecodeString(*l.Data)
	if err != nil {
		panic(err)
	}
	return d
}

func parseLock(answer string) (javaLock, bool) {
	var l javaLock
	body, ok := strings.CutPrefix(answer, "ok ")
	if !ok {
		return l, false
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	return l, dec.Decode(&l) == nil
}

// hexOf encodes data for the protocol.
func hexOf(data string) string { return hex.EncodeToString([]byte(data)) }
