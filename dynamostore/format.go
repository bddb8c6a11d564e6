package dynamostore

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Format is an item layout: the attributes that hold a lock record and how
// each is encoded. A table's items are readable by the other clients of its
// format, so leaselock and those clients can contend on one table. The zero
// value is FormatJava.
type Format int

const (
	// FormatJava is the layout of Amazon's Java AmazonDynamoDBLockClient
	// 1.4.0 (see the package documentation).
	FormatJava Format = iota

	// FormatPython is the layout of the Python python_dynamodb_lock 0.9.1:
	// partition key lock_key and sort key sort_key (both S; "-" when the
	// lock has no sort key), owner_name (S), lease_duration (N, seconds),
	// record_version_number (S) and expiry_time (N, epoch seconds, the
	// table's TTL attribute), which the Python client requires on every
	// item it reads. It knows no released marker: to it, every item is a
	// held lock, so leaselock must release by deleting (see
	// Store.ReleaseByDelete).
	FormatPython
)

func (f Format) String() string {
	switch f {
	case FormatJava:
		return "java"
	case FormatPython:
		return "python"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat reads a format name as String writes it.
func ParseFormat(name string) (Format, error) {
	for _, f := range []Format{FormatJava, FormatPython} {
		if f.String() == name {
			return f, nil
		}
	}
	return 0, &OptionsError{"Format", fmt.Sprintf("unknown format %q (java or python)", name)}
}

// FencingMode says where a store keeps a key's fencing counter.
type FencingMode int

const (
	// FencingDefault is the format's choice: FencingOnItem for
	// FormatJava, FencingCounterItem for FormatPython.
	FencingDefault FencingMode = iota

	// FencingOnItem keeps the counter on the lock item itself, so an
	// acquisition is one request. The counter restarts at 1 whenever the
	// item is deleted (a release by deleting, TTL) or replaced by a client
	// of another language (its acquire is a PutItem of the whole item).
	FencingOnItem

	// FencingCounterItem keeps the counter in an item of its own beside
	// the lock item (same partition key; the sort key, or the partition
	// key when the table has no sort key, followed by FenceSuffix), which
	// no other client touches. Tokens then strictly increase across
	// deletes and foreign acquisitions alike. An acquisition costs three
	// requests (fence.go says why).
	FencingCounterItem
)

// Attribute names and defaults of the Python python_dynamodb_lock 0.9.1
// layout, and leaselock's own attributes in that layout.
const (
	PythonPartitionKeyName        = "lock_key"
	PythonSortKeyName             = "sort_key"
	PythonTTLAttribute            = "expiry_time"
	PythonAttrOwnerName           = "owner_name"
	PythonAttrLeaseDuration       = "lease_duration"
	PythonAttrRecordVersionNumber = "record_version_number"

	// PythonNoSortKey is the sort value the Python client writes for a
	// lock without one; leaselock's Key{Sort: ""} is stored as it.
	PythonNoSortKey = "-"

	// leaselock's own attributes in the Python layout; the Python client
	// carries them as additional attributes while it only reads or
	// heartbeats, and drops them when it acquires.
	PythonAttrData         = "data"
	PythonAttrIsReleased   = "is_released"
	PythonAttrFencingToken = "fencing_token"

	// DefaultPythonTTLRetention matches the Python client's default
	// expiry_period: its items expire an hour after the last write.
	DefaultPythonTTLRetention = time.Hour
)

// FenceSuffix ends the key of a FencingCounterItem counter item. Lock keys
// ending with it are refused while that mode is on.
const FenceSuffix = "#leaselock-fence"

// itemFormat is everything that differs between the layouts, in one place:
// the store's encode, decode and condition builders read their attribute
// names and encodings from here and hold no per-format branches.
type itemFormat struct {
	format Format

	// Attribute names of the record's fields.
	owner, lease, version, data, released, token string

	// leaseValue encodes a lease duration; leaseOf decodes one, leniently
	// (both S and N), as the format's own clients may have written it.
	leaseValue func(time.Duration) types.AttributeValue
	leaseOf    func(types.AttributeValue) (time.Duration, string, bool)

	// deleteOnRelease: the format's clients read any item as a held lock,
	// so a release must delete it for them to see the key free at once.
	deleteOnRelease bool

	// noSort is the stored sort value that stands for an empty Key.Sort;
	// "" when a table with a sort key requires one in every Key.
	noSort string

	// Defaults the format gives Options.
	partitionKey, sortKey, ttl string // "" sortKey/ttl: none by default
	sortRequired, ttlRequired  bool   // the format's clients need them
	ttlRetention               time.Duration
	fencing                    FencingMode
}

var (
	javaFormat = &itemFormat{
		format: FormatJava,
		owner:  AttrOwnerName, lease: AttrLeaseDuration, version: AttrRecordVersionNumber,
		data: AttrData, released: AttrIsReleased, token: AttrFencingToken,
		leaseValue:   millisValue,
		leaseOf:      millisOf,
		partitionKey: DefaultPartitionKeyName,
		ttlRetention: DefaultTTLRetention,
		fencing:      FencingOnItem,
	}
	pythonFormat = &itemFormat{
		format: FormatPython,
		owner:  PythonAttrOwnerName, lease: PythonAttrLeaseDuration, version: PythonAttrRecordVersionNumber,
		data: PythonAttrData, released: PythonAttrIsReleased, token: PythonAttrFencingToken,
		leaseValue:      secondsValue,
		leaseOf:         secondsOf,
		deleteOnRelease: true,
		noSort:          PythonNoSortKey,
		partitionKey:    PythonPartitionKeyName,
		sortKey:         PythonSortKeyName,
		ttl:             PythonTTLAttribute,
		sortRequired:    true,
		ttlRequired:     true,
		ttlRetention:    DefaultPythonTTLRetention,
		fencing:         FencingCounterItem,
	}
)

func formatOf(f Format) (*itemFormat, bool) {
	switch f {
	case FormatJava:
		return javaFormat, true
	case FormatPython:
		return pythonFormat, true
	}
	return nil, false
}

// ReleaseByDelete reports whether the store's format needs releases to
// delete the lock item (FormatPython: its client knows no released marker
// and waits out a whole lease on any item it finds). It implements
// backend.ReleaseDeleter: a lock client on the store then releases by
// deleting, with no option to remember. A record released by marking
// stays safe, only slow: the other client takes it over once its lease
// has visibly lapsed.
func (s *Store) ReleaseByDelete() bool { return s.f.deleteOnRelease }

// isLockAttribute reports whether name is one of the format's record
// attributes (keys and TTL aside).
func (f *itemFormat) isLockAttribute(name string) bool {
	switch name {
	case f.owner, f.lease, f.version, f.data, f.released, f.token:
		return true
	}
	return false
}

// storedSort is the sort value stored for a key's Sort.
func (f *itemFormat) storedSort(sort string) string {
	if sort == "" {
		return f.noSort
	}
	return sort
}

// keySort is the Key.Sort a stored sort value stands for.
func (f *itemFormat) keySort(stored string) string {
	if f.noSort != "" && stored == f.noSort {
		return ""
	}
	return stored
}

// millisValue is Java's encoding: S, decimal milliseconds.
func millisValue(d time.Duration) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: strconv.FormatInt(d.Milliseconds(), 10)}
}

// millisOf reads decimal milliseconds from an S (Java's) or an N. It
// returns the text it read, for error messages.
func millisOf(av types.AttributeValue) (time.Duration, string, bool) {
	text := stringOf(av)
	if n, ok := av.(*types.AttributeValueMemberN); ok {
		text = n.Value
	}
	ms, err := strconv.ParseInt(text, 10, 64)
	if err != nil || ms < 0 {
		return 0, text, false
	}
	return time.Duration(ms) * time.Millisecond, text, true
}

// secondsValue is the Python client's encoding: N, decimal seconds (it
// writes Decimal.from_float of its lease in seconds), here exact to the
// millisecond: 20s is "20", 1.5s is "1.5", 20ms is "0.02".
func secondsValue(d time.Duration) types.AttributeValue {
	ms := d.Milliseconds()
	text := strconv.FormatInt(ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		text += strings.TrimRight(fmt.Sprintf(".%03d", frac), "0")
	}
	return &types.AttributeValueMemberN{Value: text}
}

// secondsOf reads decimal seconds from an N (the Python client's) or an S,
// rounded to the millisecond. DynamoDB numbers have at most 38 digits, so
// float64 parsing loses nothing at millisecond precision for any lease a
// Duration can hold.
func secondsOf(av types.AttributeValue) (time.Duration, string, bool) {
	text := stringOf(av)
	if n, ok := av.(*types.AttributeValueMemberN); ok {
		text = n.Value
	}
	// ParseFloat also takes "Inf", "NaN" and hexadecimal: none is a
	// DynamoDB number.
	for _, c := range text {
		if !strings.ContainsRune("0123456789.eE+-", c) {
			return 0, text, false
		}
	}
	secs, err := strconv.ParseFloat(text, 64)
	ms := math.Round(secs * 1000)
	if err != nil || ms < 0 || ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, text, false
	}
	return time.Duration(ms) * time.Millisecond, text, true
}
