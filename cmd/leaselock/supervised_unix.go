//go:build unix

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supervised is run's side of the supervisor: it starts it, tells it of
// renewals and signals, and reads what it did.
type supervised struct {
	cmd *exec.Cmd
	ctl *os.File
	evs chan childEvent

	early time.Duration // how long before the lease lapses everything must be dead
	pid   int           // the command, once started; also its process group

	mu      sync.Mutex
	lastEnd int64 // the deadline last sent, on CLOCK_MONOTONIC
}

// selfExe is this program's binary, to run as the supervisor. On Linux the
// kernel's link survives the file being replaced by an upgrade (where /proc
// is mounted).
func selfExe() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			return "/proc/self/exe", nil
		}
	}
	return os.Executable()
}

// startChild starts the supervisor, which starts argv with env. The lease
// has left to run from now; everything must be dead early before it lapses.
func startChild(e *env, argv, env []string, grace, left, early time.Duration) (child, error) {
	exe, err := selfExe()
	if err != nil {
		return nil, err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	end := monoNow() + int64(left-early)
	args := append([]string{superviseCommand, "-grace", grace.String(), "-kill-by", strconv.FormatInt(end, 10), "--"}, argv...)
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "leaselock"
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	cmd.ExtraFiles = []*os.File{ctlR, repW} // descriptors 3 and 4
	// A process group of its own: a signal to leaselock's job (even
	// SIGKILL to the whole group) leaves the supervisor to clean up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Where no subreaper exists, an escaped background process may hold
	// the output pipes open; do not wait for it.
	cmd.WaitDelay = time.Second
	restore := terminalRestorer(e.stdin)
	err = cmd.Start()
	ctlR.Close()
	repW.Close()
	if err != nil {
		ctlW.Close()
		repR.Close()
		return nil, err
	}
	s := &supervised{cmd: cmd, ctl: ctlW, evs: make(chan childEvent, 4), early: early, lastEnd: end}
	go s.read(repR, restore)
	return s, nil
}

// read turns the supervisor's report lines into events, and ends with
// childDone once the supervisor has exited.
func (s *supervised) read(rep *os.File, restore func()) {
	var res childResult
	done := false
	sc := bufio.NewScanner(rep)
	for !done && sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		switch verb {
		case "started":
			s.pid, _ = strconv.Atoi(arg)
		case "stopping":
			if arg == "lease" {
				s.evs <- childEvent{kind: childLeaseStop}
			}
		case "done":
			res.code, _ = strconv.Atoi(arg)
			done = true
		case "execfail":
			code, msg, _ := strings.Cut(arg, " ")
			res.code, _ = strconv.Atoi(code)
			res.execErr = msg
			done = true
		}
	}
	rep.Close()
	err := s.cmd.Wait()
	s.ctl.Close()
	restore()
	if !done {
		// The supervisor was killed: its parent-death signal took the
		// command (Linux); make sure of the command's process group.
		if s.pid > 0 {
			_ = syscall.Kill(-s.pid, syscall.SIGKILL)
		}
		res.err = fmt.Errorf("the command's supervisor died (%v): what the command started may still run", err)
	}
	s.evs <- childEvent{kind: childDone, result: res}
}

func (s *supervised) send(format string, args ...any) {
	// After the supervisor has exited the write fails; nothing to do then.
	_, _ = fmt.Fprintf(s.ctl, format+"\n", args...)
}

func (s *supervised) leaseLeft(d time.Duration) {
	end := monoNow() + int64(d-s.early)
	s.mu.Lock()
	renewed := end > s.lastEnd+int64(time.Millisecond)
	if renewed {
		s.lastEnd = end
	}
	s.mu.Unlock()
	if renewed {
		s.send("kill-by %d", end)
	}
}

func (s *supervised) forward(sig os.Signal) {
	if n, ok := sig.(syscall.Signal); ok {
		s.send("signal %d", int(n))
	}
}

func (s *supervised) stop() { s.send("stop") }

func (s *supervised) events() <-chan childEvent { return s.evs }
