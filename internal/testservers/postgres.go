package testservers

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/leaselock/leaselock/internal/testservers/pgcluster"
)

// sharedPG is this test binary's PostgreSQL cluster, started on first use.
var sharedPG struct {
	once    sync.Once
	cluster *pgcluster.Cluster
	err     error
}

// Postgres returns the private PostgreSQL cluster shared by this test
// binary (see package pgcluster), starting it on first use; Main and
// StopAll stop it. Its superuser has a random password that connections
// over TCP must give, so tests can check what a wrong one does and that
// it never shows. Tests isolate themselves by table, as on the DynamoDB
// servers.
//
// Without PostgreSQL the test is skipped, or failed when
// LEASELOCK_REQUIRE_SERVERS=1.
func Postgres(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	sharedPG.once.Do(func() {
		sharedPG.cluster, sharedPG.err = pgcluster.Start(pgcluster.Options{Password: "pw-" + rand.Text()})
	})
	switch err := sharedPG.err; {
	case errors.Is(err, pgcluster.ErrNotInstalled):
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is set: %v", RequireEnv, err)
		}
		t.Skip(err)
	case err != nil:
		t.Fatalf("start PostgreSQL: %v", err)
	}
	return sharedPG.cluster
}

// stopPostgres stops the shared cluster if one was started.
func stopPostgres() error {
	sharedPG.once.Do(func() { sharedPG.err = errors.New("testservers: PostgreSQL stopped before use") })
	if sharedPG.cluster == nil {
		return nil
	}
	if err := sharedPG.cluster.Stop(); err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	return nil
}
