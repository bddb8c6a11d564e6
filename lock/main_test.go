package lock_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: Close stops the scheduler,
// the workers and the callbacks.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
