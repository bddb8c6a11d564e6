package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/leaselock/leaselock/lock"
)

const holdHelp = `
Usage: leaselock hold --store URL [flags] KEY

Takes the lock KEY and holds it, heartbeating, until leaselock gets
SIGINT, SIGTERM or SIGHUP; then it releases the lock and exits 0. Like
'etcdctl lock KEY' without a command: for holding a lock by hand (during
maintenance) or from a script that runs other commands meanwhile.

Once it holds the lock it prints the fencing token, alone on a line, to
stdout, so a script can read it:

  coproc leaselock hold --store "$STORE" maintenance
  read -r token <&"${COPROC[0]}"
  ... work, passing $token to what the lock protects ...
  kill "$COPROC_PID"; wait "$COPROC_PID"

If the lock is lost while held (an operator force-released it, or the
store was unreachable until the lease lapsed) it says why and exits 76:
whatever relied on the lock must stop.

Exit codes:
  0    held, then released on a signal
  64   usage
  69   the store unreachable (also when --timeout ran out while the store
       was unreachable or not answering)
  70   unexpected error
  75   timed out waiting for the lock (--timeout), or held (--no-wait);
       --conflict-exit-code chooses another code
  76   the lock was lost while held
  78   AWS or PostgreSQL configuration or credentials, missing table,
       a table that does not match the store URL
  128+N  got signal N while waiting for the lock
`

func runHold(ctx context.Context, e *env, args []string) error {
	const cmd = "hold"
	fs := newFlags(cmd)
	f := defineLockFlags(fs)
	pos, _, err := parse(e, fs, holdHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr(cmd, "want exactly one KEY, got %d arguments", len(pos))
	}
	if err := f.validate(cmd); err != nil {
		return err
	}
	if err := checkLockKey(e, cmd, f, pos[0]); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)

	w := &waiter{e: e, cmd: cmd, f: f, key: pos[0]}
	client, l, err := w.acquire(ctx, sigs)
	if err != nil {
		return err
	}
	defer client.Close(context.WithoutCancel(ctx))
	fmt.Fprintln(e.stdout, l.Token())
	w.say("holding %s with token %d as %s; send SIGINT (^C) or SIGTERM to release it", w.name(), l.Token(),
		shown(l.Owner(), msgWidth))
	select {
	case <-l.Done():
		return fail(exitLockLost, fmt.Errorf("lost the lock on %s: %v", w.name(), l.Err()),
			"Whatever relied on the lock must stop: another owner may hold it now.")
	case sig := <-sigs:
		if err := releaseLock(ctx, l, *f.lease); err != nil {
			if errors.Is(err, lock.ErrLockLost) {
				return fail(exitLockLost, fmt.Errorf("lost the lock on %s before %v came: %w", w.name(), sig, err), "")
			}
			return fmt.Errorf("could not release %s (it lapses after its lease): %w", w.name(), err)
		}
		w.say("released %s (%v)", w.name(), sig)
		return nil
	}
}
