package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/leaselock/leaselock/internal/testservers"
)

// TestDemo runs the demo in-process and checks that its output shows what
// it promises: waits, heartbeats, releases, the takeover after the freeze
// with a higher token, the loss report, and the refused stale writes.
func TestDemo(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(testservers.Context(t), []string{"demo"}, strings.NewReader(""), &stdout, &stderr)
	out := stdout.String()
	if code != exitOK {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	for _, want := range []string{
		"waits for orders (held by",
		"heartbeat on orders",
		"releases orders",
		"carol  FREEZES",
		"carol  is told she LOST orders: expired",
		"alice  acquires orders with fencing token 5 (TAKEOVER: carol's record stayed unchanged",
		"carol  writes to the orders resource with token 4: REFUSED",
		"carol  guarded write (lk.WriteGuarded) with token 4: REFUSED (errors.Is(err, lock.ErrLockLost))",
		"the store's own guard check (owner carol, token 4): REFUSED",
		"5 alice (took over from carol)",
		"1 stale write(s) refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
	if stderr.Len() != 0 {
		t.Errorf("demo wrote to stderr: %s", stderr.String())
	}
}

func TestDemoBadFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(testservers.Context(t), []string{"demo", "--heartbeat", "900ms"}, nil, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "at most half") {
		t.Fatalf("code %d, stderr %q", code, stderr.String())
	}
}
