package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

const demoHelp = `
Usage: leaselock demo [flags]

Runs three workers (alice, bob, carol), each with its own lock.Client, on an
embedded in-memory store, and narrates what the engine does:

  1. The workers contend for two locks, "orders" and "invoices": you see
     who waits for whom, every acquisition with its fencing token, the
     heartbeats that keep a lease alive, and every release.
  2. carol freezes while holding "orders": her worker stalls and her
     process is cut off from the store, so no heartbeat gets through. Her
     lease runs out on her own clock and she is told so (OnLost, Done, Err:
     expired). alice, who was waiting, takes "orders" over once she has seen
     the same record for a whole lease, with a higher token.
  3. carol comes back and, without checking, writes with her old token. The
     protected resource refuses it (a smaller token than one it has seen),
     and so do guarded writes: lk.WriteGuarded (lock lost) and the store's
     own guard check (lock no longer held).

It needs no set-up and takes a few seconds.

Exit codes: 0 everything happened as described; 64 usage; 70 something
did not (a bug: please report it).
`

// runDemo is the demo command.
func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags("demo")
	lease := fs.Duration("lease", time.Second, "lease `duration` of every lock")
	beat := fs.Duration("heartbeat", 250*time.Millisecond, "heartbeat `period` (at most half the lease)")
	pos, _, err := parse(e, fs, demoHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("demo", "unexpected argument %q", pos[0])
	}
	if *lease <= 0 || *beat <= 0 || *beat > *lease/2 {
		return usageErr("demo", "need a positive lease and a heartbeat of at most half of it (got --lease %v --heartbeat %v)", *lease, *beat)
	}
	d := newDemo(e, *lease, *beat)
	return d.run(ctx)
}

// demo is one run of the scenario.
type demo struct {
	out          *narrator
	lease, beat  time.Duration
	store        *traceStore
	resource     *fencedResource
	clients      map[string]*lock.Client
	views        map[string]*cutStore // each client's connection to the store
	ledgerMu     sync.Mutex
	ledger       []string // written only by guarded writes, under the store's lock
	guardRefused []string
	lostAt       time.Duration // when carol was told she lost "orders"
}

func newDemo(e *env, lease, beat time.Duration) *demo {
	out := newNarrator(e.stdout)
	return &demo{
		out: out, lease: lease, beat: beat,
		store:    newTraceStore(memstore.New(), out),
		resource: newFencedResource(),
		clients:  map[string]*lock.Client{},
		views:    map[string]*cutStore{},
	}
}

func (d *demo) run(ctx context.Context) (err error) {
	d.out.header("leaselock demo: lease %v, heartbeat every %v, store: in-memory (one process)", d.lease, d.beat)
	for _, name := range []string{"alice", "bob", "carol"} {
		d.views[name] = &cutStore{inner: d.store}
		c, err := lock.New(d.views[name], lock.WithOwner(name), lock.WithLeaseDuration(d.lease),
			lock.WithHeartbeatPeriod(d.beat), lock.WithPollPeriod(max(d.lease/10, time.Millisecond)))
		if err != nil {
			return err
		}
		d.clients[name] = c
	}
	defer func() {
		for _, c := range d.clients {
			err = errors.Join(err, c.Close(context.WithoutCancel(ctx)))
		}
	}()

	d.out.header("Part 1: three workers contend for two locks")
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	jobs := map[string][]string{"alice": {"orders", "invoices"}, "bob": {"invoices", "orders"}, "carol": {"orders"}}
	for i, name := range []string{"alice", "bob", "carol"} {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 20 * time.Millisecond) // a stable order of arrival
			for _, key := range jobs[name] {
				if err := d.job(ctx, name, key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}

	d.out.header("Part 2: carol freezes while holding \"orders\"")
	if err := d.freeze(ctx); err != nil {
		return err
	}
	return d.summary()
}

// job is one unit of work under a lock: acquire (waiting if need be),
// write to the protected resource with the token, hold long enough for a
// heartbeat, release.
func (d *demo) job(ctx context.Context, name, key string) error {
	l, err := d.acquire(ctx, name, key)
	if err != nil {
		return err
	}
	if err := d.write(name, key, l.Token()); err != nil {
		return err
	}
	time.Sleep(d.beat * 3 / 2) // one heartbeat
	return l.Release(ctx)
}

// acquire takes key for name, saying so when it has to wait.
func (d *demo) acquire(ctx context.Context, name, key string, opts ...lock.AcquireOption) (*lock.Lock, error) {
	c := d.clients[name]
	l, err := c.TryAcquire(ctx, key, opts...)
	var held *lock.LockedError
	if errors.As(err, &held) {
		d.out.say(name, "waits for %s (held by %s)", key, held.Owner)
		l, err = c.Acquire(ctx, key, opts...)
	}
	return l, err
}

// write sends one write to the protected resource, carrying the token.
func (d *demo) write(name, key string, token uint64) error {
	err := d.resource.write(key, name, token)
	if err != nil {
		d.out.say(name, "writes to the %s resource with token %d: REFUSED (%v)", key, token, err)
		return err
	}
	d.out.say(name, "writes to the %s resource with token %d: accepted", key, token)
	return nil
}

// guarded commits an entry to the ledger only while l is held, checked by
// the store atomically with the write (memstore runs the func under its lock).
func (d *demo) guarded(ctx context.Context, name string, l *lock.Lock) error {
	entry := fmt.Sprintf("%s/%s#%d", l.Key(), name, l.Token())
	err := l.WriteGuarded(ctx, func() error {
		d.ledgerMu.Lock()
		defer d.ledgerMu.Unlock()
		d.ledger = append(d.ledger, entry)
		return nil
	})
	if err != nil {
		d.ledgerMu.Lock()
		d.guardRefused = append(d.guardRefused, entry)
		d.ledgerMu.Unlock()
		why := err.Error()
		if errors.Is(err, lock.ErrLockLost) {
			why = "errors.Is(err, lock.ErrLockLost)"
		}
		d.out.say(name, "guarded write (lk.WriteGuarded) with token %d: REFUSED (%s)", l.Token(), why)
		return err
	}
	d.out.say(name, "guarded write (lk.WriteGuarded) with token %d: committed", l.Token())
	return nil
}

// freeze is part 2: carol takes "orders", is cut off, and comes back after
// alice took the lock over.
func (d *demo) freeze(ctx context.Context) error {
	const key = "orders"
	lost := make(chan struct{})
	carol, err := d.clients["carol"].Acquire(ctx, key,
		lock.OnLost(func(l *lock.Lock, err error) {
			d.lostAt = d.out.since()
			reason := "?"
			if le := (*lock.LostError)(nil); errors.As(err, &le) {
				reason = le.Reason.String()
			}
			d.out.say("carol", "is told she LOST %s: %s on her own clock (OnLost ran; Done() is closed; Err() says %s)",
				key, reason, reason)
			close(lost)
		}))
	if err != nil {
		return err
	}
	if err := d.write("carol", key, carol.Token()); err != nil {
		return err
	}
	if err := d.guarded(ctx, "carol", carol); err != nil {
		return err
	}

	// alice wants the key too; she waits until carol's lease has run out.
	aliceDone := make(chan error, 1)
	carolBack := make(chan struct{})
	go func() {
		l, err := d.acquire(ctx, "alice", key)
		if err == nil {
			err = errors.Join(d.write("alice", key, l.Token()), d.guarded(ctx, "alice", l))
			<-carolBack // hold the lock while carol tries her stale writes
			err = errors.Join(err, l.Release(ctx))
		}
		aliceDone <- err
	}()

	time.Sleep(d.beat*2 + d.beat/2) // two heartbeats
	pause := 2 * d.lease
	d.out.say("carol", "FREEZES for %v: her worker stalls and her process is cut off from the store", pause)
	d.out.say("carol", "(think stop-the-world pause, stalled VM, network partition): no heartbeat gets through")
	d.views["carol"].cut.Store(true)
	time.Sleep(pause)
	d.views["carol"].cut.Store(false)

	select {
	case <-carol.Done():
	default:
		return fail(exitSoftware, errors.New("demo: carol's lock did not end while she was frozen"), "")
	}
	<-lost
	d.out.say("carol", "comes back and, without checking her lock, writes with her old token %d", carol.Token())
	staleErr := d.write("carol", key, carol.Token())
	guardErr := d.guarded(ctx, "carol", carol)
	storeErr := d.store.WriteGuarded(ctx, carol.Guard(), func() error { return nil })
	if storeErr != nil {
		d.out.say("carol", "the store's own guard check (owner carol, token %d): REFUSED (%v)", carol.Token(), storeErr)
	}
	close(carolBack)
	if err := <-aliceDone; err != nil {
		return err
	}
	switch {
	case staleErr == nil:
		return fail(exitSoftware, errors.New("demo: the resource accepted carol's stale write"), "")
	case !errors.Is(guardErr, lock.ErrLockLost):
		return fail(exitSoftware, fmt.Errorf("demo: carol's guarded write: want lock lost, got %v", guardErr), "")
	case !errors.Is(storeErr, backend.ErrGuardFailed):
		return fail(exitSoftware, fmt.Errorf("demo: the store's guard check: want guard failed, got %v", storeErr), "")
	}
	return nil
}

// summary prints what happened and checks it is what the demo promises.
func (d *demo) summary() error {
	d.out.header("Summary")
	acqs := d.store.acquisitions()
	var takeover *acquisition
	for _, key := range []string{"orders", "invoices"} {
		var parts []string
		for _, a := range acqs {
			if a.key != key {
				continue
			}
			p := fmt.Sprintf("%d %s", a.token, a.owner)
			if a.takeoverFrom != "" {
				p += " (took over from " + a.takeoverFrom + ")"
				takeover = &a
			}
			parts = append(parts, p)
		}
		fmt.Fprintf(d.out.w, "  %-9s tokens: %s\n", key, strings.Join(parts, ", "))
	}
	accepted, refused := d.resource.counts()
	fmt.Fprintf(d.out.w, "  resource  %d writes accepted, %d stale write(s) refused by the fencing check:\n", accepted, len(refused))
	for _, r := range refused {
		fmt.Fprintf(d.out.w, "            %s\n", r)
	}
	fmt.Fprintf(d.out.w, "  guarded   %d guarded writes committed, %d refused (%s)\n",
		len(d.ledger), len(d.guardRefused), strings.Join(d.guardRefused, ", "))
	if takeover == nil {
		return fail(exitSoftware, errors.New("demo: no takeover happened"), "")
	}
	// alice could only start watching carol's last record once it was
	// written, so the takeover must come a whole lease after it; carol's
	// own clock ends her lease earlier, by the clock-drift margin.
	gap := takeover.at - takeover.replacedAt
	fmt.Fprintf(d.out.w, "  safety    carol's last heartbeat reached the store at %s; alice took over at %s,\n",
		fmtSince(takeover.replacedAt), fmtSince(takeover.at))
	fmt.Fprintf(d.out.w, "            %.2fs later, at least a whole lease (%v). carol's clock ended her lease sooner, by a\n",
		gap.Seconds(), d.lease)
	fmt.Fprintf(d.out.w, "            clock-drift margin, and she was told at %s.\n", fmtSince(d.lostAt))
	if gap < d.lease*9/10 {
		return fail(exitSoftware, fmt.Errorf("demo: takeover only %v after carol's last heartbeat, less than the lease", gap), "")
	}
	if len(refused) != 1 || len(d.guardRefused) != 1 {
		return fail(exitSoftware, errors.New("demo: expected exactly one refused stale write and one refused guarded write"), "")
	}
	fmt.Fprintln(d.out.w, "\nTry it on DynamoDB or PostgreSQL: leaselock table create --store URL, then leaselock run --store URL KEY -- CMD\n(see docs/cli.md).")
	return nil
}
