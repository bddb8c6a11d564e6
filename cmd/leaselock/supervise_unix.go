//go:build unix

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The supervisor's pipes, as inherited file descriptors: run writes
// control lines to the first, and reads report lines from the second.
const (
	controlFD = 3
	reportFD  = 4
)

// The protocol, one line per message.
//
//	run to supervisor:  "kill-by NS" the lease was renewed: everything must
//	                                 be dead by NS on CLOCK_MONOTONIC, a
//	                                 margin before the lease lapses
//	                    "signal N"   forward signal N to the command's group
//	                    "stop"       the lock is lost: stop everything
//	                    end of file  run is gone (even SIGKILL closes it)
//	supervisor to run:  "started PID", "stopping lease",
//	                    "execfail CODE MESSAGE", "done CODE"
//
// The supervisor acts on its own when run is gone or the lease runs out,
// so that no part of the command outlives the lease run last renewed.

// superviseMain is the supervisor process. It starts the command in a
// process group of its own, adopts every orphan below it (Linux), and
// exits once the command and everything it started have exited.
func superviseMain(args []string) int {
	// The command's parent-death signal follows the thread that started
	// it; this one lives as long as the process.
	runtime.LockOSThread()
	fs := flag.NewFlagSet(superviseCommand, flag.ContinueOnError)
	grace := fs.Duration("grace", 10*time.Second, "")
	killBy := fs.Int64("kill-by", 0, "")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "leaselock: __supervise is started by 'leaselock run' only")
		return exitUsage
	}
	// The pipes are the supervisor's alone: the command must neither read
	// run's control lines nor keep the report pipe open.
	syscall.CloseOnExec(controlFD)
	syscall.CloseOnExec(reportFD)
	s := &supervisor{
		grace:  *grace,
		rep:    os.NewFile(reportFD, "report"),
		stderr: os.Stderr,
		name:   lockName(),
	}
	s.setKillBy(*killBy)
	return s.run(os.NewFile(controlFD, "control"), fs.Args())
}

// lockName is the lock's key for messages, from the command's environment.
func lockName() string {
	k := os.Getenv("LEASELOCK_KEY")
	if sk := os.Getenv("LEASELOCK_SORT_KEY"); sk != "" {
		k += "/" + sk
	}
	return shown(k, msgWidth)
}

type supervisor struct {
	grace  time.Duration
	rep    io.Writer
	stderr io.Writer
	name   string

	pid    int       // the command, also its process group
	killBy time.Time // when everything must be dead: a margin before the lease run last renewed lapses
	termAt *time.Timer
	killAt *time.Timer

	exited    bool // the command was reaped
	code      int  // and its exit code
	leftovers bool // checked for what it left running
	stopping  bool // SIGTERM was sent
	killing   bool // SIGKILL was sent
	graceEnd  bool // the kill timer is the grace period's, not the lease's
}

func (s *supervisor) run(control *os.File, argv []string) int {
	if err := adoptOrphans(); err != nil {
		s.say("cannot become the subreaper of the command's processes: %v", err)
	}
	// Signals sent to leaselock's job reach the command through run; the
	// supervisor must outlive them to clean up, and a closed stderr
	// (SIGPIPE) too. Catching (not ignoring) them leaves the command's own
	// dispositions at their defaults.
	caught := make(chan os.Signal, 8)
	signal.Notify(caught, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)

	pid, code, err := startCommand(argv)
	if err != nil {
		s.report("execfail %d %s", code, strings.ReplaceAll(err.Error(), "\n", " "))
		return 0
	}
	s.pid = pid
	// In a background process group, writing to or handing back the
	// terminal stops the process unless these are ignored; the command,
	// already started, keeps the defaults.
	signal.Ignore(syscall.SIGTTOU, syscall.SIGTTIN)
	s.report("started %d", pid)

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(control)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	s.termAt, s.killAt = time.NewTimer(time.Hour), time.NewTimer(time.Hour)
	s.arm()
	var poll <-chan time.Time // scans /proc while something must die
	pollTick := time.NewTicker(10 * time.Millisecond)
	defer pollTick.Stop()
	for {
		s.reap()
		if s.exited && !s.leftovers {
			s.leftovers = true
			if n := treeAlive(s.pid); n > 0 {
				s.say("the command exited and left %s running: stopping %s", processes(n), them(n))
				s.stop("")
			}
		}
		if s.exited && treeAlive(s.pid) == 0 {
			break
		}
		if s.killing {
			signalTree(s.pid, unix.SIGKILL) // again: a process may have forked since
		}
		if s.stopping || s.exited {
			poll = pollTick.C
		}
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				if !s.exited {
					s.say("leaselock run is gone: stopping the command and everything it started")
				}
				s.stop("")
				continue
			}
			s.handle(line)
		case <-chld:
		case <-caught:
		case <-poll:
		case <-s.termAt.C:
			s.say("the lease on %s has not been renewed: stopping the command (SIGTERM; SIGKILL in %v, before the lease lapses)",
				s.name, time.Until(s.killBy).Round(time.Millisecond))
			s.stop("lease")
		case <-s.killAt.C:
			switch {
			case s.graceEnd && s.exited:
				s.say("what the command left running outlived --grace %v: killing it", s.grace)
			case s.graceEnd:
				s.say("the command outlived --grace %v: killing it and everything it started", s.grace)
			default:
				s.say("the lease on %s is about to lapse: killing the command and everything it started", s.name)
			}
			s.killing = true
			signalTree(s.pid, unix.SIGKILL)
		}
	}
	s.report("done %d", s.code)
	return 0
}

// handle acts on one control line from run.
func (s *supervisor) handle(line string) {
	verb, arg, _ := strings.Cut(line, " ")
	switch verb {
	case "kill-by":
		if ns, err := strconv.ParseInt(arg, 10, 64); err == nil {
			s.setKillBy(ns)
			s.arm()
		}
	case "signal":
		if n, err := strconv.Atoi(arg); err == nil && !s.exited {
			_ = unix.Kill(-s.pid, unix.Signal(n))
		}
	case "stop":
		s.stop("")
	}
}

func (s *supervisor) setKillBy(ns int64) {
	s.killBy = time.Now().Add(time.Duration(ns - monoNow()))
}

// arm sets the timers for the lease as last renewed: SIGTERM when it has
// the grace period left, SIGKILL when it lapses. Once stopping, a renewal
// changes nothing: the command is on its way out.
func (s *supervisor) arm() {
	if s.stopping || s.termAt == nil {
		return
	}
	s.termAt.Reset(max(0, time.Until(s.killBy)-s.grace))
	s.killAt.Reset(max(0, time.Until(s.killBy)))
}

// stop sends SIGTERM to everything and SIGKILL after the grace period, or
// when the lease lapses if that is sooner. why is reported to run.
func (s *supervisor) stop(why string) {
	if s.stopping {
		return
	}
	s.stopping = true
	if why != "" {
		s.report("stopping %s", why)
	}
	s.termAt.Stop()
	signalTree(s.pid, unix.SIGTERM)
	// A stopped process cannot act on SIGTERM.
	signalTree(s.pid, unix.SIGCONT)
	untilLease := time.Until(s.killBy)
	s.graceEnd = s.grace < untilLease
	s.killAt.Reset(max(0, min(s.grace, untilLease)))
}

// reap collects every exited child: the command, and the orphans adopted
// from below it.
func (s *supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if pid == s.pid {
			s.exited = true
			s.code = ws.ExitStatus()
			if ws.Signaled() {
				s.code = 128 + int(ws.Signal())
			}
		}
	}
}

func (s *supervisor) say(format string, args ...any) {
	fmt.Fprintf(s.stderr, "leaselock: "+format+"\n", args...)
}

// report tells run; once run is gone the write fails, harmlessly.
func (s *supervisor) report(format string, args ...any) {
	fmt.Fprintf(s.rep, format+"\n", args...)
}

// startCommand starts argv in a process group of its own, in the
// terminal's foreground when stdin is a terminal, and killed if the
// supervisor dies (Linux). It returns the exit code to give when it
// cannot be started: 127 not found, 126 not executable.
func startCommand(argv []string) (pid, code int, err error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		code = exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFound
		}
		return 0, code, fmt.Errorf("cannot run %s: %w", shown(argv[0], msgWidth), err)
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(attr)
	if ownsTerminal() {
		attr.Foreground, attr.Ctty = true, 0
	}
	pid, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   attr,
	})
	if err != nil {
		code = exitCannotExec
		if errors.Is(err, syscall.ENOENT) {
			code = exitNotFound
		}
		return 0, code, fmt.Errorf("cannot run %s: %w", shown(argv[0], msgWidth), err)
	}
	return pid, 0, nil
}

func processes(n int) string {
	if n == 1 {
		return "1 process"
	}
	return fmt.Sprintf("%d processes", n)
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// ownsTerminal reports whether stdin is a terminal whose foreground is
// leaselock run's process group: only then may the command take the
// terminal (a run started in the background must not steal it).
func ownsTerminal() bool {
	if !isTerminal(0) {
		return false
	}
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	pg, err := unix.Getpgid(os.Getppid())
	return err == nil && fg == pg
}
