package pyinterop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/linedriver"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// holderEnv carries a holderSpec to a child copy of the test binary, which
// then acquires one lock with leaselock, reports it and holds it until its
// standard input closes or it is killed: a Go holder that can be crashed
// with SIGKILL, as the Python holders are.
const holderEnv = "LEASELOCK_PYINTEROP_HOLDER"

type holderSpec struct {
	Endpoint, Table, Key, Owner string
}

// holderChild runs the child's part when the test binary was started as
// one, and reports whether it was.
func holderChild() bool {
	raw := os.Getenv(holderEnv)
	if raw == "" {
		return false
	}
	if err := runHolder(raw); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	return true
}

func runHolder(raw string) error {
	var h holderSpec
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		return err
	}
	opts := pythonFormat
	st, err := dynamostore.New(testservers.NewClient(h.Endpoint), h.Table, &opts)
	if err != nil {
		return err
	}
	c, err := lock.New(st, lock.WithOwner(h.Owner), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(heartbeat), lock.WithPollPeriod(poll))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := c.Acquire(ctx, h.Key)
	if err != nil {
		return err
	}
	fmt.Printf("held %d\n", l.Token())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return c.Close(ctx)
}

// goHolder is a child process holding one lock.
type goHolder struct {
	cmd    *exec.Cmd
	token  uint64
	exited chan struct{}
}

// startGoHolder starts a child that acquires key as owner and waits until
// it holds it. It is killed at cleanup if still running.
func (e *env) startGoHolder(t *testing.T, key, owner string) *goHolder {
	t.Helper()
	spec, err := json.Marshal(holderSpec{Endpoint: e.srv.Endpoint, Table: e.table, Key: key, Owner: owner})
	require.NoError(t, err)
	h := &goHolder{exited: make(chan struct{})}
	h.cmd = exec.Command(os.Args[0], "-test.run=^$")
	h.cmd.Env = append(os.Environ(), holderEnv+"="+string(spec))
	stderr := testservers.NewTailBuffer(16 << 10)
	h.cmd.Stderr = stderr
	linedriver.ConfigureProcess(h.cmd)
	stdin, err := h.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := h.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, h.cmd.Start())
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_ = h.cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = h.cmd.Process.Kill()
		<-h.exited
	})
	select {
	case line := <-lines:
		tok, ok := strings.CutPrefix(line, "held ")
		require.True(t, ok, "Go holder: %q; stderr: %s", line, stderr.String())
		h.token, err = strconv.ParseUint(tok, 10, 64)
		require.NoError(t, err)
	case <-h.exited:
		t.Fatalf("Go holder exited: %s", stderr.String())
	case <-time.After(answerTimeout):
		t.Fatalf("Go holder did not acquire %q within %v", key, answerTimeout)
	}
	return h
}

// kill ends the holder at once (SIGKILL): no release, no more heartbeats.
func (h *goHolder) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, h.cmd.Process.Kill())
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the Go holder did not exit after SIGKILL")
	}
}
