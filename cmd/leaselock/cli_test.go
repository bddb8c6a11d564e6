package main

import (
	"strings"
	"testing"
	"time"

	"github.com/leaselock/leaselock/internal/testservers"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	r := cli(t, nil, "--help")
	requireCode(t, r, exitOK)
	for _, c := range commands() {
		requireContains(t, r.stdout, "  "+c.name+" ")
	}
	requireContains(t, r.stdout, "LEASELOCK_STORE", "dynamodb://TABLE")

	for _, args := range [][]string{
		{"demo", "--help"}, {"table", "--help"}, {"table", "create", "--help"}, {"table", "describe", "-h"},
		{"ls", "--help"}, {"get", "--help"}, {"release", "--help"}, {"run", "--help"}, {"help", "run"},
		{"hold", "--help"}, {"completion", "--help"}, {"version", "--help"},
	} {
		r := cli(t, nil, args...)
		requireCode(t, r, exitOK)
		requireContains(t, r.stdout, "Usage: leaselock", "Exit codes")
		if r.stderr != "" {
			t.Errorf("%v wrote to stderr: %s", args, r.stderr)
		}
	}
	r = cli(t, nil, "run", "--help")
	requireContains(t, r.stdout, "--timeout", "--lease", "--heartbeat", "--owner", "--grace", "--conflict-exit-code",
		"LEASELOCK_TOKEN", "75", "76", "64", "69", "78", "process tree", "SIGKILL")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: leaselock COMMAND"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"ls", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"ls", "--store", "mysql://x"}, "the scheme must be dynamodb:// or postgres://"},
		{[]string{"ls", "--store", "dynamodb://"}, "no table name"},
		{[]string{"ls", "--store", "dynamodb://t1?regoin=x"}, `unknown parameter "regoin"`},
		{[]string{"ls", "--store", "dynamodb://t1?endpoint=localhost:8000"}, "is not an http:// or https:// URL"},
		{[]string{"ls", "--store", "dynamodb://a"}, "is not a DynamoDB table name"},
		{[]string{"ls"}, "no store: pass --store"},
		{[]string{"get", "--store", "dynamodb://tbl"}, "want exactly one KEY"},
		{[]string{"release", "--store", "dynamodb://tbl", "k"}, "without --force"},
		{[]string{"run", "--store", "dynamodb://tbl", "k"}, "missing COMMAND"},
		{[]string{"run", "--store", "dynamodb://tbl", "--lease", "1s", "--heartbeat", "900ms", "k", "--", "true"}, "above half the lease"},
		{[]string{"run", "--lease", "soon", "k", "--", "true"}, "invalid value"},
		{[]string{"table"}, "missing subcommand"},
		{[]string{"table", "drop"}, `unknown subcommand "drop"`},
		{[]string{"table", "create", "--store", "dynamodb://tbl", "--billing", "provisioned"}, "positive --read and --write"},
		{[]string{"table", "create", "--store", "dynamodb://tbl?sk=a", "--sort-key", "b"}, "contradicts sk=a"},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
	} {
		r := cli(t, nil, tc.args...)
		if r.code != exitUsage {
			t.Errorf("%v: want exit %d, got %v", tc.args, exitUsage, r)
			continue
		}
		requireContains(t, r.stderr, tc.want)
	}
}

// TestStoreErrors checks the errors an operator meets first: a missing
// table, an unreachable endpoint, a broken AWS set-up.
func TestStoreErrors(t *testing.T) {
	t.Parallel()
	srv := testservers.Get(t, testservers.Dynalite)
	missing := "dynamodb://" + testservers.TableName(t) + "?endpoint=" + srv.Endpoint

	t.Run("missing table", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"ls", "--store", missing}, {"get", "--store", missing, "k"},
			{"release", "--force", "--yes", "--store", missing, "k"},
			{"run", "--store", missing, "k", "--", "true"}, {"table", "describe", "--store", missing},
		} {
			r := cli(t, nil, args...)
			requireCode(t, r, exitConfig)
			requireContains(t, r.stderr, "table not found", "leaselock table create")
		}
	})
	t.Run("schema mismatch", func(t *testing.T) {
		t.Parallel()
		te := newTable(t, testservers.Dynalite, "")
		r := cli(t, nil, "ls", "--store", te.url+"&sk=s")
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, `the table has no sort key, the store URL names "s" (remove sk=)`, "pk= and sk=")
	})
	t.Run("unreachable endpoint", func(t *testing.T) {
		t.Parallel()
		url := "dynamodb://locks?endpoint=http://" + closedPort(t)
		r := cli(t, nil, "ls", "--store", url)
		requireCode(t, r, exitUnavailable)
		requireContains(t, r.stderr, "connection refused", "Cannot reach DynamoDB")
		// run retries until --timeout, start-up included.
		start := time.Now()
		r = cli(t, nil, "run", "--store", url, "--timeout", "2s", "k", "--", "true")
		requireCode(t, r, exitUnavailable)
		requireContains(t, r.stderr, "cannot reach the store (dial tcp", "connection refused); retrying",
			"timed out after 2s waiting for k: the store is unreachable")
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("run gave up after %v, before its --timeout", d)
		}
		// --no-wait does not retry.
		r = cli(t, nil, "run", "--store", url, "--no-wait", "k", "--", "true")
		requireCode(t, r, exitUnavailable)
	})
	t.Run("store from environment", func(t *testing.T) {
		t.Parallel()
		te := newTable(t, testservers.Dynalite, "")
		r := runProcess(t, []string{storeEnv + "=" + te.url}, "ls")
		requireCode(t, r, exitOK)
		requireContains(t, r.stderr, "no locks")
	})
	t.Run("bad CA bundle", func(t *testing.T) {
		t.Parallel()
		r := runProcess(t, []string{"AWS_CA_BUNDLE=/nonexistent/ca.pem"}, "ls", "--store", missing)
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "loading the AWS configuration", `AWS_CA_BUNDLE is set to "/nonexistent/ca.pem"`, "unset AWS_CA_BUNDLE")
	})
	t.Run("no region", func(t *testing.T) {
		t.Parallel()
		r := runProcess(t, []string{"AWS_REGION="}, "ls", "--store", missing)
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "no AWS region", "?region=")
	})
	t.Run("region from URL", func(t *testing.T) {
		t.Parallel()
		r := runProcess(t, []string{"AWS_REGION="}, "ls", "--store", missing+"&region=eu-west-1")
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "table not found")
	})
	t.Run("no credentials", func(t *testing.T) {
		t.Parallel()
		r := runProcess(t, []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="}, "ls", "--store", missing)
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "no AWS credentials", "AWS_ACCESS_KEY_ID")
	})
	t.Run("unknown profile", func(t *testing.T) {
		t.Parallel()
		r := runProcess(t, nil, "ls", "--store", missing+"&profile=nosuchprofile")
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "nosuchprofile")
	})
}

func TestParseStoreURL(t *testing.T) {
	t.Parallel()
	spec, err := parseDynamoURL("dynamodb://my-locks.v2?region=eu-west-1&endpoint=http://127.0.0.1:8000&pk=name&sk=part&ttl=exp&profile=ops")
	if err != nil {
		t.Fatal(err)
	}
	want := dynamoSpec{table: "my-locks.v2", region: "eu-west-1", endpoint: "http://127.0.0.1:8000", profile: "ops"}
	if spec.table != want.table || spec.region != want.region || spec.endpoint != want.endpoint || spec.profile != want.profile ||
		spec.opts.PartitionKeyName != "name" || spec.opts.SortKeyName != "part" || spec.opts.TTLAttribute != "exp" {
		t.Fatalf("got %+v", spec)
	}
	if got := canonicalURL(spec); got != "dynamodb://my-locks.v2?region=eu-west-1&endpoint=http://127.0.0.1:8000&profile=ops&pk=name&sk=part&ttl=exp" {
		t.Errorf("canonical URL %s", got)
	}
	if _, err := parseDynamoURL("dynamodb://t1?region=a&region=b"); err == nil || !strings.Contains(err.Error(), "given 2 times") {
		t.Errorf("duplicate parameter: %v", err)
	}
	if spec, err := parseDynamoURL("dynamodb:///Upper_Case"); err != nil || spec.table != "Upper_Case" {
		t.Errorf("path form: %+v %v", spec, err)
	}
}

func TestParseInterspersedFlags(t *testing.T) {
	t.Parallel()
	e := &env{}
	for _, tc := range []struct {
		args       []string
		stopAt     int
		pos, rest  string
		owner      string
		quietValue bool
	}{
		{[]string{"k", "--owner", "me"}, 0, "k", "", "me", false},
		{[]string{"--owner", "me", "k", "--", "--quiet"}, 0, "k --quiet", "", "me", false},
		{[]string{"k", "--quiet", "--", "cmd", "--owner", "x"}, 1, "k", "cmd --owner x", "", true},
		{[]string{"--quiet", "k", "cmd", "-x"}, 1, "k", "cmd -x", "", true},
		{[]string{"--", "k", "cmd"}, 1, "k", "cmd", "", false},
	} {
		fs := newFlags("t")
		owner := fs.String("owner", "", "")
		quiet := fs.Bool("quiet", false, "")
		pos, rest, err := parse(e, fs, "", tc.args, tc.stopAt)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if strings.Join(pos, " ") != tc.pos || strings.Join(rest, " ") != tc.rest || *owner != tc.owner || *quiet != tc.quietValue {
			t.Errorf("%v: pos %q rest %q owner %q quiet %v", tc.args, pos, rest, *owner, *quiet)
		}
	}
}
