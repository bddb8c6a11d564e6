package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/leaselock/leaselock/backend"
)

const releaseHelp = `
Usage: leaselock release --force --store URL [--yes] [--version V] [--sort SORTKEY] KEY

Force-releases a lock that another owner holds, for operators clearing a
lock whose holder is known to be gone. It is the only way one owner's lock
is released by anyone else; applications release their own locks through
the library. --force is required.

It reads the record, shows it, asks for confirmation on stdin (type "yes")
unless --yes is given, and then marks the record released with ONE
conditional write on the version it read: if the holder heartbeated, or
anyone else wrote the record meanwhile, nothing is written and it exits 75.
With --version V it releases only if the record is still at version V (as
shown by 'leaselock ls' or 'leaselock get'), so a script never releases a
lock that has changed hands since a person looked at it.

The record is kept, marked released, so the fencing counter survives: the
next acquirer gets a larger token. With format=python in the store URL the
record is deleted instead, since the Python client knows no released
marker; the counter survives there in its own counter item. The holder is NOT told at once: it
learns of the loss at its next heartbeat (reason: stolen) and may act on
the protected resource until then. Only resources that check fencing
tokens are safe from it.

Exit codes: 0 released (or nothing to release: no record, or already
released); 1 not confirmed; 64 usage (including a missing --force); 69
the store unreachable, or the write's outcome is unknown; 75 the record
changed since it was read, or is not at --version: nothing was written; 78
AWS or PostgreSQL configuration or credentials, missing table, or a table
that does not match the store URL.
`

func runRelease(ctx context.Context, e *env, args []string) error {
	const cmd = "release"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	force := fs.Bool("force", false, "required: release a lock another owner holds")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	sortKey := fs.String("sort", "", "the lock's sort `key` (tables with a sort key)")
	version := fs.String("version", "", "release only if the record is at this `version`")
	timeout := fs.Duration("timeout", defaultStoreTimeout,
		"give up and exit 69 when the store has not answered within this `duration` (the read and the write each; not the question)")
	pos, _, err := parse(e, fs, releaseHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr(cmd, "want exactly one KEY, got %d arguments", len(pos))
	}
	if !*force {
		return usageErr(cmd, "refusing to release another owner's lock without --force")
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
	name := shown(key.String(), msgWidth)

	// The timeout bounds each store phase, never the operator's answer.
	rctx, cancel := withTimeout(ctx, *timeout)
	defer cancel()
	st, rec, err := readForRelease(rctx, e, spec, key)
	if st != nil {
		defer st.close()
	}
	switch {
	case errors.Is(err, backend.ErrNotFound):
		fmt.Fprintf(e.stdout, "%s has no record: nothing to release\n", name)
		return nil
	case err != nil:
		return timedOut(e, rctx, err)
	case *version != "" && rec.Version != *version:
		return fail(exitTempFail, fmt.Errorf("not released: %s is at version %s (owner %s, %s), not %s; nothing was written",
			name, shown(rec.Version, msgWidth), shown(rec.Owner, msgWidth), viewOf(rec).State, shown(*version, msgWidth)),
			"Look again with 'leaselock get'.")
	case rec.Released:
		fmt.Fprintf(e.stdout, "%s is already released (last owner %s, %s): nothing to do\n", name,
			shown(rec.Owner, msgWidth), tokenPhrase(rec.Token))
		return nil
	}

	printView(e, viewOf(rec))
	if !*yes {
		fmt.Fprintf(e.stderr, "\nForce-release %s, %s?\n"+
			"The holder is not told until its next heartbeat, and may act on the protected resource until then.\n"+
			"Type \"yes\" to release: ", name, heldBy(rec))
		if !confirmed(e.stdin) {
			return fail(exitRefused, errors.New("not confirmed: nothing was written"), "Pass --yes to skip the question.")
		}
	}

	next := rec.Clone()
	next.Released = true
	next.Version = newVersion()
	next.Owner = forceOwner()
	next.Attributes = nil // attributes merge: leave them as they are
	wctx, cancel := withTimeout(ctx, *timeout)
	defer cancel()
	if releasesByDelete(st) {
		// The format's other clients know no released marker: delete.
		next.Version = ""
		err = st.Delete(wctx, key, rec.Version)
	} else {
		_, err = st.Update(wctx, next, rec.Version)
	}
	var ce *backend.ConflictError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Current == nil && next.Version == "":
		// A resent delete whose first attempt landed: the record is gone.
	case errors.As(err, &ce) && ce.Current != nil && ce.Current.Version == next.Version:
		// The SDK resent a write whose answer was lost: ours landed.
	case errors.As(err, &ce):
		now := "no record"
		if c := ce.Current; c != nil {
			now = fmt.Sprintf("owner %s, %s, %s, version %s", shown(c.Owner, msgWidth), tokenPhrase(c.Token),
				viewOf(*c).State, shown(c.Version, msgWidth))
		}
		return fail(exitTempFail, fmt.Errorf("not released: %s changed since it was read (now: %s); nothing was written", name, now),
			"The holder is alive or the lock changed hands; run the command again to release the new record.")
	case errors.Is(err, backend.ErrAmbiguous) || wctx.Err() != nil:
		gctx, cancel := withTimeout(context.WithoutCancel(ctx), *timeout)
		defer cancel()
		cur, gerr := st.Get(gctx, key)
		gone := next.Version == "" && errors.Is(gerr, backend.ErrNotFound)
		if !gone && (gerr != nil || cur.Version != next.Version) {
			return fail(exitUnavailable, fmt.Errorf("release of %s: outcome unknown: %w", name, err),
				"Run 'leaselock get' to see whether the record is released.")
		}
	default:
		return err
	}
	if next.Version == "" {
		fmt.Fprintf(e.stdout, "released %s by deleting it (was %s)\n", name, heldBy(rec))
		return nil
	}
	fmt.Fprintf(e.stdout, "released %s (was %s); the next acquirer gets token %d\n", name, heldBy(rec), rec.Token+1)
	return nil
}

// readForRelease opens the store and reads the record to release.
func readForRelease(ctx context.Context, e *env, spec storeSpec, key backend.Key) (store, backend.Record, error) {
	st, err := openChecked(ctx, e, spec)
	if err != nil {
		return nil, backend.Record{}, err
	}
	rec, err := st.Get(ctx, key)
	return st, rec, err
}

// heldBy says who holds rec, and with which token.
func heldBy(rec backend.Record) string {
	if rec.Token == 0 {
		return fmt.Sprintf("held by %s with no token (written by a client without fencing tokens)", shown(rec.Owner, msgWidth))
	}
	return fmt.Sprintf("held by %s with token %d", shown(rec.Owner, msgWidth), rec.Token)
}

// confirmed reads one line and accepts "y" or "yes".
func confirmed(r io.Reader) bool {
	if r == nil {
		return false
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// forceOwner is the owner written on a force-released record, so that the
// holder's loss report and ls name who released it.
func forceOwner() string {
	who := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		who = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("force-release:%s@%s", who, host)
}

// newVersion returns a random version in UUID form, as the engine and the
// Java client write.
func newVersion() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
