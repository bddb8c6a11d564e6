package reliability

import (
	"flag"
	"os"
	"testing"

	"github.com/leaselock/leaselock/internal/testservers"
)

var longFlag = flag.Bool("long", false, "run the long variants (or set LEASELOCK_LONG=1)")

// long reports whether the long variants were asked for. go test ./... passes
// flags to every package, so the environment variable is the way to ask for
// them across the module.
func long() bool { return *longFlag || os.Getenv("LEASELOCK_LONG") == "1" }

// pick returns short in the default run and long in the long one.
func pick[T any](short, long_ T) T {
	if long() {
		return long_
	}
	return short
}

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as a lock-holding child.
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	testservers.Main(m)
}
