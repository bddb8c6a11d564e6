package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits checked at the edge, so that a bad value is a usage error (64)
// naming the flag, never a failure deep in the engine or the store.
const (
	// minLease is the shortest lease run and hold accept. A heartbeat is a
	// DynamoDB round trip that the SDK may retry; below a second, one slow
	// answer on a busy host ends the lease, and the command is stopped
	// for nothing.
	minLease = time.Second
	// minHeartbeat and minPoll keep a run from hammering the table.
	minHeartbeat = 50 * time.Millisecond
	minPoll      = 10 * time.Millisecond
	// maxOwnerBytes bounds owner names: they appear in every listing and
	// message, and a record holds them on every write.
	maxOwnerBytes = 255
	// forceOwnerPrefix marks records released by 'release --force'; an
	// owner may not claim it, or a live holder would look force-released.
	forceOwnerPrefix = "force-release:"
)

// keyRules are the lock keys a store takes: limits checked at the edge,
// so that a key the store would refuse is a usage error naming the flag.
type keyRules struct {
	store        string // as messages name it: "DynamoDB"
	maxPartition int    // bytes
	maxSort      int    // bytes
	sortKeyName  string // sk= of the store URL: --sort is needed exactly when it is set
	sortOptional bool   // any key may have a sort key, or none, whatever the URL says
	nulRefused   string // why keys cannot hold a NUL byte; "" when they can
}

// checkKey validates a lock key (what names the lock, or its sort key)
// given as flag or argument what. Keys must fit the store's key limits
// and be UTF-8 (DynamoDB rewrites invalid bytes, and the record would no
// longer match its key). Commands that create records (run, hold) also
// refuse control characters, which no one can type back; inspecting and
// releasing accept them, so an operator can clear what an application
// wrote, except the NUL bytes a store cannot hold at all.
func (r keyRules) checkKey(what, key string, maxBytes int, creates bool) error {
	switch {
	case key == "":
		return fmt.Errorf("%s is empty", what)
	case !utf8.ValidString(key):
		return fmt.Errorf("%s %s is not valid UTF-8", what, shown(key, msgWidth))
	case len(key) > maxBytes:
		return fmt.Errorf("%s %s is %d bytes long; %s allows at most %d", what, shown(key, msgWidth), len(key), r.store, maxBytes)
	case r.nulRefused != "" && strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%s %s contains a NUL byte: %s", what, shown(key, msgWidth), r.nulRefused)
	case creates && hasControl(key):
		return fmt.Errorf("%s %s contains control characters (tab, newline...)", what, shown(key, msgWidth))
	}
	return nil
}

// checkKeys validates a partition key and the --sort value against the
// store URL: a sort key is needed exactly when the URL has sk=, unless
// the store takes sort keys on any key.
func checkKeys(spec storeSpec, key, sort string, creates bool) error {
	r := spec.keyRules()
	if err := r.checkKey("KEY", key, r.maxPartition, creates); err != nil {
		return err
	}
	switch sk := r.sortKeyName; {
	case r.sortOptional && sort == "":
	case r.sortOptional:
		return r.checkKey("--sort", sort, r.maxSort, creates)
	case sk == "" && sort != "":
		return fmt.Errorf("--sort %s needs a table with a sort key: add sk=NAME to the store URL", shown(sort, msgWidth))
	case sk != "" && sort == "":
		return fmt.Errorf("the store URL names a sort key (sk=%s): pass --sort SORTKEY", sk)
	case sort != "":
		return r.checkKey("--sort", sort, r.maxSort, creates)
	}
	return nil
}

// checkOwner validates an --owner name.
func checkOwner(owner string) error {
	switch {
	case !utf8.ValidString(owner):
		return fmt.Errorf("--owner %s is not valid UTF-8", shown(owner, msgWidth))
	case len(owner) > maxOwnerBytes:
		return fmt.Errorf("--owner is %d bytes long; at most %d", len(owner), maxOwnerBytes)
	case hasControl(owner):
		return fmt.Errorf("--owner %s contains control characters (tab, newline...)", shown(owner, msgWidth))
	case strings.HasPrefix(owner, forceOwnerPrefix):
		return fmt.Errorf("--owner %s: the %q prefix marks force-released records", shown(owner, msgWidth), forceOwnerPrefix)
	case strings.TrimSpace(owner) == "":
		return fmt.Errorf("--owner is blank")
	}
	return nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// Widths for shown: a name in a message, and in a column of ls.
const (
	msgWidth    = 80
	columnWidth = 48
)

// shown renders a name that came from a user or a record for a message or
// a column: quoted when it holds control characters or invalid UTF-8 (so
// it can neither break a line nor a table), and cut to max runes, noting
// the full length, so a 10 KB key makes neither a 10 KB line nor a
// 10,000-column table.
func shown(s string, max int) string {
	if hasControl(s) || !utf8.ValidString(s) {
		q := strconv.Quote(s)
		if utf8.RuneCountInString(q) <= max {
			return q
		}
		return cut(q, max) + fmt.Sprintf("…\" (%d bytes)", len(s))
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return cut(s, max) + fmt.Sprintf("… (%d bytes)", len(s))
}

// cut returns the first n runes of s.
func cut(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// maxMessageBytes bounds one printed error: errors from the SDK or the
// store may quote a key or an item in full.
const maxMessageBytes = 2000

// clipMessage cuts an error message that would flood the terminal.
func clipMessage(msg string) string {
	if len(msg) <= maxMessageBytes {
		return msg
	}
	return cut(msg, maxMessageBytes/2) + fmt.Sprintf("… (message cut: %d bytes)", len(msg))
}
