package lock

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"time"
	"unicode/utf8"

	"github.com/benbjohnson/clock"
)

// Defaults match AmazonDynamoDBLockClient where it has the same setting
// (docs/safety.md compares them).
const (
	DefaultLeaseDuration   = 20 * time.Second
	DefaultHeartbeatPeriod = 5 * time.Second
	DefaultPollPeriod      = 1 * time.Second
	DefaultClockDrift      = 0.01
	DefaultWorkers         = 4
)

// Option configures a Client.
type Option func(*config)

type config struct {
	owner     string
	ownerSet  bool
	lease     time.Duration
	heartbeat time.Duration
	poll      time.Duration
	drift     float64
	wallSkew  time.Duration // > 0: wall-clock expiry is on
	rate      float64       // heartbeats per second; 0: no cap
	workers   int
	clk       clock.Clock
	log       *slog.Logger
	observer  Observer // nil: none (observer.go)
}

// WithOwner names this client on the records it writes. Default: the host
// name plus a random suffix, unique per Client.
func WithOwner(name string) Option {
	return func(c *config) { c.owner, c.ownerSet = name, true }
}

// WithLeaseDuration sets how long a lease lasts without a heartbeat.
func WithLeaseDuration(d time.Duration) Option { return func(c *config) { c.lease = d } }

// WithHeartbeatPeriod sets how often held leases are renewed; at most half
// the lease, so one lost heartbeat never loses a lock.
func WithHeartbeatPeriod(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// WithPollPeriod sets how often a waiting Acquire reads a held key.
func WithPollPeriod(d time.Duration) Option { return func(c *config) { c.poll = d } }

// WithClockDrift declares the largest relative error of any client's
// clock RATE against real time (0.01 = 1%: every clock runs between 0.99
// and 1.01 seconds per second). A holder counts its lease as ended early by
// that margin, so a waiter whose clock runs fast never takes over too soon
// (docs/safety.md, invariant 1).
func WithClockDrift(rate float64) Option { return func(c *config) { c.drift = rate } }

// WithWallClockExpiry lets a waiter take over a lock whose record says it
// was last written more than its lease plus maxSkew ago by the wall clock,
// without first watching it for a whole lease. Only safe if every client's
// wall clock is within maxSkew of every other's; off by default.
func WithWallClockExpiry(maxSkew time.Duration) Option {
	return func(c *config) { c.wallSkew = maxSkew }
}

// WithHeartbeatRate caps heartbeats at perSecond store writes, so thousands
// of held locks cannot throttle the table. A lock that cannot be renewed in
// time is reported in danger, then expired; it is never dropped silently.
func WithHeartbeatRate(perSecond float64) Option { return func(c *config) { c.rate = perSecond } }

// WithHeartbeatWorkers sets how many heartbeat writes run at once (default
// 4). The client uses this many goroutines plus one scheduler, however many
// locks it holds.
func WithHeartbeatWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithClock replaces the clock, for tests (github.com/benbjohnson/clock).
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clk = clk } }

// WithLogger sets the logger. Lock data and credentials are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

func newConfig(opts []Option) (config, error) {
	c := config{
		lease: DefaultLeaseDuration, heartbeat: DefaultHeartbeatPeriod, poll: DefaultPollPeriod,
		drift: DefaultClockDrift, workers: DefaultWorkers,
	}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		o(&c)
	}
	if !c.ownerSet {
		c.owner = defaultOwner()
	}
	if c.clk == nil {
		c.clk = clock.New()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, c.validate()
}

func (c config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
	}
	switch {
	case c.owner == "":
		return bad("empty owner name")
	case !utf8.ValidString(c.owner):
		// Stores keep strings as UTF-8 (DynamoDB rewrites invalid bytes):
		// a rewritten owner would no longer recognise its own record.
		return bad("owner name %q is not valid UTF-8", c.owner)
	case c.lease <= 0:
		return bad("lease duration %v is not positive", c.lease)
	case c.heartbeat <= 0:
		return bad("heartbeat period %v is not positive", c.heartbeat)
	case c.heartbeat > c.lease/2:
		return bad("heartbeat period %v is above half the lease %v", c.heartbeat, c.lease)
	case c.poll <= 0:
		return bad("poll period %v is not positive", c.poll)
	case c.drift < 0 || c.drift >= 0.5:
		return bad("clock drift %v is outside [0, 0.5)", c.drift)
	case c.wallSkew < 0:
		return bad("wall-clock skew %v is negative", c.wallSkew)
	case c.rate < 0:
		return bad("heartbeat rate %v is negative", c.rate)
	case c.workers <= 0:
		return bad("heartbeat workers %d is not positive", c.workers)
	}
	return nil
}

// localLease is how long a holder trusts a lease after sending the write
// that renewed it: shortened so that, with clock rates within drift of
// each other, it ends before any waiter can have watched a whole lease.
func (c config) localLease(lease time.Duration) time.Duration {
	return time.Duration(float64(lease) * (1 - c.drift) / (1 + c.drift))
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "leaselock"
	}
	return host + "-" + rand.Text()[:8]
}
