package main

import (
	"flag"
	"time"
)

// defaultLease is the lease run and hold ask for, the library's default
// (and the Java client's).
const defaultLease = 20 * time.Second

// lockFlags are the flags run and hold share: where the lock is, how it is
// held, and how long to wait for it.
type lockFlags struct {
	store        *string
	sort         *string
	owner        *string
	lease        *time.Duration
	heartbeat    *time.Duration
	poll         *time.Duration
	timeout      *time.Duration
	noWait       *bool
	quiet        *bool
	conflictCode *int
}

func defineLockFlags(fs *flag.FlagSet) *lockFlags {
	return &lockFlags{
		store:     storeFlag(fs),
		sort:      fs.String("sort", "", "the lock's sort `key` (tables with a sort key)"),
		owner:     fs.String("owner", "", "owner `name` written on the lock (default HOST.PID.RANDOM)"),
		lease:     fs.Duration("lease", defaultLease, "lease `duration`: how long the lock outlives a holder that stopped heartbeating (at least 1s)"),
		heartbeat: fs.Duration("heartbeat", 0, "heartbeat `period`, at most half the lease (default lease/4)"),
		poll:      fs.Duration("poll", 0, "how often to read a held lock while waiting (default lease/10, at most 1s)"),
		timeout: fs.Duration("timeout", 0, "give up after this `duration` (start-up included) and exit 75 if the lock "+
			"is held, 69 if the store did not answer (default: wait forever)"),
		noWait: fs.Bool("no-wait", false, "exit 75 at once if the lock is held"),
		quiet:  fs.Bool("quiet", false, "print nothing while waiting"),
		conflictCode: fs.Int("conflict-exit-code", exitTempFail, "exit `code` when the lock is held (--no-wait) or "+
			"--timeout ran out while it was held, so it cannot be mistaken for the command's own"),
	}
}

// validate checks the flags and fills in the defaults that depend on the
// lease. cmd names the command for messages.
func (f *lockFlags) validate(cmd string) error {
	switch {
	case *f.lease < minLease:
		return usageErr(cmd, "--lease %v is too short: at least %v, so that a heartbeat (a round trip to the store, "+
			"retried on failure) can renew it in time", *f.lease, minLease)
	case *f.lease%time.Millisecond != 0:
		return usageErr(cmd, "--lease %v: the store keeps whole milliseconds", *f.lease)
	case *f.heartbeat < 0 || *f.poll < 0 || *f.timeout < 0:
		return usageErr(cmd, "durations must not be negative")
	case *f.heartbeat != 0 && *f.heartbeat < minHeartbeat:
		return usageErr(cmd, "--heartbeat %v is too short: at least %v", *f.heartbeat, minHeartbeat)
	case *f.heartbeat > *f.lease/2:
		return usageErr(cmd, "--heartbeat %v is above half the lease (--lease %v): one lost heartbeat would lose the lock",
			*f.heartbeat, *f.lease)
	case *f.poll != 0 && *f.poll < minPoll:
		return usageErr(cmd, "--poll %v is too short: at least %v", *f.poll, minPoll)
	case *f.noWait && *f.timeout > 0:
		return usageErr(cmd, "--no-wait and --timeout exclude each other")
	case *f.conflictCode < 1 || *f.conflictCode > 255:
		return usageErr(cmd, "--conflict-exit-code %d: want 1 to 255", *f.conflictCode)
	}
	if *f.owner != "" {
		if err := checkOwner(*f.owner); err != nil {
			return usageErr(cmd, "%v", err)
		}
	}
	if *f.heartbeat == 0 {
		*f.heartbeat = *f.lease / 4
	}
	if *f.poll == 0 {
		*f.poll = min(*f.lease/10, time.Second)
	}
	if *f.owner == "" {
		*f.owner = defaultOwner()
	}
	return nil
}

// attemptTimeout bounds one HTTP attempt of a store request while the lock
// is wanted or held: about a heartbeat period, so that a hung connection
// is dropped and retried on a new one while the lease still has time.
func (f *lockFlags) attemptTimeout() time.Duration {
	return min(max(*f.heartbeat, time.Second), attemptTimeout)
}
