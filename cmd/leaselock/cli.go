package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes, from sysexits(3) where one fits. docs/cli.md lists them.
const (
	exitOK          = 0
	exitRefused     = 1  // nothing done by design: confirmation declined, table exists
	exitUsage       = 64 // EX_USAGE: bad flags, arguments or store URL
	exitUnavailable = 69 // EX_UNAVAILABLE: the store cannot be reached or keeps failing
	exitSoftware    = 70 // EX_SOFTWARE: an unexpected error
	exitTempFail    = 75 // EX_TEMPFAIL: timed out waiting for a lock; record changed under us
	exitLockLost    = 76 // EX_PROTOCOL: the lock was lost while the command ran
	exitConfig      = 78 // EX_CONFIG: AWS or PostgreSQL configuration, credentials, missing or mismatched table
	exitCannotExec  = 126
	exitNotFound    = 127
)

// env is what a command may touch of the outside world, so tests can run
// commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// where names the opened store (table, region, endpoint) for error
	// messages; set by openStore.
	where string

	// describe, when set, receives each command's flag set instead of the
	// command running: shell completion is generated from the real flags.
	describe func(*flag.FlagSet)

	// tel exports the command's traces and metrics; nil when the
	// environment names no OTLP collector.
	tel *telemetry
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
	store   bool // works on a store: traced and measured when OTLP export is on
}

func commands() []command {
	return []command{
		{"demo", "watch leases, heartbeats, a takeover and fencing on an in-memory store", runDemo, false},
		{"table", "create or describe a lock table", runTable, true},
		{"ls", "list locks", runLs, true},
		{"get", "show one lock", runGet, true},
		{"release", "force-release another owner's lock (operators only)", runRelease, true},
		{"run", "run a command while holding a lock (a distributed flock)", runRun, true},
		{"hold", "take a lock and hold it until a signal; print its token", runHold, true},
		{"completion", "print a shell completion script (bash, zsh or fish)", runCompletion, false},
		{"version", "print leaselock's version", runVersion, false},
	}
}

// run is the whole program; main only supplies the real world.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case superviseCommand:
		return superviseMain(args[1:])
	case "-version", "--version":
		return run(ctx, []string{"version"}, stdin, stdout, stderr)
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			return run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return runCommand(ctx, e, c, args[1:])
		}
	}
	fmt.Fprintf(stderr, "leaselock: unknown command %q\nRun 'leaselock --help' for the list of commands.\n", name)
	return exitUsage
}

// runCommand runs one command, under its own span when OTLP export is on,
// and exports what it recorded before returning its exit code.
func runCommand(ctx context.Context, e *env, c command, args []string) int {
	if !c.store {
		return exitCode(e, c.name, c.run(ctx, e, args))
	}
	tel, err := startTelemetry(ctx, e)
	if err != nil {
		return exitCode(e, c.name, err)
	}
	e.tel = tel
	ctx, span := tel.startCommand(ctx, e, c.name)
	err = c.run(ctx, e, args)
	code := exitCode(e, c.name, err)
	if tel != nil {
		endCommand(span, code, err != nil && !errors.As(err, new(exited)), err)
		_ = tel.shutdown(ctx)
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprint(w, `leaselock: distributed locks on leases, with fencing tokens.

Usage: leaselock COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command but demo works on a store named by --store URL, or by the
LEASELOCK_STORE environment variable:

  dynamodb://TABLE?region=REGION&endpoint=URL&format=java|python&pk=key&sk=SORTKEY&ttl=ATTR&profile=NAME
  postgres://USER:PASSWORD@HOST:PORT/DATABASE?table=NAME&sslmode=MODE

DynamoDB credentials come from the standard AWS configuration (environment,
shared config and credentials files, SSO, instance roles). PostgreSQL takes
pgx's connection parameters in the URL and the PG* environment variables
(PGPASSWORD, PGSSLMODE...); ~/.pgpass keeps the password off the command
line. Messages never show a password.

Traces and metrics are exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT
(or a per-signal endpoint variable) names a collector, and not otherwise.

Run 'leaselock COMMAND --help' for a command's flags and exit codes.
See docs/cli.md for the full manual.
`)
}

// exitError carries an exit code with the message to print.
type exitError struct {
	code int
	err  error
	hint string // printed on its own line after the error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, err error, hint string) error {
	return &exitError{code: code, err: err, hint: hint}
}

// usageErr is a bad invocation of cmd: exit 64 with a pointer to --help.
func usageErr(cmd string, format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...),
		hint: fmt.Sprintf("Run 'leaselock %s --help' for usage.", cmd)}
}

// exited is returned by a command that has already said everything and
// only wants its exit code (run: the child's own code).
type exited int

func (e exited) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitCode prints err, if any, and returns the process exit code.
func exitCode(e *env, cmd string, err error) int {
	if err == nil {
		return exitOK
	}
	var ex exited
	if errors.As(err, &ex) {
		return int(ex)
	}
	ee := classify(e, err)
	fmt.Fprintf(e.stderr, "leaselock %s: %s\n", cmd, clipMessage(ee.err.Error()))
	if ee.hint != "" {
		fmt.Fprintln(e.stderr, ee.hint)
	}
	return ee.code
}

// newFlags returns a flag set whose errors and help are printed by parse.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses flags given anywhere among args, not only before the first
// argument. Everything after "--" is an argument. When stopAt > 0, parsing
// also stops at the (stopAt+1)-th argument: rest holds it and everything
// after it, unparsed (run's command line). On --help it prints help to
// stdout and returns exited(0); on a bad flag, a usage error.
func parse(e *env, fs *flag.FlagSet, help string, args []string, stopAt int) (pos, rest []string, err error) {
	pos, rest, _, err = parseDash(e, fs, help, args, stopAt)
	return pos, rest, err
}

// parseDash is parse that also says how many arguments came before a
// "--" (-1: there was none), so that "run -- echo hi" is not read as a
// lock named echo.
func parseDash(e *env, fs *flag.FlagSet, help string, args []string, stopAt int) (pos, rest []string, dashAt int, err error) {
	if e.describe != nil {
		e.describe(fs)
		return nil, nil, -1, exited(exitOK)
	}
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(e.stdout, fs, help)
				return nil, nil, -1, exited(exitOK)
			}
			return nil, nil, -1, usageErr(fs.Name(), "%v", err)
		}
		remaining := fs.Args()
		consumed := len(args) - len(remaining)
		dashes := consumed > 0 && args[consumed-1] == "--" // fs.Parse ate a "--"
		args = remaining
		if dashes {
			dashAt = len(pos)
			if stopAt <= 0 {
				return append(pos, args...), nil, dashAt, nil
			}
			n := min(stopAt-len(pos), len(args))
			return append(pos, args[:n]...), args[n:], dashAt, nil
		}
		if len(args) == 0 {
			break
		}
		if stopAt > 0 && len(pos) == stopAt {
			return pos, args, -1, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil, -1, nil
}

func printHelp(w io.Writer, fs *flag.FlagSet, help string) {
	fmt.Fprint(w, strings.TrimLeft(help, "\n"))
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && !strings.Contains(usage, "(default") {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}
