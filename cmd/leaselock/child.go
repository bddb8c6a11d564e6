package main

import (
	"os"
	"time"
)

// superviseCommand is the hidden command under which run re-executes its
// own binary as the command's supervisor.
const superviseCommand = "__supervise"

// child is the command as run sees it: started by a supervisor that owns
// its whole process tree (unix), or directly (elsewhere).
type child interface {
	// leaseLeft tells the supervisor how long the lease has left, after
	// each renewal: it stops the command before the lease lapses.
	leaseLeft(d time.Duration)
	// forward passes a signal leaselock got on to the command.
	forward(sig os.Signal)
	// stop stops the command and everything it started: SIGTERM now,
	// SIGKILL after the grace period (or when the lease lapses, if sooner).
	stop()
	// events reports what the supervisor did; childDone comes last.
	events() <-chan childEvent
}

type childEventKind int

const (
	// childLeaseStop: the lease came within the grace period of lapsing
	// unrenewed, and the command was sent SIGTERM.
	childLeaseStop childEventKind = iota
	// childDone: the command and everything it started have exited.
	childDone
)

type childEvent struct {
	kind   childEventKind
	result childResult // for childDone
}

// childResult is how the command ended.
type childResult struct {
	code    int    // the command's exit code, shell style (128+N: signal N)
	execErr string // the command could not be started (code 126 or 127)
	err     error  // the supervisor failed: the command's fate is unknown
}
