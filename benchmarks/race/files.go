package race

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// ResultFile is the name of the JSON result WriteFiles writes.
const ResultFile = "results.json"

// WriteFiles writes res as dir/results.json and its charts as dir/*.png,
// and returns the names of the files written.
func WriteFiles(dir string, res *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	written := []string{ResultFile}
	if err := os.WriteFile(filepath.Join(dir, ResultFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	charts := Charts(res)
	for _, name := range slices.Sorted(maps.Keys(charts)) {
		c := charts[name]
		var buf bytes.Buffer
		if err := c.WritePNG(&buf); err != nil {
			return written, fmt.Errorf("chart %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return written, err
		}
		written = append(written, name)
	}
	return written, nil
}

// ReadResult reads a results.json that WriteFiles wrote, and recomputes its
// ratios, so charts can be redrawn without running the race again.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	res := newResult()
	if err := json.Unmarshal(b, res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res.computeRatios()
	return res, nil
}

// contenderNames lists the contenders in chart order.
func contenderNames() []string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Name
	}
	return names
}

// Charts returns the charts of res by file name; a scenario that did not
// run has none.
func Charts(res *Result) map[string]Chart {
	names := contenderNames()
	load := "machine load " + res.Meta.LoadBefore
	if res.Meta.CPUs > 0 {
		load = fmt.Sprintf("%d CPUs, load %s (1, 5, 15 min) at start", res.Meta.CPUs, res.Meta.LoadBefore)
	}
	note := func(s string) string { return s + " · " + load }
	nan := math.NaN()
	out := map[string]Chart{}

	if len(res.Requests) > 0 {
		c := Chart{Title: "DynamoDB requests per operation (dynalite)",
			Note:   note("fewer is better; each block has its own scale"),
			Series: names, Format: "%.3g", GroupScales: true}
		for _, op := range res.RequestOps {
			row := make([]float64, len(names))
			for i, n := range names {
				row[i] = nan
				if v, ok := res.Requests[n][op]; ok {
					row[i] = v.Requests
				}
			}
			c.Groups = append(c.Groups, op)
			c.Values = append(c.Values, row)
		}
		out["requests.png"] = c
	}
	perContender := func(get func(name string) (float64, bool)) []float64 {
		row := make([]float64, len(names))
		for i, n := range names {
			row[i] = nan
			if v, ok := get(n); ok {
				row[i] = v
			}
		}
		return row
	}
	if len(res.Sequential) > 0 {
		out["sequential.png"] = Chart{Title: "Sequential acquire+release cycles per second, one key (dynalite)",
			Note: note("more is better"), Groups: []string{""}, Series: names, Format: "%.0f", Unit: "/s",
			Values: [][]float64{perContender(func(n string) (float64, bool) {
				return field(res.Sequential[n], func(s *Sequential) float64 { return s.CyclesPerSecond })
			})}}
	}
	if len(res.Contention) > 0 {
		var workers int
		var hold, poll float64
		for _, c := range res.Contention {
			workers, hold, poll = c.Workers, c.HoldMs, c.PollMs
		}
		get := func(f func(*Contention) float64) []float64 {
			return perContender(func(n string) (float64, bool) { return field(res.Contention[n], f) })
		}
		out["contention.png"] = Chart{
			Title: fmt.Sprintf("%d clients contending for one key, hold %g ms, poll %g ms, no pause (dynalite)",
				workers, hold, poll),
			GroupScales: true,
			Note:        note("acquisitions: more is better; requests and waits: fewer/shorter is better"),
			Groups: []string{"acquisitions per second", "requests per acquisition", "wait p99 (ms)",
				"longest wait (ms)"},
			Series: names,
			Values: [][]float64{
				get(func(c *Contention) float64 { return c.PerSecond }),
				get(func(c *Contention) float64 { return c.RequestsPerAcquisition }),
				get(func(c *Contention) float64 { return c.WaitP99 }),
				get(func(c *Contention) float64 { return max(c.WaitMax, c.UnservedMax) }),
			}}
		share := Chart{Title: "Acquisitions per worker under contention (dynalite)",
			Note: note("even bars are fair"), Series: names, Format: "%.0f"}
		for w := range workers {
			share.Groups = append(share.Groups, fmt.Sprintf("worker %d", w))
			share.Values = append(share.Values, perContender(func(n string) (float64, bool) {
				c := res.Contention[n]
				if c == nil || w >= len(c.PerWorker) {
					return 0, false
				}
				return float64(c.PerWorker[w]), true
			}))
		}
		out["contention-share.png"] = share
	}
	if len(res.Takeover) > 0 {
		var lease float64
		for _, t := range res.Takeover {
			lease = t.LeaseMs
		}
		out["takeover.png"] = Chart{Title: "Takeover of a dead holder's key: time from death to acquisition (dynalite)",
			Note:   note(fmt.Sprintf("median of runs; lease %.0f ms is the least a safe waiter waits", lease)),
			Groups: []string{""}, Series: names, Format: "%.0f", Unit: " ms",
			Values: [][]float64{perContender(func(n string) (float64, bool) {
				return field(res.Takeover[n], func(t *Takeover) float64 { return t.Median })
			})}}
	}
	if len(res.Heartbeat) > 0 {
		kept := Chart{Title: "Locks kept while heartbeating, per heartbeat/lease pair (dynalite)",
			Note:   note("more is better; a lock is lost once a renewal is not confirmed within a lease"),
			Series: names, Format: "%.0f"}
		silent := Chart{Title: "Locks lost silently: lease lapsed, holder never told (dynalite)",
			Note: note("zero is the only right answer"), Series: names, Format: "%.0f"}
		for _, h := range res.Heartbeat {
			kept.Groups = append(kept.Groups, h.Case)
			silent.Groups = append(silent.Groups, h.Case)
			kept.Values = append(kept.Values, perContender(func(n string) (float64, bool) {
				return field(h.Contenders[n], func(f *HeartbeatFigure) float64 { return float64(f.Kept) })
			}))
			silent.Values = append(silent.Values, perContender(func(n string) (float64, bool) {
				return field(h.Contenders[n], func(f *HeartbeatFigure) float64 { return float64(f.Silent) })
			}))
		}
		out["heartbeat-kept.png"] = kept
		out["heartbeat-silent.png"] = silent
	}
	if m := res.Memstore; m != nil {
		out["memstore.png"] = Chart{Title: "leaselock on memstore: acquire+release, engine vs the store's own two calls",
			Note:        note("fewer is better"),
			Groups:      []string{"ns per cycle", "allocations per cycle"},
			GroupScales: true,
			Series:      []string{"leaselock engine", "memstore calls alone"},
			Values: [][]float64{{m.EngineNsPerOp, m.StoreNsPerOp},
				{float64(m.EngineAllocsPerOp), float64(m.StoreAllocsPerOp)}},
			Format: "%.0f"}
	}
	return out
}
