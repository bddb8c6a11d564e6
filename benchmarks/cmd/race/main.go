// Command race races leaselock, cirello.io/dynamolock/v2 and a raw
// aws-sdk-go-v2 floor on one dynalite server it starts on a free loopback
// port, and writes the figures as JSON and PNG charts.
//
// From the repository root (scripts/bench.sh does the same):
//
//	go -C benchmarks run ./cmd/race            # full run, about four minutes
//	go -C benchmarks run ./cmd/race -quick     # every scenario briefly
//	go -C benchmarks run ./cmd/race -scenarios contention,takeover
//	go -C benchmarks run ./cmd/race -redraw    # charts from docs/benchmarks/results.json
//
// Results go to docs/benchmarks/ (results.json and *.png) unless -out says
// otherwise. dynalite must be installed (scripts/install-test-servers.sh);
// it runs with the guard that keeps a client's aborted request from killing
// it, and is stopped when the command ends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/leaselock/leaselock/benchmarks/race"
	"github.com/leaselock/leaselock/internal/testservers"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "race:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		out        = flag.String("out", "", "directory for results.json and the charts (default: docs/benchmarks in the repository)")
		quick      = flag.Bool("quick", false, "run every scenario briefly: a smoke run, not a measurement")
		scenarios  = flag.String("scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(race.ScenarioNames, ",")+")")
		sequential = flag.Duration("sequential", 0, "acquire+release time per contender (default 6s)")
		contention = flag.Duration("contention", 0, "contention run per contender (default 10s)")
		workers    = flag.Int("workers", 0, "contending clients (default 4)")
		takeovers  = flag.Int("takeovers", 0, "takeover runs per contender (default 3)")
		heartbeat  = flag.String("heartbeat", "", "heartbeat cases, comma-separated HEARTBEAT/LEASE:LOCKS[:HOLD], e.g. 300ms/1s:1000:6s (default 300ms/1s:1000:6s,1s/3s:1000:9s,300ms/1s:3000:6s)")
		heldLocks  = flag.Int("held-locks", -1, "locks held on memstore to weigh their heap (default 10000)")
		timeout    = flag.Duration("timeout", 10*time.Minute, "bound on the whole run")
		redraw     = flag.Bool("redraw", false, "run nothing: redraw the charts from the results.json in -out")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	cfg := race.DefaultConfig()
	if *quick {
		cfg = race.QuickConfig()
	}
	if *scenarios != "" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}
	if *sequential > 0 {
		cfg.Sequential = *sequential
	}
	if *contention > 0 {
		cfg.Contention.Duration = *contention
	}
	if *workers > 0 {
		cfg.Contention.Workers = *workers
	}
	if *takeovers > 0 {
		cfg.Takeover.Runs = *takeovers
	}
	if *heldLocks >= 0 {
		cfg.Memstore.HeldLocks = *heldLocks
	}
	if *heartbeat != "" {
		cases, err := parseHeartbeat(*heartbeat)
		if err != nil {
			return err
		}
		cfg.Heartbeat = cases
	}
	cfg.Logf = func(format string, args ...any) {
		fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}

	dir := *out
	if dir == "" {
		root, err := testservers.RepoRoot()
		if err != nil {
			return err
		}
		dir = filepath.Join(root, "docs", "benchmarks")
	}

	if *redraw {
		res, err := race.ReadResult(filepath.Join(dir, race.ResultFile))
		if err != nil {
			return err
		}
		files, err := race.WriteFiles(dir, res)
		if err == nil {
			fmt.Printf("wrote %s in %s\n", strings.Join(files, ", "), dir)
		}
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	srv, err := testservers.Start(ctx, testservers.Dynalite)
	if err != nil {
		return err
	}
	defer srv.Stop()
	cfg.Logf("dynalite at %s (pid guarded against client aborts)", srv.Endpoint)

	res, runErr := race.Run(ctx, srv, cfg)
	if res == nil {
		return runErr
	}
	files, err := race.WriteFiles(dir, res)
	if err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Printf("\nwrote %s in %s\n", strings.Join(files, ", "), dir)
	fmt.Printf("load (1, 5, 15 min): %s at start, %s at end; %d CPUs\n\n", res.Meta.LoadBefore, res.Meta.LoadAfter, res.Meta.CPUs)
	fmt.Printf("%-52s %10s %10s %10s %8s %8s\n", "metric", "leaselock", "floor", "dynamolock", "vs floor", "vs dyn")
	show := func(v *float64) string {
		if v == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.3g", *v)
	}
	for _, r := range res.Ratios {
		fmt.Printf("%-52s %10.4g %10.4g %10.4g %8s %8s\n", r.Metric, r.Leaselock, r.Floor, r.Dynamolock,
			show(r.VsFloor), show(r.VsDynamolock))
	}
	if len(res.Errors) > 0 {
		fmt.Printf("\n%d errors:\n  %s\n", len(res.Errors), strings.Join(res.Errors, "\n  "))
		return errors.Join(runErr, fmt.Errorf("%d scenario errors (see above)", len(res.Errors)))
	}
	return runErr
}

// parseHeartbeat reads cases like "300ms/1s:1000:6s"; the hold defaults to
// three leases, and at least 6s.
func parseHeartbeat(spec string) ([]race.HeartbeatCase, error) {
	var cases []race.HeartbeatCase
	for _, item := range strings.Split(spec, ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		timing := strings.Split(parts[0], "/")
		if len(parts) < 2 || len(parts) > 3 || len(timing) != 2 {
			return nil, fmt.Errorf("heartbeat case %q: want HEARTBEAT/LEASE:LOCKS[:HOLD]", item)
		}
		var c race.HeartbeatCase
		var err error
		if c.Heartbeat, err = time.ParseDuration(timing[0]); err != nil {
			return nil, fmt.Errorf("heartbeat case %q: %w", item, err)
		}
		if c.Lease, err = time.ParseDuration(timing[1]); err != nil {
			return nil, fmt.Errorf("heartbeat case %q: %w", item, err)
		}
		if c.Locks, err = strconv.Atoi(parts[1]); err != nil || c.Locks <= 0 {
			return nil, fmt.Errorf("heartbeat case %q: bad lock count", item)
		}
		c.Hold = max(6*time.Second, 3*c.Lease)
		if len(parts) == 3 {
			if c.Hold, err = time.ParseDuration(parts[2]); err != nil {
				return nil, fmt.Errorf("heartbeat case %q: %w", item, err)
			}
		}
		cases = append(cases, c)
	}
	return cases, nil
}
