//go:build unix

package javainterop

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// pause freezes the JVM (SIGSTOP): its heartbeat thread stops without the
// process knowing, like a long GC pause or a suspended VM.
func pause(t *testing.T, j *javaClient) {
	t.Helper()
	require.NoError(t, j.Cmd().Process.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = j.Cmd().Process.Signal(syscall.SIGCONT) })
}

// resume lets a paused JVM run again.
func resume(t *testing.T, j *javaClient) {
	t.Helper()
	require.NoError(t, j.Cmd().Process.Signal(syscall.SIGCONT))
}
