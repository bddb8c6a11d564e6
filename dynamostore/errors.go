package dynamostore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/leaselock/leaselock/backend"
)

// kindError is a package sentinel that also matches a backend error kind.
type kindError struct {
	msg   string
	kinds []error
}

func (e *kindError) Error() string   { return e.msg }
func (e *kindError) Unwrap() []error { return e.kinds }

var (
	// ErrTableNotFound: the table does not exist (or is not yet ACTIVE).
	// Also errors.Is backend.ErrInvalid.
	ErrTableNotFound error = &kindError{"dynamostore: table not found", []error{backend.ErrInvalid}}

	// ErrTableExists: CreateTable found the table already there.
	ErrTableExists = errors.New("dynamostore: table already exists")

	// ErrSchemaMismatch: the table's key schema does not match the Options.
	// Returned as *SchemaError; also errors.Is backend.ErrInvalid.
	ErrSchemaMismatch error = &kindError{"dynamostore: table key schema does not match", []error{backend.ErrInvalid}}

	// ErrItemTooLarge: the item would exceed DynamoDB's 400 KB limit.
	// Also errors.Is backend.ErrInvalid.
	ErrItemTooLarge error = &kindError{"dynamostore: item larger than 400 KB", []error{backend.ErrInvalid}}

	// ErrUnsupported: the server does not implement an operation the store
	// needs (dynalite has no TransactWriteItems). Also errors.Is
	// backend.ErrInvalid and errors.ErrUnsupported.
	ErrUnsupported error = &kindError{"dynamostore: operation not supported by this server",
		[]error{backend.ErrInvalid, errors.ErrUnsupported}}

	// ErrTransactionCanceled: a guarded write's transaction was canceled for
	// a reason other than the guard (the application's own conditions, a
	// conflicting transaction, throttling). Returned as *TransactionError.
	ErrTransactionCanceled = errors.New("dynamostore: transaction canceled")
)

// SchemaError explains how a table's key schema differs from the Options.
type SchemaError struct {
	Table    string
	Problems []string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("dynamostore: table %q does not match the store's key schema: %s",
		e.Table, strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrSchemaMismatch) and errors.Is(err,
// backend.ErrInvalid) true.
func (e *SchemaError) Unwrap() error { return ErrSchemaMismatch }

// TransactionError reports a guarded write that DynamoDB canceled while the
// guard itself held: one of the application's own items failed. Reasons has
// one entry per item of the transaction, the application's items first, in
// the order given, and the lock check last (empty when the server gave no
// reasons).
//
// errors.Is(err, ErrTransactionCanceled) is always true; errors.Is(err,
// backend.ErrUnavailable) is true when every failure was transient (a
// conflicting transaction or throttling), so retrying may succeed;
// errors.Is(err, backend.ErrInvalid) when an item was malformed.
type TransactionError struct {
	Reasons []types.CancellationReason
	Err     error // the SDK's error
}

func (e *TransactionError) Error() string {
	var b strings.Builder
	b.WriteString("dynamostore: guarded write canceled")
	for i, r := range e.Reasons {
		code := deref(r.Code)
		if code == "" || code == "None" {
			continue
		}
		fmt.Fprintf(&b, "; item %d: %s", i, code)
		if m := deref(r.Message); m != "" {
			fmt.Fprintf(&b, " (%s)", m)
		}
	}
	if len(e.Reasons) == 0 && e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *TransactionError) Unwrap() error { return e.Err }

// Is implements the error kinds described on the type.
func (e *TransactionError) Is(target error) bool {
	switch target {
	case ErrTransactionCanceled:
		return true
	case backend.ErrUnavailable:
		transient := false
		for _, r := range e.Reasons {
			switch deref(r.Code) {
			case "", "None":
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				transient = true
			default:
				return false
			}
		}
		return transient
	case backend.ErrInvalid:
		for _, r := range e.Reasons {
			switch deref(r.Code) {
			case "ValidationError", "ItemCollectionSizeLimitExceeded":
				return true
			}
		}
	}
	return false
}

// FailedItems returns the indexes, into the application's ops, of the items
// whose condition failed.
func (e *TransactionError) FailedItems() []int {
	var idx []int
	for i, r := range e.Reasons {
		if deref(r.Code) == "ConditionalCheckFailed" && i < len(e.Reasons)-1 {
			idx = append(idx, i)
		}
	}
	return idx
}

// Error codes the store maps; see classify.
const (
	codeConditionalCheckFailed = "ConditionalCheckFailedException"
	codeResourceNotFound       = "ResourceNotFoundException"
	codeResourceInUse          = "ResourceInUseException"
	codeValidation             = "ValidationException"
	codeUnknownOperation       = "UnknownOperationException"
	codeTransactionCanceled    = "TransactionCanceledException"
)

// transientCodes are refusals that certainly applied nothing and may
// succeed later.
var transientCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"LimitExceededException":                 true,
	"TransactionConflictException":           true,
	"TransactionInProgressException":         true,
	"ReplicatedWriteConflictException":       true,
}

// classify turns an SDK error into one of the backend error kinds. op and
// key describe the call for the message; write says whether the call could
// change the table; sent tells whether an attempt may have been applied.
func (s *Store) classify(err error, op string, key backend.Key, write bool, tr *tracker) error {
	where := fmt.Sprintf("dynamostore: %s %q in table %q", op, key, s.table)
	if key == (backend.Key{}) {
		where = fmt.Sprintf("dynamostore: %s on table %q", op, s.table)
	}

	var apiErr smithy.APIError
	isAPI := errors.As(err, &apiErr)
	// A write that may have been applied is ambiguous, whatever the last
	// attempt said: an earlier attempt may have been applied before a
	// retry was throttled or refused.
	if write && tr.mayHaveApplied(err, isAPI) {
		return &backend.AmbiguousError{Err: fmt.Errorf("%s: %w", where, err)}
	}
	if !isAPI {
		if ctxErr := contextError(err); ctxErr != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		// Not sent, or a read: nothing was changed.
		return fmt.Errorf("%s: %w: %w", where, backend.ErrUnavailable, err)
	}
	code := apiErr.ErrorCode()
	msg := apiErr.ErrorMessage()
	switch {
	case code == codeResourceNotFound:
		return fmt.Errorf("%s: %w (%s)", where, ErrTableNotFound, msg)
	case code == codeValidation && isSizeMessage(msg):
		return fmt.Errorf("%s: %w (%s)", where, ErrItemTooLarge, msg)
	case code == codeValidation:
		return fmt.Errorf("%s: %w: %s", where, backend.ErrInvalid, msg)
	case code == codeUnknownOperation:
		return fmt.Errorf("%s: %w (%s)", where, ErrUnsupported, msg)
	case transientCodes[code]:
		return fmt.Errorf("%s: %w: %w", where, backend.ErrUnavailable, err)
	case apiErr.ErrorFault() == smithy.FaultServer || isServerError(err):
		// Reads (writes returned above): the server failed, nothing changed.
		return fmt.Errorf("%s: %w: %w", where, backend.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

func isSizeMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "item size") || strings.Contains(m, "exceeded the maximum allowed size") ||
		strings.Contains(m, "maximum allowed size")
}

func isServerError(err error) bool {
	var sc interface{ HTTPStatusCode() int }
	return errors.As(err, &sc) && sc.HTTPStatusCode() >= 500
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
