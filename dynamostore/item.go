package dynamostore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// keyItem is the DynamoDB primary key of a lock.
func (s *Store) keyItem(k backend.Key) map[string]types.AttributeValue {
	m := make(map[string]types.AttributeValue, 2)
	m[s.opts.PartitionKeyName] = &types.AttributeValueMemberS{Value: k.Partition}
	if s.opts.SortKeyName != "" {
		m[s.opts.SortKeyName] = &types.AttributeValueMemberS{Value: s.f.storedSort(k.Sort)}
	}
	return m
}

// checkKey applies DynamoDB's key rules before a request is sent.
func (s *Store) checkKey(k backend.Key) error {
	if err := backend.ValidateKey(k, MaxPartitionKeyBytes); err != nil {
		return fmt.Errorf("dynamostore: %w (partition key at most %d bytes, sort key at most %d)",
			err, MaxPartitionKeyBytes, MaxSortKeyBytes)
	}
	switch {
	case len(k.Sort) > MaxSortKeyBytes:
		return fmt.Errorf("dynamostore: %w: sort key of %d bytes, longer than %d",
			backend.ErrInvalidKey, len(k.Sort), MaxSortKeyBytes)
	case s.opts.SortKeyName == "" && k.Sort != "":
		return fmt.Errorf("dynamostore: %w: key %q has a sort key but table %q has none",
			backend.ErrInvalidKey, k, s.table)
	case s.opts.SortKeyName != "" && k.Sort == "" && s.f.noSort == "":
		return fmt.Errorf("dynamostore: %w: key %q needs a sort key (%s) in table %q",
			backend.ErrInvalidKey, k, s.opts.SortKeyName, s.table)
	case s.f.noSort != "" && k.Sort == s.f.noSort:
		return fmt.Errorf("dynamostore: %w: key %q: in the %s format the sort key %q stands for none; use an empty sort key",
			backend.ErrInvalidKey, k, s.f.format, s.f.noSort)
	}
	return s.checkFenceKey(k)
}

// checkRecord validates what a write would store, including a lower bound
// of the item's size (DynamoDB counts attribute names and values).
func (s *Store) checkRecord(rec backend.Record) error {
	if err := s.checkKey(rec.Key); err != nil {
		return err
	}
	if !utf8.ValidString(rec.Owner) || !utf8.ValidString(rec.Version) {
		// DynamoDB strings are UTF-8: invalid bytes would be rewritten on
		// the wire, and the record would no longer match its writer.
		return fmt.Errorf("dynamostore: %w: owner or version of %q is not valid UTF-8", backend.ErrInvalid, rec.Key)
	}
	if rec.LeaseDuration < 0 || rec.LeaseDuration%time.Millisecond != 0 {
		return fmt.Errorf("dynamostore: %w: lease duration %v is not a whole, non-negative number of milliseconds",
			backend.ErrInvalid, rec.LeaseDuration)
	}
	size := len(s.opts.PartitionKeyName) + len(rec.Key.Partition) + len(s.opts.SortKeyName) + len(rec.Key.Sort) +
		len(s.f.owner) + len(rec.Owner) + len(s.f.version) + len(rec.Version) +
		len(s.f.lease) + 20 + len(s.f.token) + 21 + len(s.f.data) + len(rec.Data)
	for name, v := range rec.Attributes {
		if err := s.checkAttributeName(name); err != nil {
			return err
		}
		if !utf8.ValidString(name) || !utf8.ValidString(v) {
			return fmt.Errorf("dynamostore: %w: attribute %q is not valid UTF-8", backend.ErrInvalid, name)
		}
		size += len(name) + len(v)
	}
	if size > MaxItemBytes {
		return fmt.Errorf("%w: the item for %q would be at least %d bytes", ErrItemTooLarge, rec.Key, size)
	}
	return nil
}

func (s *Store) checkAttributeName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("dynamostore: %w: empty attribute name", backend.ErrInvalid)
	case s.reserved(name):
		return fmt.Errorf("dynamostore: %w: attribute %q is reserved for the lock record", backend.ErrInvalid, name)
	case len(name) > 65535:
		return fmt.Errorf("dynamostore: %w: attribute name longer than 64 KiB", backend.ErrInvalid)
	}
	return nil
}

// reserved reports whether name is one of the attributes the store itself
// writes or reads.
func (s *Store) reserved(name string) bool {
	return s.f.isLockAttribute(name) || name == s.opts.PartitionKeyName ||
		(s.opts.SortKeyName != "" && name == s.opts.SortKeyName) ||
		(s.opts.TTLAttribute != "" && name == s.opts.TTLAttribute)
}

// decode reads a lock item in the store's format. It accepts what the
// format's own clients write and is lenient where they are: a lease stored
// as N or S, data stored as S. The released marker counts only as S "1" —
// the value Java writes and requires to re-acquire — so a record marked
// otherwise is treated as held (and can still be taken over once its lease
// has visibly expired). A stored sort value that stands for none (the
// Python client's "-") reads as an empty Sort.
func (s *Store) decode(item map[string]types.AttributeValue) (backend.Record, error) {
	var rec backend.Record
	for name, av := range item {
		switch name {
		case s.opts.PartitionKeyName:
			rec.Key.Partition = stringOf(av)
			continue
		case s.opts.SortKeyName:
			if s.opts.SortKeyName != "" {
				rec.Key.Sort = s.f.keySort(stringOf(av))
				continue
			}
		}
		switch name {
		case s.f.owner:
			rec.Owner = stringOf(av)
		case s.f.version:
			rec.Version = stringOf(av)
		case s.f.lease:
			d, text, ok := s.f.leaseOf(av)
			if !ok {
				return rec, fmt.Errorf("dynamostore: item in table %q has a malformed %s %q", s.table, s.f.lease, text)
			}
			rec.LeaseDuration = d
		case s.f.data:
			switch v := av.(type) {
			case *types.AttributeValueMemberB:
				if len(v.Value) > 0 {
					rec.Data = v.Value
				}
			case *types.AttributeValueMemberS:
				if v.Value != "" {
					rec.Data = []byte(v.Value)
				}
			}
		case s.f.released:
			rec.Released = stringOf(av) == releasedValue
		case s.f.token:
			if n, ok := av.(*types.AttributeValueMemberN); ok {
				t, err := strconv.ParseUint(n.Value, 10, 64)
				if err != nil {
					return rec, fmt.Errorf("dynamostore: item in table %q has a malformed %s %q", s.table, s.f.token, n.Value)
				}
				rec.Token = t
			}
		default:
			if name == s.opts.TTLAttribute {
				continue
			}
			if v, ok := av.(*types.AttributeValueMemberS); ok {
				if rec.Attributes == nil {
					rec.Attributes = make(map[string]string)
				}
				rec.Attributes[name] = v.Value
			}
		}
	}
	return rec, nil
}

func stringOf(av types.AttributeValue) string {
	if v, ok := av.(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// update is one UpdateItem expression under construction. Names and values
// are always placeholders, so no user string reaches the expression text.
type update struct {
	set, remove []string
	names       map[string]string
	values      map[string]types.AttributeValue
}

func newUpdate() *update {
	return &update{
		names:  make(map[string]string, 10),
		values: make(map[string]types.AttributeValue, 8),
	}
}

func (u *update) setS(ph, name, value string) {
	u.names["#"+ph] = name
	u.values[":"+ph] = &types.AttributeValueMemberS{Value: value}
	u.set = append(u.set, "#"+ph+" = :"+ph)
}

func (u *update) drop(ph, name string) {
	u.names["#"+ph] = name
	u.remove = append(u.remove, "#"+ph)
}

// lease adds the attributes every write sets: owner, lease, version, data
// (set, or removed when dropData), TTL and the application's attributes.
func (s *Store) lease(u *update, rec backend.Record, dropData bool) {
	u.setS("o", s.f.owner, rec.Owner)
	u.names["#l"] = s.f.lease
	u.values[":l"] = s.f.leaseValue(rec.LeaseDuration)
	u.set = append(u.set, "#l = :l")
	u.setS("v", s.f.version, rec.Version)
	switch {
	case len(rec.Data) > 0:
		u.names["#d"] = s.f.data
		u.values[":d"] = &types.AttributeValueMemberB{Value: rec.Data}
		u.set = append(u.set, "#d = :d")
	case dropData:
		u.drop("d", s.f.data)
	}
	if s.opts.TTLAttribute != "" {
		epoch := s.opts.Now().Add(rec.LeaseDuration + s.opts.TTLRetention).Unix()
		u.names["#t"] = s.opts.TTLAttribute
		u.values[":t"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(epoch, 10)}
		u.set = append(u.set, "#t = :t")
	}
	if len(rec.Attributes) > 0 {
		names := make([]string, 0, len(rec.Attributes))
		for name := range rec.Attributes {
			names = append(names, name)
		}
		slices.Sort(names) // a stable expression for a given record
		for i, name := range names {
			u.setS("a"+strconv.Itoa(i), name, rec.Attributes[name])
		}
	}
}

// expression renders "SET ... REMOVE ..." followed by extra (an ADD clause).
func (u *update) expression(extra string) string {
	var b strings.Builder
	b.Grow(16 * (len(u.set) + len(u.remove) + 2))
	if len(u.set) > 0 {
		b.WriteString("SET ")
		b.WriteString(strings.Join(u.set, ", "))
	}
	if len(u.remove) > 0 {
		b.WriteString(" REMOVE ")
		b.WriteString(strings.Join(u.remove, ", "))
	}
	if extra != "" {
		b.WriteByte(' ')
		b.WriteString(extra)
	}
	return b.String()
}

// mergeAttributes returns old overlaid with set, as an UpdateItem leaves it.
func mergeAttributes(old, set map[string]string) map[string]string {
	if len(old) == 0 {
		return set
	}
	out := make(map[string]string, len(old)+len(set))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range set {
		out[k] = v
	}
	return out
}
