package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leaselock/leaselock/backend"
)

const getHelp = `
Usage: leaselock get --store URL [--sort SORTKEY] [--watch] [--json] KEY

Shows one lock record: state (free, held or released), owner, fencing
token, lease, version, when it was last written (by the writer's clock, for
records written by leaselock), its data and attributes.

"held" means the record carries a lease that was never released; one read
cannot tell whether its holder is alive (see 'leaselock ls --help').
--watch reads it again after a whole lease: if its version did not change,
it is shown as expired, which is when a waiter takes it over.

Exit codes: 0 shown (also for a key with no record: state free); 64 usage;
69 the store unreachable; 78 AWS or PostgreSQL configuration or
credentials, missing table, or a table that does not match the store URL.
`

func runGet(ctx context.Context, e *env, args []string) error {
	const cmd = "get"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	sortKey := fs.String("sort", "", "the lock's sort `key` (tables with a sort key)")
	asJSON := fs.Bool("json", false, "print JSON")
	watch := watchFlag(fs)
	timeout := timeoutFlag(fs)
	pos, _, err := parse(e, fs, getHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr(cmd, "want exactly one KEY, got %d arguments", len(pos))
	}
	if err := checkTimeout(cmd, *timeout); err != nil {
		return err
	}
	spec, err := resolveStoreURL(e, cmd, *storeURL)
	if err != nil {
		return err
	}
	if err := checkKeys(spec, pos[0], *sortKey, false); err != nil {
		return usageErr(cmd, "%v", err)
	}
	key := backend.Key{Partition: pos[0], Sort: *sortKey}
	// --timeout bounds each read, not the watch between them.
	var st store
	defer func() {
		if st != nil {
			st.close()
		}
	}()
	read := func() ([]lockView, error) {
		rctx, cancel := withTimeout(ctx, *timeout)
		defer cancel()
		var err error
		if st == nil {
			st, err = openChecked(rctx, e, spec)
		}
		var v lockView
		if err == nil {
			v, err = getView(rctx, st, key)
		}
		return []lockView{v}, timedOut(e, rctx, err)
	}
	views, err := read()
	if err == nil && *watch {
		views, err = watchExpired(ctx, e, views, read)
	}
	if err != nil {
		return err
	}
	v := views[0]
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printView(e, v)
	return nil
}

// getView reads one lock record; a missing record is state free.
func getView(ctx context.Context, st store, key backend.Key) (lockView, error) {
	rec, err := st.Get(ctx, key)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return lockView{Key: key.Partition, Sort: key.Sort, State: "free"}, nil
	case err != nil:
		return lockView{}, err
	}
	return viewOf(rec), nil
}

func printView(e *env, v lockView) {
	w := e.stdout
	row := func(k, val string) { fmt.Fprintf(w, "%-10s %s\n", k, val) }
	row("key", shown(v.Key, msgWidth))
	if v.Sort != "" {
		row("sort key", shown(v.Sort, msgWidth))
	}
	if v.State == "free" {
		row("state", "free (no record)")
		return
	}
	switch v.State {
	case stateExpired:
		row("state", fmt.Sprintf("expired (looks expired to me: version unchanged for %v, watched from this host; "+
			"a waiter would take it over now)", (time.Duration(v.WatchedMilli)*time.Millisecond).Round(100*time.Millisecond)))
	default:
		row("state", v.State)
	}
	row("owner", shown(v.Owner, msgWidth))
	row("token", tokenText(v))
	row("lease", v.Lease)
	row("version", shown(v.Version, msgWidth))
	if v.WrittenAt != nil {
		note := ""
		if v.State == "held" && v.AgeMilli != nil && time.Duration(*v.AgeMilli)*time.Millisecond > v.leaseDur {
			note = "; older than its lease: the holder may be gone or the clocks differ (--watch tells)"
		}
		row("written", fmt.Sprintf("%s (%s, by the writer's clock%s)", v.WrittenAt.Format(time.RFC3339Nano),
			age(*v.WrittenAt, v.readAt), note))
	} else if v.State != "free" {
		row("written", "unknown (written by a client that does not stamp its writes)")
	}
	if v.Data != nil {
		row("data", describeData(v.Data))
	}
	if len(v.Attributes) > 0 {
		names := make([]string, 0, len(v.Attributes))
		for k := range v.Attributes {
			names = append(names, k)
		}
		sort.Strings(names)
		var parts []string
		for _, k := range names {
			parts = append(parts, fmt.Sprintf("%s=%q", k, v.Attributes[k]))
		}
		row("attributes", strings.Join(parts, " "))
	}
}

// describeData shows data as quoted text when it is text, else its size.
func describeData(b []byte) string {
	const max = 200
	if !utf8.Valid(b) {
		return fmt.Sprintf("%d bytes (binary)", len(b))
	}
	if len(b) > max {
		return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q (%d bytes)", b, len(b))
}
