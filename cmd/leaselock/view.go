package main

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// lockView is one lock record as ls and get show it.
type lockView struct {
	Key        string     `json:"key"`
	Sort       string     `json:"sort,omitempty"`
	State      string     `json:"state"` // free, held, released, or (--watch) expired
	Owner      string     `json:"owner,omitempty"`
	Token      uint64     `json:"token,omitempty"` // absent: the record has no fencing token
	Lease      string     `json:"lease,omitempty"`
	LeaseMilli int64      `json:"leaseMillis,omitempty"`
	Version    string     `json:"version,omitempty"`
	WrittenAt  *time.Time `json:"writtenAt,omitempty"` // by the writer's clock
	// AgeMilli is how long before the read WrittenAt was, by this host's
	// clock (negative when the writer's clock is ahead).
	AgeMilli *int64 `json:"ageMillis,omitempty"`
	// WatchedMilli (--watch): how long this host saw the version unchanged.
	WatchedMilli int64             `json:"watchedMillis,omitempty"`
	Data         []byte            `json:"data,omitempty"` // base64 in JSON
	Attributes   map[string]string `json:"attributes,omitempty"`

	leaseDur time.Duration // LeaseMilli as a duration
	readAt   time.Time     // when the read that returned it ended, by this host's clock
}

func viewOf(rec backend.Record) lockView {
	v := lockView{Key: rec.Key.Partition, Sort: rec.Key.Sort, State: "held", Owner: rec.Owner, Token: rec.Token,
		Lease: rec.LeaseDuration.String(), LeaseMilli: rec.LeaseDuration.Milliseconds(), Version: rec.Version,
		Data: rec.Data, leaseDur: rec.LeaseDuration, readAt: time.Now()}
	if rec.Released {
		v.State = "released"
	}
	if t, ok := writtenAt(rec); ok {
		v.WrittenAt = &t
		age := v.readAt.Sub(t).Milliseconds()
		v.AgeMilli = &age
	}
	for k, val := range rec.Attributes {
		if k == writtenAtAttribute {
			continue
		}
		if v.Attributes == nil {
			v.Attributes = map[string]string{}
		}
		v.Attributes[k] = val
	}
	return v
}

func sortViews(vs []lockView) {
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Key != vs[j].Key {
			return vs[i].Key < vs[j].Key
		}
		return vs[i].Sort < vs[j].Sort
	})
}

// age renders how long ago t was, by this machine's clock.
func age(t time.Time, now time.Time) string {
	d := now.Sub(t).Round(100 * time.Millisecond)
	if d < 0 {
		return fmt.Sprintf("%v in the future (clocks differ)", -d)
	}
	return fmt.Sprintf("%v ago", d)
}

// shortAge is age for a column: "4.2s ago", "0.3s ahead" (the writer's
// clock is ahead of ours), "-" when the record carries no stamp.
func shortAge(v lockView) string {
	if v.AgeMilli == nil {
		return "-"
	}
	d := (time.Duration(*v.AgeMilli) * time.Millisecond).Round(100 * time.Millisecond)
	if d < 0 {
		return fmt.Sprintf("%v ahead", -d)
	}
	return fmt.Sprintf("%v ago", d)
}

// tokenText shows a record's fencing token. Records written only by
// clients without fencing tokens (the Java lock client) carry none: that
// is shown as such, not as a token 0 that no acquisition ever had.
func tokenText(v lockView) string {
	if v.Token == 0 {
		return "no token"
	}
	return strconv.FormatUint(v.Token, 10)
}

// tokenPhrase is tokenText for a sentence: "token 7", or "no token".
func tokenPhrase(token uint64) string {
	if token == 0 {
		return "no token"
	}
	return "token " + strconv.FormatUint(token, 10)
}
