// Package linedriver runs a client of another language in a child process
// that answers one line per command line: the interop tests drive Amazon's
// Java lock client and python_dynamodb_lock through it.
package linedriver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/internal/testservers"
)

// Driver is one child process speaking the line protocol.
type Driver struct {
	name    string // for messages: "java alice"
	timeout time.Duration
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	exited  chan struct{}
	stderr  *testservers.TailBuffer

	mu sync.Mutex // one command at a time
}

// Start starts cmd, waits until its first line is ready, and stops it at
// t's cleanup (the "quit" command, then closing stdin, then SIGKILL),
// logging the tail of its stderr if the test failed. timeout bounds every
// answer. The kernel kills the child if the test binary dies (Linux).
func Start(t testing.TB, name string, cmd *exec.Cmd, ready string, timeout time.Duration) *Driver {
	t.Helper()
	d := &Driver{name: name, timeout: timeout, cmd: cmd, lines: make(chan string, 16), exited: make(chan struct{}),
		stderr: testservers.NewTailBuffer(32 << 10)}
	cmd.Stderr = d.stderr
	ConfigureProcess(cmd)
	var err error
	d.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "%s: start", name)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		_ = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", name, d.stderr.String())
		}
	})
	first, err := d.answer()
	require.NoError(t, err, "%s did not start: %s", name, d.stderr.String())
	require.Equal(t, ready, first, "%s: %s", name, d.stderr.String())
	return d
}

// Do sends one command and returns its one-line answer. Safe to call from
// any goroutine.
func (d *Driver) Do(line string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := io.WriteString(d.stdin, line+"\n"); err != nil {
		return "", fmt.Errorf("%s: send %q: %w", d.name, line, err)
	}
	ans, err := d.answer()
	if err != nil {
		return "", fmt.Errorf("%s: %q: %w", d.name, line, err)
	}
	return ans, nil
}

func (d *Driver) answer() (string, error) {
	select {
	case l := <-d.lines:
		return l, nil
	case <-d.exited:
		return "", errors.New("the process exited")
	case <-time.After(d.timeout):
		return "", fmt.Errorf("no answer within %v", d.timeout)
	}
}

// Must sends a command and fails the test on a transport error.
func (d *Driver) Must(t testing.TB, line string) string {
	t.Helper()
	ans, err := d.Do(line)
	require.NoError(t, err)
	return ans
}

// Kill ends the process at once (SIGKILL): no release, no more heartbeats.
func (d *Driver) Kill(t testing.TB) {
	t.Helper()
	require.NoError(t, d.cmd.Process.Kill())
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit after SIGKILL", d.name)
	}
}

// Cmd returns the process's command, to signal it.
func (d *Driver) Cmd() *exec.Cmd { return d.cmd }

// Exited is closed once the process has exited.
func (d *Driver) Exited() <-chan struct{} { return d.exited }

// Stderr returns the tail of the process's stderr.
func (d *Driver) Stderr() string { return d.stderr.String() }

// Stop asks the process to quit (which releases what it holds), closes its
// stdin, and kills it if it has not exited within 10 s of each.
func (d *Driver) Stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = d.Do("quit")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	_ = d.stdin.Close()
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// ParseOK decodes an answer "ok {json}" into a T, refusing unknown fields
// (the driver and the test must agree on every one). It is false for any
// other answer.
func ParseOK[T any](answer string) (T, bool) {
	var v T
	body, ok := strings.CutPrefix(answer, "ok ")
	if !ok {
		return v, false
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	return v, dec.Decode(&v) == nil
}
