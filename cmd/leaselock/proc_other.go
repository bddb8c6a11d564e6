//go:build !unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

var forwardedSignals = []os.Signal{os.Interrupt}

func signalExitCode(os.Signal) int { return 130 }

// direct is the command started without a supervisor: this system has
// neither process groups nor a subreaper, so only the command itself is
// stopped, and it is not stopped if leaselock dies (docs/cli.md).
type direct struct {
	cmd   *exec.Cmd
	grace time.Duration
	evs   chan childEvent
	stops chan struct{}
}

func startChild(e *env, argv, env []string, grace, _, _ time.Duration) (child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	cmd.Env = env
	d := &direct{cmd: cmd, grace: grace, evs: make(chan childEvent, 2), stops: make(chan struct{}, 1)}
	if err := cmd.Start(); err != nil {
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFound
		}
		d.evs <- childEvent{kind: childDone, result: childResult{code: code, execErr: fmt.Sprintf("cannot run %s: %v", argv[0], err)}}
		return d, nil
	}
	go d.wait()
	return d, nil
}

func (d *direct) wait() {
	ended := make(chan error, 1)
	go func() { ended <- d.cmd.Wait() }()
	var err error
	select {
	case err = <-ended:
	case <-d.stops:
		_ = d.cmd.Process.Signal(os.Interrupt)
		select {
		case err = <-ended:
		case <-time.After(d.grace):
			_ = d.cmd.Process.Kill()
			err = <-ended
		}
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	d.evs <- childEvent{kind: childDone, result: childResult{code: code}}
}

func (d *direct) leaseLeft(time.Duration) {}

func (d *direct) forward(sig os.Signal) { _ = d.cmd.Process.Signal(sig) }

func (d *direct) stop() {
	select {
	case d.stops <- struct{}{}:
	default:
	}
}

func (d *direct) events() <-chan childEvent { return d.evs }

// superviseMain exists only on unix.
func superviseMain([]string) int { return exitUsage }
