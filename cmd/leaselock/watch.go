package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// stateExpired is what --watch calls a held record whose version this
// host saw unchanged for a whole lease: the engine's own rule for taking a
// lock over, so a waiter would take it now. One read can never say it.
const stateExpired = "expired"

// watchFlag adds --watch to ls and get.
func watchFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("watch", false, "watch held locks for a whole lease (the longest among them) and show as expired "+
		"those whose version did not change: what a waiter would take over")
}

// watchExpired waits until every held record in views has been watched
// for its whole lease, reads again with reread, and returns the new views
// with each held record whose version did not change marked expired. The
// watch runs on this host's monotonic clock from the end of the first read,
// so the second read is sent at least one lease after the first answered.
func watchExpired(ctx context.Context, e *env, views []lockView, reread func() ([]lockView, error)) ([]lockView, error) {
	first := map[[2]string]lockView{}
	var longest time.Duration
	var from time.Time
	for _, v := range views {
		if v.State != "held" {
			continue
		}
		first[[2]string{v.Key, v.Sort}] = v
		longest = max(longest, v.leaseDur)
		if from.IsZero() || v.readAt.Before(from) {
			from = v.readAt
		}
	}
	if len(first) == 0 {
		return views, nil
	}
	fmt.Fprintf(e.stderr, "leaselock: watching %d held lock(s) for %v (the longest lease) to see which are renewed...\n",
		len(first), longest)
	t := time.NewTimer(time.Until(from.Add(longest)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	again, err := reread()
	if err != nil {
		return nil, err
	}
	for i, v := range again {
		old, ok := first[[2]string{v.Key, v.Sort}]
		if !ok || v.State != "held" || v.Version != old.Version {
			continue
		}
		if watched := v.readAt.Sub(old.readAt); watched >= old.leaseDur {
			again[i].State = stateExpired
			again[i].WatchedMilli = watched.Milliseconds()
		}
	}
	return again, nil
}
