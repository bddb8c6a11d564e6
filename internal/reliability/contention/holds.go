package contention

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Keys returns n key names.
func Keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

// UniformHold returns holds mostly shorter than short, and a fraction
// longFrac as long as long (crossing several heartbeats).
func UniformHold(short, long time.Duration, longFrac float64) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration {
		if r.Float64() < longFrac {
			return short + time.Duration(r.Int64N(int64(long-short)+1))
		}
		return time.Duration(r.Int64N(int64(short) + 1))
	}
}
