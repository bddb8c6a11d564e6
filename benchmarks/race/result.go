package race

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Result is one run's figures. Durations are in milliseconds, rates per
// second; per-contender maps are keyed by contender name (Kinds).
type Result struct {
	Meta Meta `json:"meta"`

	// Requests: contender -> operation -> requests per operation.
	Requests map[string]map[string]OpRequests `json:"requests_per_operation,omitempty"`
	// RequestOps lists the operations of Requests in the order shown.
	RequestOps []string               `json:"request_operations,omitempty"`
	Sequential map[string]*Sequential `json:"sequential,omitempty"`
	Contention map[string]*Contention `json:"contention,omitempty"`
	Takeover   map[string]*Takeover   `json:"takeover,omitempty"`
	Heartbeat  []*HeartbeatResult     `json:"heartbeat,omitempty"`
	Memstore   *Memstore              `json:"memstore,omitempty"`
	// Ratios compare leaselock with the floor and with dynamolock, metric
	// by metric, from this run.
	Ratios []Ratio `json:"ratios,omitempty"`
	// Errors lists what failed; the figures of the rest stand.
	Errors []string `json:"errors"`
}

func newResult() *Result {
	return &Result{
		Requests:   map[string]map[string]OpRequests{},
		Sequential: map[string]*Sequential{},
		Contention: map[string]*Contention{},
		Takeover:   map[string]*Takeover{},
		Errors:     []string{},
	}
}

// Meta describes the run: when, where, what versions, how loaded the
// machine was (load averages over 1, 5 and 15 minutes, as uptime shows).
type Meta struct {
	Started    string  `json:"started"`
	Seconds    float64 `json:"seconds"`
	GoVersion  string  `json:"go"`
	OS         string  `json:"os"`
	CPUs       int     `json:"cpus"`
	LoadBefore string  `json:"load_before"`
	LoadAfter  string  `json:"load_after"`
	Leaselock  string  `json:"leaselock_revision"`
	Dynamolock string  `json:"dynamolock_version"`
	Dynalite   string  `json:"dynalite_version"`
	Config     any     `json:"config"`
}

// OpRequests is the mean number of requests one operation sent, and how
// they split by DynamoDB operation.
type OpRequests struct {
	Requests float64            `json:"requests"`
	ByOp     map[string]float64 `json:"by_op"`
}

// Sequential: one client acquiring and releasing one key in a loop.
type Sequential struct {
	Cycles           int     `json:"cycles"`
	Seconds          float64 `json:"seconds"`
	CyclesPerSecond  float64 `json:"cycles_per_s"`
	RequestsPerCycle float64 `json:"requests_per_cycle"`
	P50              float64 `json:"cycle_p50_ms"`
	P99              float64 `json:"cycle_p99_ms"`
}

// Contention: workers on one key.
type Contention struct {
	Workers                int              `json:"workers"`
	HoldMs                 float64          `json:"hold_ms"`
	PollMs                 float64          `json:"poll_ms"`
	Acquisitions           int              `json:"acquisitions"`
	Seconds                float64          `json:"seconds"`
	PerSecond              float64          `json:"acquisitions_per_s"`
	RequestsPerAcquisition float64          `json:"requests_per_acquisition"`
	ByOp                   map[string]int64 `json:"requests_by_op"`
	WaitP50                float64          `json:"wait_p50_ms"`
	WaitP99                float64          `json:"wait_p99_ms"`
	WaitMax                float64          `json:"wait_max_ms"`
	// UnservedMax is the longest wait still going when the run ended.
	UnservedMax float64 `json:"unserved_wait_max_ms"`
	PerWorker   []int   `json:"per_worker"`
	// Fairness is the least served worker's acquisitions over the most
	// served one's: 1 is an even share, 0 a starved worker.
	Fairness float64 `json:"fairness_min_over_max"`
	// Reacquired is the share of hand-offs where the worker that had just
	// released took the key again.
	Reacquired float64 `json:"same_worker_reacquired"`
}

// Takeover: time from the holder's death to the waiter's acquisition.
type Takeover struct {
	LeaseMs  float64   `json:"lease_ms"`
	Runs     []float64 `json:"runs_ms"`
	Median   float64   `json:"median_ms"`
	Max      float64   `json:"max_ms"`
	Requests float64   `json:"waiter_requests_per_takeover"`
}

// HeartbeatResult is one heartbeat case for every contender.
type HeartbeatResult struct {
	Case        string                      `json:"case"`
	Locks       int                         `json:"locks"`
	HeartbeatMs float64                     `json:"heartbeat_ms"`
	LeaseMs     float64                     `json:"lease_ms"`
	HoldMs      float64                     `json:"hold_ms"`
	Contenders  map[string]*HeartbeatFigure `json:"contenders"`
}

// HeartbeatFigure: of the locks acquired, how many kept their lease the
// whole time (judged on the wire, see Timeline), how many lapsed, and of
// those how many the library reported lost to its user (Silent: not).
type HeartbeatFigure struct {
	Acquired       int     `json:"acquired"`
	AcquireSeconds float64 `json:"acquire_s"`
	Kept           int     `json:"kept"`
	Lost           int     `json:"lost"`
	Reported       int     `json:"lost_reported"`
	Silent         int     `json:"lost_silently"`
	// FalseAlarms: reported lost although every renewal landed in time.
	FalseAlarms     int     `json:"false_alarms"`
	RequestsPerSec  float64 `json:"requests_per_s"`
	WritesPerPeriod float64 `json:"writes_per_lock_per_period"`
}

// Memstore: the engine on the in-memory store.
type Memstore struct {
	EngineNsPerOp     float64 `json:"engine_acquire_release_ns_op"`
	EngineAllocsPerOp int64   `json:"engine_acquire_release_allocs_op"`
	EngineBytesPerOp  int64   `json:"engine_acquire_release_bytes_op"`
	StoreNsPerOp      float64 `json:"store_two_calls_ns_op"`
	StoreAllocsPerOp  int64   `json:"store_two_calls_allocs_op"`
	// EngineOverStore is the engine's cycle cost over the store's own.
	EngineOverStore float64 `json:"engine_over_store"`
	HeldLocks       int     `json:"held_locks"`
	HeapPerLock     float64 `json:"heap_bytes_per_held_lock"`
	Goroutines      int     `json:"goroutines_while_holding"`
}

// Ratio compares leaselock's figure for one metric with the floor's and
// dynamolock's. A ratio above 1 means leaselock's number is larger (better
// for rates and locks kept, worse for requests and times); a ratio is
// absent (null) when the other figure is missing or zero.
type Ratio struct {
	Metric       string   `json:"metric"`
	Leaselock    float64  `json:"leaselock"`
	Floor        float64  `json:"floor"`
	Dynamolock   float64  `json:"dynamolock"`
	VsFloor      *float64 `json:"leaselock_over_floor"`
	VsDynamolock *float64 `json:"leaselock_over_dynamolock"`
}

func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0
	}
	return round(a/b, 3)
}

// ratioOf is ratio, nil where it has no value.
func ratioOf(a, b float64, haveB bool) *float64 {
	if !haveB || b == 0 {
		return nil
	}
	v := ratio(a, b)
	return &v
}

// computeRatios fills Ratios from the figures present.
func (r *Result) computeRatios() {
	r.Ratios = nil
	add := func(metric string, get func(name string) (float64, bool)) {
		l, ok := get(Leaselock)
		if !ok {
			return
		}
		f, haveF := get(Floor)
		d, haveD := get(Dynamolock)
		r.Ratios = append(r.Ratios, Ratio{Metric: metric, Leaselock: l, Floor: f, Dynamolock: d,
			VsFloor: ratioOf(l, f, haveF), VsDynamolock: ratioOf(l, d, haveD)})
	}
	for _, op := range r.RequestOps {
		add("requests: "+op, func(n string) (float64, bool) {
			v, ok := r.Requests[n][op]
			return v.Requests, ok
		})
	}
	add("sequential acquire+release cycles/s", func(n string) (float64, bool) {
		s := r.Sequential[n]
		return field(s, func(s *Sequential) float64 { return s.CyclesPerSecond })
	})
	add("sequential requests per cycle", func(n string) (float64, bool) {
		return field(r.Sequential[n], func(s *Sequential) float64 { return s.RequestsPerCycle })
	})
	add("contention acquisitions/s", func(n string) (float64, bool) {
		return field(r.Contention[n], func(c *Contention) float64 { return c.PerSecond })
	})
	add("contention requests per acquisition", func(n string) (float64, bool) {
		return field(r.Contention[n], func(c *Contention) float64 { return c.RequestsPerAcquisition })
	})
	add("contention wait p99 ms", func(n string) (float64, bool) {
		return field(r.Contention[n], func(c *Contention) float64 { return c.WaitP99 })
	})
	add("contention longest wait ms (unserved included)", func(n string) (float64, bool) {
		return field(r.Contention[n], func(c *Contention) float64 { return max(c.WaitMax, c.UnservedMax) })
	})
	add("contention fairness (min/max share)", func(n string) (float64, bool) {
		return field(r.Contention[n], func(c *Contention) float64 { return c.Fairness })
	})
	add("takeover median ms", func(n string) (float64, bool) {
		return field(r.Takeover[n], func(t *Takeover) float64 { return t.Median })
	})
	for _, h := range r.Heartbeat {
		add("heartbeat "+h.Case+": locks kept", func(n string) (float64, bool) {
			return field(h.Contenders[n], func(f *HeartbeatFigure) float64 { return float64(f.Kept) })
		})
	}
}

func field[T any](v *T, get func(*T) float64) (float64, bool) {
	if v == nil {
		return 0, false
	}
	return get(v), true
}

// ms converts a duration to milliseconds, rounded to 0.01.
func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// percentile returns the p-th percentile (0..100) of ds by nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// describeConfig renders cfg for the result with readable durations.
func describeConfig(cfg Config) map[string]any {
	hb := make([]string, len(cfg.Heartbeat))
	for i, c := range cfg.Heartbeat {
		hb[i] = fmt.Sprintf("%s, hold %v", c.Name(), c.Hold)
	}
	t := func(t Timings) string {
		return fmt.Sprintf("lease %v, heartbeat %v, poll %v", t.Lease, t.Heartbeat, t.Poll)
	}
	scen := cfg.Scenarios
	if len(scen) == 0 {
		scen = ScenarioNames
	}
	return map[string]any{
		"scenarios":  scen,
		"requests":   fmt.Sprintf("%d repetitions, wait %v; %s", cfg.Requests, cfg.RequestsWait, t(cfg.RequestTimings)),
		"sequential": fmt.Sprintf("%v per contender in %d rounds; %s", cfg.Sequential, cfg.Rounds, t(cfg.SequentialTiming)),
		"contention": fmt.Sprintf("%d workers, hold %v, %v; %s", cfg.Contention.Workers, cfg.Contention.Hold,
			cfg.Contention.Duration, t(cfg.Contention.Timings)),
		"takeover":  fmt.Sprintf("%d runs; %s", cfg.Takeover.Runs, t(cfg.Takeover.Timings)),
		"heartbeat": hb,
		"memstore": fmt.Sprintf("benchtime %v x %d runs (median), %d held locks", cfg.Memstore.BenchTime,
			cfg.Memstore.Runs, cfg.Memstore.HeldLocks),
	}
}
