package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
)

// storeEnv names the environment variable that supplies --store.
const storeEnv = "LEASELOCK_STORE"

const storeURLHelp = `dynamodb://TABLE?region=REGION&endpoint=URL&format=java|python&pk=key&sk=SORTKEY&ttl=ATTR&profile=NAME`

// storeSpec is a parsed store URL.
type storeSpec struct {
	raw      string
	table    string
	region   string
	endpoint string
	profile  string
	opts     dynamostore.Options
}

// storeFlag adds --store to fs; resolve it with openStore.
func storeFlag(fs *flag.FlagSet) *string {
	return fs.String("store", "", "store `URL`: "+storeURLHelp+" (default $"+storeEnv+")")
}

// parseStoreURL parses dynamodb://TABLE?query. Unknown query parameters
// are errors, so a typo never silently selects the wrong layout.
func parseStoreURL(raw string) (storeSpec, error) {
	spec := storeSpec{raw: raw}
	u, err := url.Parse(raw)
	if err != nil {
		return spec, fmt.Errorf("bad store URL %q: %v", raw, err)
	}
	if u.Scheme != "dynamodb" {
		return spec, fmt.Errorf("bad store URL %q: the scheme must be dynamodb:// (%s)", raw, storeURLHelp)
	}
	spec.table = u.Host
	if spec.table == "" {
		spec.table = strings.TrimPrefix(u.Path, "/")
	} else if u.Path != "" && u.Path != "/" {
		return spec, fmt.Errorf("bad store URL %q: unexpected path %q after the table name", raw, u.Path)
	}
	if u.Opaque != "" {
		spec.table = u.Opaque
	}
	if spec.table == "" {
		return spec, fmt.Errorf("bad store URL %q: no table name (%s)", raw, storeURLHelp)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return spec, fmt.Errorf("bad store URL %q: %v", raw, err)
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return spec, fmt.Errorf("bad store URL %q: %s given %d times", raw, name, len(vals))
		}
		v := vals[0]
		switch name {
		case "region":
			spec.region = v
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return spec, fmt.Errorf("bad store URL %q: endpoint %q is not an http:// or https:// URL", raw, v)
			}
			spec.endpoint = v
		case "profile":
			spec.profile = v
		case "pk":
			spec.opts.PartitionKeyName = v
		case "sk":
			spec.opts.SortKeyName = v
		case "ttl":
			spec.opts.TTLAttribute = v
		case "format":
			f, err := dynamostore.ParseFormat(v)
			if err != nil {
				return spec, fmt.Errorf("bad store URL %q: format %q: java (the default) or python", raw, v)
			}
			spec.opts.Format = f
		default:
			known := []string{"region", "endpoint", "profile", "format", "pk", "sk", "ttl"}
			sort.Strings(known)
			return spec, fmt.Errorf("bad store URL %q: unknown parameter %q (known: %s)", raw, name, strings.Join(known, ", "))
		}
	}
	return spec, nil
}

// store is an opened DynamoDB store with its client.
type store struct {
	spec   storeSpec
	client *dynamodb.Client
	*dynamostore.Store
}

// openStore resolves the store URL (flag, else $LEASELOCK_STORE), loads the
// AWS configuration and makes sure credentials can be had. It sends no
// request to DynamoDB.
func openStore(ctx context.Context, e *env, cmd, flagValue string) (*store, error) {
	raw := flagValue
	if raw == "" {
		raw = e.getenv(storeEnv)
	}
	if raw == "" {
		return nil, usageErr(cmd, "no store: pass --store %s or set %s", storeURLHelp, storeEnv)
	}
	spec, err := parseStoreURL(raw)
	if err != nil {
		return nil, usageErr(cmd, "%v", err)
	}
	// The SDK's own log lines (IMDS fallbacks and the like) would only
	// precede our error messages, which say what to do.
	loadOpts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	if spec.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(spec.region))
	}
	if spec.profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(spec.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		hint := "Check AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE and the profile= parameter."
		if b := e.getenv("AWS_CA_BUNDLE"); b != "" {
			hint = fmt.Sprintf("AWS_CA_BUNDLE is set to %q and the AWS SDK could not use it: "+
				"unset AWS_CA_BUNDLE, or point it at a readable PEM certificate bundle.", b)
		}
		return nil, fail(exitConfig, fmt.Errorf("loading the AWS configuration: %w", err), hint)
	}
	if cfg.Region == "" {
		return nil, fail(exitConfig, errors.New("no AWS region configured"),
			"Add ?region=REGION to the store URL, or set AWS_REGION.")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		hint := "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or profile= in the store URL)."
		if spec.endpoint != "" {
			hint += " A local emulator accepts any non-empty values."
		}
		return nil, fail(exitConfig, fmt.Errorf("no AWS credentials: %w", err), hint)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if spec.endpoint != "" {
			o.BaseEndpoint = aws.String(spec.endpoint)
		}
	}, dynamostore.Retries(3, 500*time.Millisecond))
	st, err := dynamostore.New(client, spec.table, &spec.opts)
	if err != nil {
		return nil, usageErr(cmd, "store URL %q: %v", raw, err)
	}
	return &store{spec: spec, client: client, Store: st}, nil
}

// check makes sure the table exists with the key schema the URL describes.
// A principal allowed to use the table but not to describe it passes.
func (s *store) check(ctx context.Context) error {
	err := s.AssertTable(ctx)
	if err != nil && isAccessDenied(err) {
		return nil
	}
	return err
}

// where names the store in messages.
func (s *store) where() string {
	w := fmt.Sprintf("table %q", s.spec.table)
	if s.spec.endpoint != "" {
		w += " at " + s.spec.endpoint
	}
	return w
}

func isAccessDenied(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException"
}

// authCodes are DynamoDB's answers to bad or insufficient credentials.
var authCodes = map[string]bool{
	"AccessDeniedException":       true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"ExpiredTokenException":       true,
	"MissingAuthenticationToken":  true,
	"IncompleteSignature":         true,
}

// classify picks the exit code and hint for an error a command returned.
func classify(err error) *exitError {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	var apiErr smithy.APIError
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, dynamostore.ErrTableNotFound):
		return &exitError{exitConfig, err, "Create the table with 'leaselock table create --store URL', or fix the table name in the store URL."}
	case errors.Is(err, dynamostore.ErrSchemaMismatch):
		return &exitError{exitConfig, err, "Make pk= and sk= in the store URL name the table's partition and sort keys."}
	case errors.Is(err, dynamostore.ErrUnsupported):
		return &exitError{exitConfig, err, "This server lacks an operation leaselock needs."}
	case errors.As(err, &apiErr) && authCodes[apiErr.ErrorCode()]:
		return &exitError{exitConfig, err, "Check the AWS credentials and their permissions on the table."}
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		return &exitError{exitUnavailable, err, "Cannot reach DynamoDB: check endpoint= and region= in the store URL, and the network."}
	case errors.Is(err, backend.ErrInvalid):
		return &exitError{exitUsage, err, ""}
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrAmbiguous),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		return &exitError{exitUnavailable, err, "The store is unreachable or failing; try again later."}
	}
	return &exitError{exitSoftware, err, ""}
}
