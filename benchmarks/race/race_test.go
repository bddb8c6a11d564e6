package race

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leaselock/leaselock/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// TestQuickRun runs every scenario briefly on dynalite and checks the
// result is complete and well-formed: every contender measured in every
// scenario, requests counted, the JSON readable, the charts real PNGs.
func TestQuickRun(t *testing.T) {
	srv := testservers.Get(t, testservers.Dynalite) // skips when not installed
	ctx, cancel := context.WithTimeout(srv.Context(t), 3*time.Minute)
	defer cancel()
	cfg := QuickConfig()
	cfg.Logf = t.Logf
	res, err := Run(ctx, srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("scenario errors: %q", res.Errors)
	}

	for _, k := range Kinds {
		ops := res.Requests[k.Name]
		if len(ops) != len(res.RequestOps) {
			t.Errorf("%s: %d operations counted, want %d", k.Name, len(ops), len(res.RequestOps))
		}
		for op, n := range ops {
			if n.Requests <= 0 {
				t.Errorf("%s: %s: %v requests", k.Name, op, n.Requests)
			}
		}
		if s := res.Sequential[k.Name]; s == nil || s.Cycles == 0 || s.RequestsPerCycle <= 0 {
			t.Errorf("%s: sequential: %+v", k.Name, s)
		}
		if c := res.Contention[k.Name]; c == nil || c.Acquisitions == 0 || c.RequestsPerAcquisition <= 0 {
			t.Errorf("%s: contention: %+v", k.Name, c)
		}
		if tk := res.Takeover[k.Name]; tk == nil || tk.Median < tk.LeaseMs || tk.Requests <= 0 {
			// No safe waiter takes a dead holder's key in less than a lease.
			t.Errorf("%s: takeover: %+v", k.Name, tk)
		}
		for _, h := range res.Heartbeat {
			f := h.Contenders[k.Name]
			if f == nil || f.Acquired != h.Locks || f.RequestsPerSec <= 0 || f.Kept+f.Lost != f.Acquired {
				t.Errorf("%s: heartbeat %s: %+v", k.Name, h.Case, f)
			}
		}
	}
	// The floor and leaselock each send one request for a free key.
	for _, name := range []string{Floor, Leaselock} {
		if got := res.Requests[name]["acquire absent key"].Requests; got != 1 {
			t.Errorf("%s: acquire of an absent key sent %v requests, want 1", name, got)
		}
	}
	if m := res.Memstore; m == nil || m.EngineNsPerOp <= 0 || m.StoreNsPerOp <= 0 || m.HeapPerLock <= 0 {
		t.Errorf("memstore: %+v", m)
	}
	if len(res.Ratios) == 0 {
		t.Error("no ratios")
	}

	dir := t.TempDir()
	files, err := WriteFiles(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(Charts(res)); len(files) != want {
		t.Errorf("wrote %v, want %d files", files, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	for _, key := range []string{"meta", "requests_per_operation", "sequential", "contention", "takeover",
		"heartbeat", "memstore", "ratios", "errors"} {
		if _, ok := back[key]; !ok {
			t.Errorf("results.json lacks %q", key)
		}
	}
	for _, f := range files[1:] {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 100 {
			t.Errorf("%s: %v image", f, r)
		}
	}
}

// TestTimeline pins the loss rule the heartbeat scenario judges by.
func TestTimeline(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tl := NewTimeline(time.Second)
	tl.confirmed("kept", at(0), at(10))
	tl.confirmed("kept", at(900), at(990)) // confirmed within a lease of the last send
	tl.confirmed("late", at(0), at(10))
	tl.confirmed("late", at(900), at(1010)) // sent in time, confirmed a lease after the last send
	tl.confirmed("stopped", at(0), at(10))
	lapsed, seen := tl.Lapsed(at(1500))
	if seen != 3 {
		t.Errorf("seen %d keys, want 3", seen)
	}
	want := map[string]bool{"late": true, "stopped": true}
	if len(lapsed) != len(want) || !lapsed["late"] || !lapsed["stopped"] {
		t.Errorf("lapsed %v, want %v", lapsed, want)
	}
}

func TestKeyOf(t *testing.T) {
	for body, want := range map[string]string{
		`{"Key":{"key":{"S":"hb-000001"}},"TableName":"t"}`:                    "hb-000001",
		`{"Item":{"data":{"B":"eA=="},"key":{"S":"k"},"ownerName":{"S":"o"}}}`: "k",
		`{"TableName":"t"}`: "",
	} {
		if got := keyOf([]byte(body)); got != want {
			t.Errorf("keyOf(%s) = %q, want %q", body, got, want)
		}
	}
}
