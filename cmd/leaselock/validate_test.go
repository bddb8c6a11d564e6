package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/internal/testservers"
)

// TestBadInputs: what the issue found accepted, or failing late with the
// wrong code, is refused at the edge with the usage code and a message
// that names the flag or URL parameter.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	const st = "dynamodb://tbl"
	run := func(extra ...string) []string {
		return append(append([]string{"run", "--store", st}, extra...), "k", "--", "true")
	}
	long := strings.Repeat("k", 10*1024)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{run("--lease", "1ms"), "--lease 1ms is too short: at least 1s"},
		{run("--lease", "10ms"), "--lease 10ms is too short"},
		{run("--lease", "1500us"), "too short"},
		{run("--lease", "2s", "--heartbeat", "10ms"), "--heartbeat 10ms is too short"},
		{run("--poll", "1ms"), "--poll 1ms is too short"},
		{run("--lease", "2s", "--heartbeat", "500ms", "--grace", "1400ms"), "--grace 1.4s is too long for --lease 2s"},
		{run("--conflict-exit-code", "0"), "--conflict-exit-code 0: want 1 to 255"},
		{run("--conflict-exit-code", "256"), "want 1 to 255"},
		{run("--owner", "tab\there"), "contains control characters"},
		{run("--owner", "line\nbreak"), "contains control characters"},
		{run("--owner", "force-release:me@host"), `the "force-release:" prefix marks force-released records`},
		{run("--owner", strings.Repeat("o", 300)), "--owner is 300 bytes long; at most 255"},
		{run("--sort", "s1"), "--sort s1 needs a table with a sort key: add sk=NAME"},
		{[]string{"run", "--store", st, "--", "echo", "hi"}, "missing KEY before --"},
		{[]string{"run", "--store", st, "a\tb", "--", "true"}, "KEY \"a\\tb\" contains control characters"},
		{[]string{"run", "--store", st + "?sk=part", "k", "--", "true"}, "the store URL names a sort key (sk=part): pass --sort"},
		{[]string{"hold", "--store", st, "--lease", "10ms", "k"}, "--lease 10ms is too short"},
		{[]string{"get", "--store", st, long}, "is 10240 bytes long; DynamoDB allows at most 2048"},
		{[]string{"get", "--store", st + "?sk=s", "--sort", long, "k"}, "is 10240 bytes long; DynamoDB allows at most 1024"},
		{[]string{"ls", "--store", st + "?sk="}, "sk= is empty"},
		{[]string{"ls", "--store", st + "?ttl="}, "ttl= is empty"},
		{[]string{"ls", "--store", st + "?region="}, "region= is empty"},
		{[]string{"ls", "--store", st + "?region=EU_WEST_1"}, "region=EU_WEST_1 is not an AWS region name"},
		{[]string{"ls", "--store", st + "?pk=ownerName"}, "pk=ownerName is an attribute of the lock record itself"},
		{[]string{"ls", "--store", st + "?pk=a&sk=a"}, "sk=a names the same attribute as pk="},
		{[]string{"ls", "--store", st + "?sk=key"}, "sk=key names the same attribute as pk="},
		{[]string{"ls", "--store", "dynamodb://x"}, "the table name"},
		{[]string{"ls", "--store", st, "--timeout", "0s"}, "--timeout must be positive"},
	} {
		r := cli(t, nil, tc.args...)
		if r.code != exitUsage {
			t.Errorf("%q: want exit %d, got %v", tc.args, exitUsage, r)
			continue
		}
		requireContains(t, r.stderr, tc.want)
		for _, line := range strings.Split(r.stderr, "\n") {
			if len(line) > 600 {
				t.Errorf("%q: a %d-byte line:\n%.200s...", tc.args, len(line), line)
			}
		}
	}
}

// TestMessages checks the messages the issue found wrong or misleading,
// against a test server.
func TestMessages(t *testing.T) {
	t.Parallel()
	srv := testservers.Get(t, testservers.Dynalite)
	missing := "dynamodb://" + testservers.TableName(t) + "?endpoint=" + srv.Endpoint

	t.Run("missing table names region and endpoint", func(t *testing.T) {
		t.Parallel()
		r := cli(t, nil, "get", "--store", missing+"&region=eu-west-3", "k")
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "in region eu-west-3 at "+srv.Endpoint+": table not found",
			"region= (or AWS_REGION)", "only if it exists nowhere yet", "wrong region")
	})
	t.Run("CA bundle not blamed for an unknown profile", func(t *testing.T) {
		t.Parallel()
		bundle := writeCABundle(t)
		r := runProcess(t, []string{"AWS_CA_BUNDLE=" + bundle}, "ls", "--store", missing+"&profile=nosuchprofile")
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, `There is no profile "nosuchprofile"`, "profile= in the store URL")
		if strings.Contains(r.stderr, "AWS_CA_BUNDLE") {
			t.Errorf("blames AWS_CA_BUNDLE:\n%s", r.stderr)
		}
		// A usable bundle does not stop a good configuration either.
		requireCode(t, runProcess(t, []string{"AWS_CA_BUNDLE=" + bundle}, "ls", "--store", missing), exitConfig)
	})
	t.Run("CA bundle without certificates", func(t *testing.T) {
		t.Parallel()
		bad := filepath.Join(t.TempDir(), "empty.pem")
		if err := os.WriteFile(bad, []byte("not a certificate\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runProcess(t, []string{"AWS_CA_BUNDLE=" + bad}, "ls", "--store", missing)
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "which holds no PEM certificate", "unset AWS_CA_BUNDLE")
	})
	t.Run("invalid region from the environment", func(t *testing.T) {
		t.Parallel()
		r := runProcess(t, []string{"AWS_REGION=Not A Region"}, "ls", "--store", missing)
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, `the AWS region "Not A Region" (from AWS_REGION or the profile) is not a region name`)
	})
	t.Run("no such host is configuration", func(t *testing.T) {
		t.Parallel()
		if _, err := net.LookupHost("leaselock-test.invalid"); err == nil || !strings.Contains(err.Error(), "no such host") {
			t.Skipf("this host's resolver does not answer NXDOMAIN for .invalid: %v", err)
		}
		r := cli(t, nil, "ls", "--store", "dynamodb://locks?endpoint=http://leaselock-test.invalid:8000")
		requireCode(t, r, exitConfig)
		requireContains(t, r.stderr, "no such host", "check endpoint= and region=")
	})
	t.Run("long keys are cut in messages and columns", func(t *testing.T) {
		t.Parallel()
		te := newTable(t, testservers.Dynalite, "")
		key := strings.Repeat("x", 2000)
		alice := te.holder(t, "alice", nil, time.Minute, 15*time.Second)
		if _, err := alice.Acquire(testCtx(t), key); err != nil {
			t.Fatal(err)
		}
		r := mustCLI(t, "ls", "--store", te.url)
		for _, line := range strings.Split(r.stdout, "\n") {
			if len(line) > 250 {
				t.Errorf("ls line of %d bytes:\n%.300s", len(line), line)
			}
		}
		requireContains(t, r.stdout, "… (2000 bytes)")
		r = cli(t, nil, "run", "--store", te.url, "--no-wait", key, "--", "true")
		requireCode(t, r, exitTempFail)
		if len(r.stderr) > 300 {
			t.Errorf("a %d-byte message:\n%s", len(r.stderr), r.stderr)
		}
		requireContains(t, r.stderr, "… (2000 bytes) is held by alice")
	})
}

// writeCABundle writes a PEM file with one self-signed certificate.
func writeCABundle(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leaselock test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestJavaRecord: a record the Java lock client wrote carries no fencing
// token, and is shown as such, not as token 0.
func TestJavaRecord(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The item AmazonDynamoDBLockClient 1.4.0 writes on acquire.
	_, err := te.srv.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(te.table), Item: map[string]types.AttributeValue{
		"key":                 &types.AttributeValueMemberS{Value: "java-lock"},
		"ownerName":           &types.AttributeValueMemberS{Value: "java-host-1"},
		"leaseDuration":       &types.AttributeValueMemberS{Value: "20000"},
		"recordVersionNumber": &types.AttributeValueMemberS{Value: "5b7f2c4e-0b7a-4c1e-9d55-3f0e1c2a9b10"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := mustCLI(t, "get", "--store", te.url, "java-lock")
	requireContains(t, r.stdout, "owner      java-host-1", "token      no token",
		"written    unknown (written by a client that does not stamp its writes)")
	r = mustCLI(t, "ls", "--store", te.url)
	requireRow(t, r.stdout, "java-lock java-host-1 no token held 20s - 5b7f2c4e-0b7a-4c1e-9d55-3f0e1c2a9b10")
	r = mustCLI(t, "release", "--force", "--yes", "--store", te.url, "java-lock")
	requireContains(t, r.stdout, "token      no token",
		"released java-lock (was held by java-host-1 with no token (written by a client without fencing tokens)); the next acquirer gets token 1")
	r = cli(t, nil, append([]string{"run", "--store", te.url, "java-lock", "--"}, childCommand("env")...)...)
	requireCode(t, r, 0)
	requireContains(t, r.stdout, "LEASELOCK_TOKEN=1\n")
}
