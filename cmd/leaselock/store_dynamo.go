package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/leaselock/leaselock/dynamostore"
)

// dynamoURLHelp spells a DynamoDB store URL.
const dynamoURLHelp = `dynamodb://TABLE?region=REGION&endpoint=URL&format=java|python&pk=key&sk=SORTKEY&ttl=ATTR&profile=NAME`

// dynamoSpec is a parsed dynamodb:// store URL.
type dynamoSpec struct {
	raw      string
	table    string
	region   string
	endpoint string
	profile  string
	opts     dynamostore.Options
}

// dynamoParams are the store URL's parameters, in the order help lists them.
var dynamoParams = []string{"region", "endpoint", "format", "pk", "sk", "ttl", "profile"}

// parseDynamoURL parses dynamodb://TABLE?query. Unknown, repeated and empty
// parameters are errors, so a typo never silently selects another layout
// (an empty sk= would otherwise mean "no sort key").
func parseDynamoURL(raw string) (dynamoSpec, error) {
	spec := dynamoSpec{raw: raw}
	bad := func(format string, args ...any) (dynamoSpec, error) {
		return spec, fmt.Errorf("bad store URL %s: %s", shown(raw, msgWidth), fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return bad("%v", err)
	}
	if u.Scheme != "dynamodb" {
		return bad("the scheme must be dynamodb:// (%s)", dynamoURLHelp)
	}
	spec.table = u.Host
	if spec.table == "" {
		spec.table = strings.TrimPrefix(u.Path, "/")
	} else if u.Path != "" && u.Path != "/" {
		return bad("unexpected path %q after the table name", u.Path)
	}
	if u.Opaque != "" {
		spec.table = u.Opaque
	}
	if spec.table == "" {
		return bad("no table name (%s)", dynamoURLHelp)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("%v", err)
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return bad("%s= given %d times", name, len(vals))
		}
		v := vals[0]
		if v == "" && knownParam(name) {
			return bad("%s= is empty: give a value or leave the parameter out", name)
		}
		switch name {
		case "region":
			if !validRegion(v) {
				return bad("region=%s is not an AWS region name (like eu-west-1)", shown(v, msgWidth))
			}
			spec.region = v
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return bad("endpoint=%s is not an http:// or https:// URL", shown(v, msgWidth))
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
			known := append([]string(nil), dynamoParams...)
			sort.Strings(known)
			return bad("unknown parameter %q (known: %s)", name, strings.Join(known, ", "))
		}
	}
	// The attribute names: checked here so the message names the URL
	// parameter the user typed.
	seen := map[string]string{}
	for _, p := range []struct{ param, name string }{
		{"pk", spec.opts.PartitionKeyName}, {"sk", spec.opts.SortKeyName}, {"ttl", spec.opts.TTLAttribute},
	} {
		name := p.name
		if p.param == "pk" && name == "" {
			name = dynamostore.DefaultPartitionKeyName
		}
		switch {
		case name == "":
			continue
		case len(name) > 255:
			return bad("%s= is longer than 255 bytes", p.param)
		case lockAttribute(name):
			return bad("%s=%s is an attribute of the lock record itself", p.param, name)
		case seen[name] != "":
			return bad("%s=%s names the same attribute as %s=", p.param, name, seen[name])
		}
		seen[name] = p.param
	}
	return spec, nil
}

func knownParam(name string) bool {
	for _, p := range dynamoParams {
		if p == name {
			return true
		}
	}
	return false
}

func lockAttribute(name string) bool {
	switch name {
	case dynamostore.AttrOwnerName, dynamostore.AttrLeaseDuration, dynamostore.AttrRecordVersionNumber,
		dynamostore.AttrData, dynamostore.AttrIsReleased, dynamostore.AttrFencingToken:
		return true
	}
	return false
}

// validRegion accepts what can be an AWS region: a DNS label of lower-case
// letters, digits and hyphens (the region becomes part of a host name).
// Whether the region exists is for DNS to say.
func validRegion(r string) bool {
	if r == "" || len(r) > 63 || r[0] == '-' || r[len(r)-1] == '-' {
		return false
	}
	for _, c := range []byte(r) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// keyRules: DynamoDB's key limits, and a sort key exactly when the URL
// names one.
func (spec dynamoSpec) keyRules() keyRules {
	return keyRules{store: "DynamoDB", maxPartition: dynamostore.MaxPartitionKeyBytes,
		maxSort: dynamostore.MaxSortKeyBytes, sortKeyName: spec.opts.SortKeyName}
}

// dynamoStore is an opened DynamoDB store with its client.
type dynamoStore struct {
	spec   dynamoSpec
	client *dynamodb.Client
	*dynamostore.Store
}

var _ store = (*dynamoStore)(nil)

// open loads the AWS configuration for spec and makes sure credentials
// can be had. It sends no request to DynamoDB. Every HTTP attempt the
// client makes is bounded by attempt.
func (spec dynamoSpec) open(ctx context.Context, e *env, attempt time.Duration) (store, error) {
	// The SDK's own log lines (IMDS fallbacks and the like) would only
	// precede our error messages, which say what to do.
	loadOpts := []func(*config.LoadOptions) error{
		config.WithLogger(logging.Nop{}),
		// A buildable client, so that AWS_CA_BUNDLE can still be applied.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(attempt)),
	}
	if spec.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(spec.region))
	}
	if spec.profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(spec.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, configError(e, spec, err)
	}
	switch {
	case cfg.Region == "":
		return nil, fail(exitConfig, errors.New("no AWS region configured"),
			"Add ?region=REGION to the store URL, or set AWS_REGION.")
	case !validRegion(cfg.Region):
		return nil, fail(exitConfig, fmt.Errorf("the AWS region %q (from AWS_REGION or the profile) is not a region name",
			shown(cfg.Region, msgWidth)), "Set region= in the store URL, or fix AWS_REGION or the profile's region.")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
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
		var oe *dynamostore.OptionsError
		if errors.As(err, &oe) {
			err = fmt.Errorf("bad store URL %s: %s: %s", shown(spec.raw, msgWidth), urlName(oe.Field), oe.Reason)
		}
		return nil, &exitError{code: exitUsage, err: err}
	}
	s := &dynamoStore{spec: spec, client: client, Store: st}
	e.where = s.where()
	return s, nil
}

// close: the SDK's client holds nothing that needs letting go.
func (s *dynamoStore) close() {}

// urlName names a dynamostore option the way the store URL spells it.
func urlName(field string) string {
	switch field {
	case "table":
		return "the table name"
	case "PartitionKeyName":
		return "pk="
	case "SortKeyName":
		return "sk="
	case "TTLAttribute":
		return "ttl="
	}
	return field
}

// configError explains a failure to load the AWS configuration. It blames
// AWS_CA_BUNDLE only when that file really is unusable, and a profile only
// when the profile is what is missing.
func configError(e *env, spec dynamoSpec, err error) error {
	err = fmt.Errorf("loading the AWS configuration: %w", err)
	if b := e.getenv("AWS_CA_BUNDLE"); b != "" {
		if problem := caBundleProblem(b); problem != "" {
			return fail(exitConfig, err, fmt.Sprintf("AWS_CA_BUNDLE is set to %q, which %s: "+
				"unset AWS_CA_BUNDLE, or point it at a readable PEM certificate bundle.", b, problem))
		}
	}
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		where := "AWS_PROFILE"
		if spec.profile != "" {
			where = "profile= in the store URL"
		}
		return fail(exitConfig, err, fmt.Sprintf("There is no profile %q in the AWS config or credentials files: check %s, "+
			"AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE.", noProfile.Profile, where))
	}
	return fail(exitConfig, err, "Check AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE and the profile= parameter.")
}

// caBundleProblem says what is wrong with a CA bundle file, or "".
func caBundleProblem(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "cannot be read (" + err.Error() + ")"
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return "holds no PEM certificate"
	}
	return ""
}

// where names the store in messages: table, region and endpoint, so a
// wrong region or endpoint is visible at once.
func (s *dynamoStore) where() string {
	w := fmt.Sprintf("table %q in region %s", s.spec.table, s.client.Options().Region)
	if s.spec.endpoint != "" {
		w += " at " + s.spec.endpoint
	}
	return w
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

// transientCodes are DynamoDB's answers that say "later", not "no".
var transientCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"LimitExceededException":                 true,
	"InternalServerError":                    true,
	"ServiceUnavailable":                     true,
}

const (
	hintTableMissing = "Check the table name, region= (or AWS_REGION) and endpoint= in the store URL, and the AWS account " +
		"of the credentials. Create the table with 'leaselock table create' only if it exists nowhere yet: " +
		"a table made in the wrong region holds locks that nobody else sees."
	hintSchema      = "Make pk= and sk= in the store URL name the table's partition and sort keys ('leaselock table describe' shows them)."
	hintNoSuchHost  = "No such host: check endpoint= and region= in the store URL (a region that does not exist has no DynamoDB endpoint)."
	hintUnreachable = "Cannot reach DynamoDB: check endpoint= and region= in the store URL, and the network."
)

// classifyDynamo reads the errors of the DynamoDB store and of the AWS SDK;
// nil for any other error. Network failures count only inside an SDK
// operation: another store's are for its own reading.
func classifyDynamo(e *env, err error) *exitError {
	var (
		apiErr  smithy.APIError
		opErr   *smithy.OperationError
		dnsErr  *net.DNSError
		netOp   *net.OpError
		missing *tableMissingError
		schema  *schemaError
	)
	sdk := errors.As(err, &opErr)
	switch {
	case errors.As(err, &missing):
		return &exitError{exitConfig, err, hintTableMissing}
	case errors.Is(err, dynamostore.ErrTableNotFound):
		if e.where != "" {
			err = &wrapped{e.where + ": table not found", err}
		}
		return &exitError{exitConfig, err, hintTableMissing}
	case errors.As(err, &schema), errors.Is(err, dynamostore.ErrSchemaMismatch):
		return &exitError{exitConfig, err, hintSchema}
	case errors.Is(err, dynamostore.ErrUnsupported):
		return &exitError{exitConfig, err, "This server lacks an operation leaselock needs."}
	case errors.As(err, &apiErr) && authCodes[apiErr.ErrorCode()]:
		return &exitError{exitConfig, err, "Check the AWS credentials and their permissions on the table."}
	case sdk && errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &exitError{exitConfig, err, hintNoSuchHost}
	case sdk && (errors.As(err, &dnsErr) || errors.As(err, &netOp)):
		return &exitError{exitUnavailable, err, hintUnreachable}
	}
	return nil
}

// dynamoTransient reports DynamoDB's answers that say "later", not "no".
func dynamoTransient(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (transientCodes[apiErr.ErrorCode()] || apiErr.ErrorFault() == smithy.FaultServer)
}

// dynamoBrief is DynamoDB's error code and message, or "".
func dynamoBrief(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	}
	return ""
}
