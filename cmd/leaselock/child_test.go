package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childMain is the command "leaselock run" runs in the tests:
//
//	log FILE HOLD     append "start TOKEN NANOS", sleep HOLD, append "end TOKEN NANOS"
//	env               print the LEASELOCK_ variables
//	exit N            exit with N
//	hang FILE         append "start TOKEN NANOS PID", then sleep until killed
//	trap FILE CODE    append "ready", wait for SIGINT/SIGTERM/SIGHUP, append its name, exit CODE
//	ignore-term FILE  ignore SIGTERM, append "ready", sleep until killed
//	sleeper FILE      ignore SIGTERM, append "pid PID", sleep until killed
//	daemonize FILE    start a sleeper in a new session, and exit at once:
//	                  the sleeper is orphaned and leaves the process group
//	tree FILE         ignore SIGTERM; start a sleeper (same process group)
//	                  and a daemonize; append "ready" once both sleepers
//	                  have logged their pids; sleep until killed
//	background FILE   start a sleeper and exit 3 at once, leaving it behind
//	pipes             print each inherited descriptor above 2 that is a pipe (Linux)
func childMain(args []string) int {
	if len(args) == 0 {
		return 2
	}
	appendLine := func(file, format string, a ...any) {
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(f, format+"\n", a...)
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	token := os.Getenv("LEASELOCK_TOKEN")
	switch args[0] {
	case "log":
		hold, _ := time.ParseDuration(args[2])
		appendLine(args[1], "start %s %d", token, time.Now().UnixNano())
		time.Sleep(hold)
		appendLine(args[1], "end %s %d", token, time.Now().UnixNano())
	case "env":
		for _, k := range []string{"LEASELOCK_KEY", "LEASELOCK_SORT_KEY", "LEASELOCK_TOKEN", "LEASELOCK_OWNER", "TRACEPARENT"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
	case "exit":
		n, _ := strconv.Atoi(args[1])
		return n
	case "hang":
		appendLine(args[1], "start %s %d %d", token, time.Now().UnixNano(), os.Getpid())
		time.Sleep(time.Hour)
	case "trap":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		appendLine(args[1], "ready")
		sig := <-sigs
		appendLine(args[1], "got %v", sig)
		n, _ := strconv.Atoi(args[2])
		return n
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		appendLine(args[1], "ready")
		time.Sleep(time.Hour)
	case "sleeper":
		signal.Ignore(syscall.SIGTERM)
		appendLine(args[1], "pid %d", os.Getpid())
		time.Sleep(time.Hour)
	case "daemonize":
		c := exec.Command(os.Args[0], childFlag, "sleeper", args[1])
		newSession(c)
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	case "tree":
		signal.Ignore(syscall.SIGTERM)
		appendLine(args[1], "pid %d", os.Getpid())
		for _, role := range []string{"sleeper", "daemonize"} {
			c := exec.Command(os.Args[0], childFlag, role, args[1])
			if err := c.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			if role == "daemonize" {
				_ = c.Wait()
			}
		}
		for {
			b, _ := os.ReadFile(args[1])
			if strings.Count(string(b), "pid ") == 3 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		appendLine(args[1], "ready")
		time.Sleep(time.Hour)
	case "background":
		c := exec.Command(os.Args[0], childFlag, "sleeper", args[1])
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		for {
			b, _ := os.ReadFile(args[1])
			if strings.Contains(string(b), "pid ") {
				return 3
			}
			time.Sleep(5 * time.Millisecond)
		}
	case "pipes":
		for fd := 3; fd < 64; fd++ {
			if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil && strings.HasPrefix(link, "pipe:") {
				fmt.Printf("fd %d: %s\n", fd, link)
			}
		}
	default:
		return 2
	}
	return 0
}
