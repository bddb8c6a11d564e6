package race

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/leaselock/leaselock/internal/testservers"
)

// Timings are the lease settings of one scenario.
type Timings struct {
	Lease, Heartbeat, Poll time.Duration
}

// Config says what to run and for how long. DefaultConfig is the full run
// (about four minutes); QuickConfig runs every scenario briefly.
type Config struct {
	// Scenarios to run, by name (see ScenarioNames); empty runs them all.
	Scenarios []string

	// Requests: repetitions of each counted operation.
	Requests int
	// RequestsWait is how long a waiter watches a held key (Requests
	// scenario), polling every Poll of RequestTimings.
	RequestsWait   time.Duration
	RequestTimings Timings

	// Sequential: acquire+release time per contender, split into Rounds
	// that take the contenders in turn.
	Sequential       time.Duration
	Rounds           int
	SequentialTiming Timings

	Contention ContentionConfig
	Takeover   TakeoverConfig
	Heartbeat  []HeartbeatCase
	Memstore   MemstoreConfig

	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// ContentionConfig: Workers clients loop on one key: acquire (waiting,
// polling every Timings.Poll), hold for Hold, release, at once again.
type ContentionConfig struct {
	Workers  int
	Hold     time.Duration
	Duration time.Duration
	Timings  Timings
}

// TakeoverConfig: a holder dies (its connection is cut) and a waiter that
// starts at that moment takes the key over; Runs times per contender.
type TakeoverConfig struct {
	Runs    int
	Timings Timings
}

// HeartbeatCase: one client acquires Locks keys and keeps them for Hold
// at the given heartbeat period and lease.
type HeartbeatCase struct {
	Locks     int
	Heartbeat time.Duration
	Lease     time.Duration
	Hold      time.Duration
}

// Name is the case as charts label it, e.g. "1000 locks, 300ms/1s".
func (c HeartbeatCase) Name() string {
	return fmt.Sprintf("%d locks, %v/%v", c.Locks, c.Heartbeat, c.Lease)
}

// MemstoreConfig: each testing.Benchmark runs for about BenchTime and is
// repeated Runs times (the median is kept); HeldLocks locks are held to
// weigh their heap.
type MemstoreConfig struct {
	BenchTime time.Duration
	Runs      int
	HeldLocks int
}

// Scenario names, in the order Run runs them.
const (
	ScenarioRequests   = "requests"
	ScenarioSequential = "sequential"
	ScenarioContention = "contention"
	ScenarioTakeover   = "takeover"
	ScenarioHeartbeat  = "heartbeat"
	ScenarioMemstore   = "memstore"
)

// ScenarioNames lists every scenario.
var ScenarioNames = []string{ScenarioRequests, ScenarioSequential, ScenarioContention,
	ScenarioTakeover, ScenarioHeartbeat, ScenarioMemstore}

// DefaultConfig is the full run: about four minutes on a 2-core machine.
func DefaultConfig() Config {
	return Config{
		Requests:         10,
		RequestsWait:     time.Second,
		RequestTimings:   Timings{Lease: time.Minute, Heartbeat: 20 * time.Second, Poll: 100 * time.Millisecond},
		Sequential:       6 * time.Second,
		Rounds:           3,
		SequentialTiming: Timings{Lease: 20 * time.Second, Heartbeat: 5 * time.Second, Poll: time.Second},
		Contention: ContentionConfig{Workers: 4, Hold: 5 * time.Millisecond, Duration: 10 * time.Second,
			Timings: Timings{Lease: 2 * time.Second, Heartbeat: 500 * time.Millisecond, Poll: 100 * time.Millisecond}},
		Takeover: TakeoverConfig{Runs: 3,
			Timings: Timings{Lease: time.Second, Heartbeat: 300 * time.Millisecond, Poll: 100 * time.Millisecond}},
		Heartbeat: []HeartbeatCase{
			{Locks: 1000, Heartbeat: 300 * time.Millisecond, Lease: time.Second, Hold: 6 * time.Second},
			{Locks: 1000, Heartbeat: time.Second, Lease: 3 * time.Second, Hold: 9 * time.Second},
			// Demand well past what dynalite serves on a small machine:
			// how a client degrades under overload.
			{Locks: 3000, Heartbeat: 300 * time.Millisecond, Lease: time.Second, Hold: 6 * time.Second},
		},
		Memstore: MemstoreConfig{BenchTime: time.Second, Runs: 3, HeldLocks: 10_000},
	}
}

// QuickConfig runs every scenario for a fraction of a second (the lease
// waits of takeover and heartbeat excepted): a smoke test, not a measurement.
func QuickConfig() Config {
	return Config{
		Requests:         2,
		RequestsWait:     300 * time.Millisecond,
		RequestTimings:   Timings{Lease: time.Minute, Heartbeat: 20 * time.Second, Poll: 100 * time.Millisecond},
		Sequential:       300 * time.Millisecond,
		Rounds:           1,
		SequentialTiming: Timings{Lease: 20 * time.Second, Heartbeat: 5 * time.Second, Poll: time.Second},
		Contention: ContentionConfig{Workers: 2, Hold: 5 * time.Millisecond, Duration: 500 * time.Millisecond,
			Timings: Timings{Lease: 2 * time.Second, Heartbeat: 500 * time.Millisecond, Poll: 50 * time.Millisecond}},
		Takeover: TakeoverConfig{Runs: 1,
			Timings: Timings{Lease: 400 * time.Millisecond, Heartbeat: 100 * time.Millisecond, Poll: 50 * time.Millisecond}},
		Heartbeat: []HeartbeatCase{
			{Locks: 20, Heartbeat: 200 * time.Millisecond, Lease: time.Second, Hold: 500 * time.Millisecond},
		},
		Memstore: MemstoreConfig{BenchTime: 50 * time.Millisecond, Runs: 1, HeldLocks: 1000},
	}
}

// runner carries one Run's state.
type runner struct {
	srv   *testservers.Server
	cfg   Config
	res   *Result
	seq   atomic.Int64
	runID string
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Logf != nil {
		r.cfg.Logf(format, args...)
	}
}

// fail records a scenario's error in the result and goes on: one broken
// contender must not hide the figures of the others.
func (r *runner) fail(scenario, contender string, err error) {
	msg := fmt.Sprintf("%s/%s: %v", scenario, contender, err)
	r.logf("ERROR %s", msg)
	r.res.Errors = append(r.res.Errors, msg)
}

// table creates a fresh table for one scenario and contender.
func (r *runner) table(ctx context.Context, scenario string, k Kind) (string, error) {
	name := fmt.Sprintf("race-%s-%s-%s-%d", r.runID, scenario, k.ID, r.seq.Add(1))
	return name, createTable(ctx, r.srv.Client(), name)
}

// instance returns a new client of kind k on table, with its own counter.
func (r *runner) instance(k Kind, table, owner string, t Timings) (Contender, *Counter, error) {
	counter := newCounter()
	c, err := k.New(Settings{DB: client(r.srv, counter), Table: table, Owner: owner,
		Lease: t.Lease, Heartbeat: t.Heartbeat, Poll: t.Poll})
	return c, counter, err
}

// Run runs the configured scenarios against srv (a dynalite server) and
// returns their figures. It ends early, with what it has, when ctx ends.
func Run(ctx context.Context, srv *testservers.Server, cfg Config) (*Result, error) {
	if srv.Kind != testservers.Dynalite {
		return nil, fmt.Errorf("race: the race runs on dynalite, not %s", srv.Kind)
	}
	for _, s := range cfg.Scenarios {
		if !slices.Contains(ScenarioNames, s) {
			return nil, fmt.Errorf("race: unknown scenario %q (have %s)", s, strings.Join(ScenarioNames, ", "))
		}
	}
	r := &runner{srv: srv, cfg: cfg, res: newResult(), runID: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)}
	r.res.Meta = meta(cfg)
	start := time.Now()
	want := func(s string) bool { return len(cfg.Scenarios) == 0 || slices.Contains(cfg.Scenarios, s) }
	steps := []struct {
		name string
		run  func(context.Context)
	}{
		{ScenarioRequests, r.requests},
		{ScenarioSequential, r.sequential},
		{ScenarioContention, r.contention},
		{ScenarioTakeover, r.takeover},
		{ScenarioHeartbeat, r.heartbeat},
		{ScenarioMemstore, r.memstore},
	}
	for _, s := range steps {
		if !want(s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			r.res.Errors = append(r.res.Errors, fmt.Sprintf("%s: not run: %v", s.name, err))
			continue
		}
		r.logf("== %s", s.name)
		t := time.Now()
		s.run(ctx)
		r.logf("   %s took %v", s.name, time.Since(t).Round(100*time.Millisecond))
	}
	r.res.Meta.Seconds = time.Since(start).Seconds()
	r.res.Meta.LoadAfter = loadAverage()
	r.res.computeRatios()
	if err := srv.Err(); err != nil {
		return r.res, fmt.Errorf("race: dynalite died during the run: %w", err)
	}
	return r.res, nil
}

// meta describes the machine and the versions raced.
func meta(cfg Config) Meta {
	m := Meta{
		Started:    time.Now().UTC().Format(time.RFC3339),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		LoadBefore: loadAverage(),
		Dynalite:   dynaliteVersion(),
		Leaselock:  leaselockRevision(),
		Config:     describeConfig(cfg),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "cirello.io/dynamolock/v2" {
				m.Dynamolock = d.Version
			}
		}
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load average as uptime prints it,
// or "" where /proc/loadavg does not exist.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], ", ")
}

func dynaliteVersion() string {
	root, err := testservers.RepoRoot()
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(root, "internal", "testservers", "servers", "node_modules", "dynalite", "package.json"))
	if err != nil {
		return ""
	}
	const marker = `"version": "`
	s := string(b)
	if i := strings.Index(s, marker); i >= 0 {
		s = s[i+len(marker):]
		if j := strings.IndexByte(s, '"'); j >= 0 {
			return s[:j]
		}
	}
	return ""
}

// leaselockRevision is the commit of the working tree raced (with
// "+changes" when it has uncommitted changes), "" outside a git checkout.
func leaselockRevision() string {
	root, err := testservers.RepoRoot()
	if err != nil {
		return ""
	}
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += "+changes"
	}
	return rev
}

// ctxEnded reports whether err is the end of ctx, which stops a scenario
// quietly.
func ctxEnded(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
