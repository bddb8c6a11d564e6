package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
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
		for _, k := range []string{"LEASELOCK_KEY", "LEASELOCK_SORT_KEY", "LEASELOCK_TOKEN", "LEASELOCK_OWNER"} {
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
	default:
		return 2
	}
	return 0
}
