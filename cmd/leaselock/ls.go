package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
)

const lsHelp = `
Usage: leaselock ls --store URL [--partition KEY] [--json]

Lists the lock records in the table (a strongly consistent scan), or those
of one partition key (a query), sorted by key. Columns:

  KEY      the lock's partition key
  SORT     its sort key (only for tables with a sort key)
  OWNER    the owner that last wrote it
  TOKEN    the fencing token of its latest acquisition
  STATE    held or released
  LEASE    the lease duration the holder asked for
  VERSION  the record version; it changes on every heartbeat

"held" means the record carries a lease that was never released. One read
cannot tell a live holder from a dead one: a waiter takes the lock over only
after it has seen the same VERSION for a whole LEASE. Run ls twice, LEASE
apart: a VERSION that did not change belongs to a holder that stopped
heartbeating.

Exit codes: 0 listed; 64 usage; 69 DynamoDB unreachable; 78 AWS
configuration or credentials, missing table, or key schema mismatch.
`

func runLs(ctx context.Context, e *env, args []string) error {
	const cmd = "ls"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	partition := fs.String("partition", "", "list only the locks of this partition `key`")
	asJSON := fs.Bool("json", false, "print a JSON array")
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
	if *partition != "" {
		if err := checkKey("--partition", *partition, dynamostore.MaxPartitionKeyBytes, false); err != nil {
			return usageErr(cmd, "%v", err)
		}
	}
	spec, err := resolveStoreURL(e, cmd, *storeURL)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, *timeout)
	defer cancel()
	views, err := listViews(ctx, e, spec, *partition)
	if err != nil {
		return timedOut(e, ctx, err)
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
	withSort := spec.opts.SortKeyName != ""
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if withSort {
		fmt.Fprintln(tw, "KEY\tSORT\tOWNER\tTOKEN\tSTATE\tLEASE\tVERSION")
	} else {
		fmt.Fprintln(tw, "KEY\tOWNER\tTOKEN\tSTATE\tLEASE\tVERSION")
	}
	for _, v := range views {
		key := shown(v.Key, columnWidth)
		if withSort {
			key += "\t" + shown(v.Sort, columnWidth)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", key, shown(v.Owner, columnWidth), tokenText(v), v.State, v.Lease, shown(v.Version, columnWidth))
	}
	return tw.Flush()
}

// listViews reads every lock record (or those of one partition key).
func listViews(ctx context.Context, e *env, spec storeSpec, partition string) ([]lockView, error) {
	st, err := openStore(ctx, e, spec, attemptTimeout)
	if err != nil {
		return nil, err
	}
	if err := st.check(ctx); err != nil {
		return nil, err
	}
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
