package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/leaselock/leaselock/backend"
)

const lsHelp = `
Usage: leaselock ls --store URL [--partition KEY] [--watch] [--json]

Lists the lock records in the table (a strongly consistent scan), or those
of one partition key (a query), sorted by key. Columns:

  KEY      the lock's partition key
  SORT     its sort key (only for tables with a sort key)
  OWNER    the owner that last wrote it
  TOKEN    the fencing token of its latest acquisition
  STATE    held, released, or (--watch) expired
  LEASE    the lease duration the holder asked for
  RENEWED  how long ago the record was last written (acquired, renewed or
           released), by the writer's clock against this host's; "-" for
           records written by other clients (the Java lock client)
  VERSION  the record version; it changes on every heartbeat

"held" means the record carries a lease that was never released. One read
cannot tell a live holder from a dead one, and clocks may differ, so a
large RENEWED is a hint, not proof. A waiter takes the lock over only after
it has seen the same VERSION for a whole LEASE on its own clock; --watch
does the same: it reads again after the longest lease and shows as
"expired" every held lock whose VERSION did not change.

Exit codes: 0 listed; 64 usage; 69 the store unreachable; 78 AWS or
PostgreSQL configuration or credentials, missing table, or a table that
does not match the store URL.
`

func runLs(ctx context.Context, e *env, args []string) error {
	const cmd = "ls"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	partition := fs.String("partition", "", "list only the locks of this partition `key`")
	asJSON := fs.Bool("json", false, "print a JSON array")
	watch := watchFlag(fs)
	timeout := timeoutFlag(fs)
	pos, _, err := parse(e, fs, lsHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(cmd, "unexpected argument %s (use --partition KEY to list one key)", shown(pos[0], msgWidth))
	}
	if err := checkTimeout(cmd, *timeout); err != nil {
		return err
	}
	spec, err := resolveStoreURL(e, cmd, *storeURL)
	if err != nil {
		return err
	}
	rules := spec.keyRules()
	if *partition != "" {
		if err := rules.checkKey("--partition", *partition, rules.maxPartition, false); err != nil {
			return usageErr(cmd, "%v", err)
		}
	}
	// --timeout bounds each read, not the watch between them.
	var st store
	defer func() {
		if st != nil {
			st.close()
		}
	}()
	list := func() ([]lockView, error) {
		rctx, cancel := withTimeout(ctx, *timeout)
		defer cancel()
		var err error
		if st == nil {
			st, err = openChecked(rctx, e, spec)
		}
		var views []lockView
		if err == nil {
			views, err = listViews(rctx, st, *partition)
		}
		return views, timedOut(e, rctx, err)
	}
	views, err := list()
	if err == nil && *watch {
		views, err = watchExpired(ctx, e, views, list)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	if len(views) == 0 {
		fmt.Fprintln(e.stderr, "no locks")
		return nil
	}
	// A SORT column for tables with a sort key, and where any key may
	// have one, once a record does.
	hasSort := func(v lockView) bool { return v.Sort != "" }
	withSort := rules.sortKeyName != "" || rules.sortOptional && slices.ContainsFunc(views, hasSort)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if withSort {
		fmt.Fprintln(tw, "KEY\tSORT\tOWNER\tTOKEN\tSTATE\tLEASE\tRENEWED\tVERSION")
	} else {
		fmt.Fprintln(tw, "KEY\tOWNER\tTOKEN\tSTATE\tLEASE\tRENEWED\tVERSION")
	}
	expired := 0
	for _, v := range views {
		key := shown(v.Key, columnWidth)
		if withSort {
			key += "\t" + shown(v.Sort, columnWidth)
		}
		if v.State == stateExpired {
			expired++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", key, shown(v.Owner, columnWidth), tokenText(v), v.State, v.Lease,
			shortAge(v), shown(v.Version, columnWidth))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if expired > 0 {
		fmt.Fprintf(e.stderr, "expired: VERSION unchanged for a whole LEASE, watched from this host; a waiter would take it over now\n")
	}
	return nil
}

// listViews reads every lock record (or those of one partition key).
func listViews(ctx context.Context, st store, partition string) ([]lockView, error) {
	views := []lockView{}
	req := backend.ListRequest{Partition: partition}
	for {
		page, err := st.List(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, rec := range page.Records {
			views = append(views, viewOf(rec))
		}
		if page.Next == "" {
			break
		}
		req.PageToken = page.Next
	}
	sortViews(views)
	return views, nil
}
