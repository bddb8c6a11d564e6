package javainterop

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/linedriver"
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

// javaClient is one JVM running one AmazonDynamoDBLockClient, driven by
// the line protocol (internal/linedriver).
type javaClient struct {
	owner string
	*linedriver.Driver
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
	return &javaClient{owner: owner,
		Driver: linedriver.Start(t, "java "+owner, exec.Command("java", args...), "ready "+owner, answerTimeout)}
}

// lock sends a command that must answer "ok {lock}" and returns the lock.
func (j *javaClient) lock(t *testing.T, line string) javaLock {
	t.Helper()
	ans := j.Must(t, line)
	l, ok := parseLock(ans)
	require.True(t, ok, "java %s: %q answered %q", j.owner, line, ans)
	return l
}

// expect sends a command whose answer must start with prefix.
func (j *javaClient) expect(t *testing.T, line, prefix string) string {
	t.Helper()
	ans := j.Must(t, line)
	require.True(t, strings.HasPrefix(ans, prefix), "java %s: %q answered %q, want %q...", j.owner, line, ans, prefix)
	return ans
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

func parseLock(answer string) (javaLock, bool) { return linedriver.ParseOK[javaLock](answer) }

// hexOf encodes data for the protocol.
func hexOf(data string) string { return hex.EncodeToString([]byte(data)) }
