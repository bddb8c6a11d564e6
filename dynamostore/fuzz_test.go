package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// The fuzz tests here drive the store's real encoding (the UpdateItem,
// DeleteItem and GetItem requests it builds) against itemTable, a small
// in-memory interpreter of exactly the expressions the store writes, and
// decode what comes back. They check that
//
//   - every record the store accepts round-trips: what Get returns after
//     Acquire or Update is the record that was written;
//   - no caller string ever appears in an expression: expressions consist of
//     placeholders and a fixed vocabulary, every placeholder is defined,
//     and every defined one is used (DynamoDB refuses unused ones);
//   - decode never panics on any item, and refuses exactly the malformed
//     numbers it must.
//
// Requests pass through a model of the wire: the SDK sends JSON, which
// carries only valid UTF-8, so names and S values are coerced as JSON
// coerces them (measured on dynalite and moto: an invalid byte arrives as
// U+FFFD).

// itemTable holds one item and answers the store's requests for it.
type itemTable struct {
	API  // nil: any request the interpreter does not model panics
	t    *testing.T
	item map[string]types.AttributeValue
}

var (
	setClause           = regexp.MustCompile(`^(#[A-Za-z0-9_]+) = (:[A-Za-z0-9_]+)$`)
	removeClause        = regexp.MustCompile(`^#[A-Za-z0-9_]+$`)
	addClause           = regexp.MustCompile(`^(#[A-Za-z0-9_]+) (:[A-Za-z0-9_]+)$`)
	placeholder         = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)
	conditionVocabulary = regexp.MustCompile(`^(?:[\s()=]|attribute_not_exists|attribute_exists|AND|OR)*$`)
)

// checkPlaceholders fails the test unless exprs use only placeholders and
// the fixed vocabulary, and names and values are exactly those used.
func (tb *itemTable) checkPlaceholders(names map[string]string, values map[string]types.AttributeValue, exprs ...*string) {
	tb.t.Helper()
	used := map[string]bool{}
	for _, e := range exprs {
		if e == nil {
			continue
		}
		for _, p := range placeholder.FindAllString(*e, -1) {
			used[p] = true
		}
	}
	for _, e := range exprs[1:] { // conditions
		if e != nil && !conditionVocabulary.MatchString(placeholder.ReplaceAllString(*e, "")) {
			tb.t.Fatalf("condition %q holds more than placeholders and keywords", *e)
		}
	}
	defined := map[string]bool{}
	for n := range names {
		defined[n] = true
	}
	for v := range values {
		defined[v] = true
	}
	if !maps.Equal(used, defined) {
		tb.t.Fatalf("placeholders used %v, defined %v (expressions %q)", used, defined, deref(exprs[0]))
	}
}

// wire models JSON transport of an item: names and S values become valid
// UTF-8 the way encoding/json makes them.
func wire(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(item))
	for name, av := range item {
		if s, ok := av.(*types.AttributeValueMemberS); ok {
			av = &types.AttributeValueMemberS{Value: jsonString(s.Value)}
		}
		out[jsonString(name)] = av
	}
	return out
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	var back string
	_ = json.Unmarshal(b, &back)
	return back
}

func (tb *itemTable) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	tb.checkPlaceholders(in.ExpressionAttributeNames, in.ExpressionAttributeValues, in.UpdateExpression, in.ConditionExpression)
	old := tb.item
	next := maps.Clone(old)
	if next == nil {
		next = maps.Clone(in.Key)
	}
	expr := deref(in.UpdateExpression)
	rest, add, _ := strings.Cut(expr, " ADD ")
	rest = strings.TrimPrefix(rest, "SET ")
	set, remove, _ := strings.Cut(rest, " REMOVE ")
	if strings.HasPrefix(rest, "REMOVE ") || strings.HasPrefix(rest, " REMOVE ") {
		set, remove = "", strings.TrimPrefix(strings.TrimPrefix(rest, " "), "REMOVE ")
	}
	name := func(ph string) string {
		n, ok := in.ExpressionAttributeNames[ph]
		if !ok {
			tb.t.Fatalf("undefined name %s in %q", ph, expr)
		}
		return n
	}
	if set != "" {
		for _, c := range strings.Split(set, ", ") {
			m := setClause.FindStringSubmatch(c)
			if m == nil {
				tb.t.Fatalf("SET clause %q in %q is not #name = :value", c, expr)
			}
			next[name(m[1])] = in.ExpressionAttributeValues[m[2]]
		}
	}
	if remove != "" {
		for _, c := range strings.Split(remove, ", ") {
			if !removeClause.MatchString(c) {
				tb.t.Fatalf("REMOVE clause %q in %q is not #name", c, expr)
			}
			delete(next, name(c))
		}
	}
	if add != "" {
		m := addClause.FindStringSubmatch(add)
		if m == nil {
			tb.t.Fatalf("ADD clause %q in %q is not #name :value", add, expr)
		}
		var cur uint64
		if n, ok := next[name(m[1])].(*types.AttributeValueMemberN); ok {
			cur, _ = strconv.ParseUint(n.Value, 10, 64)
		}
		inc, _ := strconv.ParseUint(in.ExpressionAttributeValues[m[2]].(*types.AttributeValueMemberN).Value, 10, 64)
		next[name(m[1])] = &types.AttributeValueMemberN{Value: strconv.FormatUint(cur+inc, 10)}
	}
	tb.item = wire(next)
	out := &dynamodb.UpdateItemOutput{}
	switch in.ReturnValues {
	case types.ReturnValueAllNew:
		out.Attributes = tb.item
	case types.ReturnValueAllOld:
		out.Attributes = old
	}
	return out, nil
}

func (tb *itemTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: tb.item}, nil
}

func (tb *itemTable) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	tb.checkPlaceholders(in.ExpressionAttributeNames, in.ExpressionAttributeValues, nil, in.ConditionExpression)
	tb.item = nil
	return &dynamodb.DeleteItemOutput{}, nil
}

// sameRecord compares what was written with what was read back; empty
// data and attributes count as none.
func sameRecord(want, got backend.Record) error {
	if len(want.Data) == 0 {
		want.Data = nil
	}
	if len(want.Attributes) == 0 {
		want.Attributes = nil
	}
	if !want.Equal(got) {
		return fmt.Errorf("wrote %#v\nread  %#v", want, got)
	}
	return nil
}

// layouts are the table layouts the fuzz tests cycle through.
var layouts = []*Options{
	nil,
	{SortKeyName: "sk"},
	{PartitionKeyName: "lockName", TTLAttribute: "expiresAt"},
	{PartitionKeyName: "#a = :b", SortKeyName: ":e OR attribute_exists(x)"},
}

// FuzzItemRoundTrip writes a record with Acquire, then Update (optionally
// marking it released), then Delete, reading it back after each write.
func FuzzItemRoundTrip(f *testing.F) {
	f.Add("orders", "", "alice", "v1", int64(20000), []byte("payload"), "color", "blue", false, uint8(0))
	f.Add("k", "2024-06", "bob", "7c9e6679-7425-40de-944b-e07fc1f90ae7", int64(1), []byte(nil), "", "", true, uint8(1))
	f.Add("k", "", "carol", "v", int64(0), []byte{0, 1, 2}, "ttl-looking", "1700000000", false, uint8(2))
	f.Add("#a = :b OR attribute_exists(x)", ":e", "#o = :o", ":v, #r = :one", int64(1000),
		[]byte("SET #d = :d"), "#f :inc", ") REMOVE #v", true, uint8(3))
	f.Add("日本", "キー", "所有者", "版", int64(86400000), []byte("データ"), "名前", "値", false, uint8(1))
	f.Fuzz(func(t *testing.T, partition, sort, owner, version string, leaseMs int64, data []byte,
		attrName, attrValue string, released bool, layout uint8) {
		tb := &itemTable{t: t}
		s, err := New(tb, "locks", layouts[int(layout)%len(layouts)])
		if err != nil {
			t.Fatal(err)
		}
		s.opts.Now = func() time.Time { return time.Unix(1_700_000_000, 0) }
		rec := backend.Record{Key: backend.Key{Partition: partition, Sort: sort}, Owner: owner, Version: version,
			LeaseDuration: time.Duration(leaseMs%(1<<40)) * time.Millisecond, Data: data}
		if attrName != "" {
			rec.Attributes = map[string]string{attrName: attrValue}
		}
		valid := utf8.ValidString(owner) && utf8.ValidString(version) && utf8.ValidString(attrName) && utf8.ValidString(attrValue)
		if err := s.checkRecord(rec); err != nil || version == "" {
			return // refused before sending: nothing to round-trip
		}
		if !valid {
			t.Fatalf("checkRecord accepted strings that are not valid UTF-8: %+v", rec)
		}
		ctx := context.Background()

		got, err := s.Acquire(ctx, backend.AcquireRequest{Record: rec})
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		want := rec.Clone()
		want.Token = 1
		if err := sameRecord(want, got.Record); err != nil {
			t.Fatalf("Acquire returned another record: %v", err)
		}
		read, err := s.Get(ctx, rec.Key)
		if err != nil {
			t.Fatalf("Get after Acquire: %v", err)
		}
		if err := sameRecord(want, read); err != nil {
			t.Fatalf("the stored record differs from the one acquired: %v", err)
		}

		next := want.Clone()
		next.Version, next.Released = version+"'", released
		stored, err := s.Update(ctx, next, version)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if err := sameRecord(next, stored); err != nil {
			t.Fatalf("the updated record differs: %v", err)
		}

		if err := s.Delete(ctx, rec.Key, next.Version); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, rec.Key); err == nil {
			t.Fatal("the record survived Delete")
		}
	})
}

// FuzzDecode decodes arbitrary lock items: it must never panic, and must
// refuse exactly the malformed lease durations and fencing tokens.
func FuzzDecode(f *testing.F) {
	f.Add("20000", uint8(0), "42", uint8(0), []byte("d"), "1", "extra", "x")
	f.Add("-1", uint8(1), "not a number", uint8(0), []byte(nil), "0", "", "")
	f.Add("", uint8(2), "18446744073709551616", uint8(1), []byte{}, "true", "ownerName", "y")
	f.Add("9223372036854775807", uint8(1), "", uint8(2), []byte("x"), "", "key", "z")
	f.Fuzz(func(t *testing.T, lease string, leaseKind uint8, token string, tokenKind uint8, data []byte,
		released, extraName, extraValue string) {
		s, err := New(&itemTable{t: t}, "locks", nil)
		if err != nil {
			t.Fatal(err)
		}
		item := map[string]types.AttributeValue{
			DefaultPartitionKeyName: &types.AttributeValueMemberS{Value: "k"},
			AttrOwnerName:           &types.AttributeValueMemberS{Value: "owner"},
			AttrRecordVersionNumber: &types.AttributeValueMemberS{Value: "v"},
		}
		switch leaseKind % 3 {
		case 0:
			item[AttrLeaseDuration] = &types.AttributeValueMemberS{Value: lease}
		case 1:
			item[AttrLeaseDuration] = &types.AttributeValueMemberN{Value: lease}
		case 2:
			item[AttrLeaseDuration] = &types.AttributeValueMemberB{Value: []byte(lease)}
		}
		switch tokenKind % 3 {
		case 0:
			item[AttrFencingToken] = &types.AttributeValueMemberN{Value: token}
		case 1:
			item[AttrFencingToken] = &types.AttributeValueMemberS{Value: token}
		}
		if data != nil {
			item[AttrData] = &types.AttributeValueMemberB{Value: data}
		}
		if released != "" {
			item[AttrIsReleased] = &types.AttributeValueMemberS{Value: released}
		}
		if extraName != "" {
			item[extraName] = &types.AttributeValueMemberS{Value: extraValue}
		}

		rec, err := s.decode(item)

		leaseText := lease
		if leaseKind%3 == 2 {
			leaseText = "" // a B lease reads as no text
		}
		ms, lerr := strconv.ParseInt(leaseText, 10, 64)
		badLease := item[AttrLeaseDuration] != nil && (lerr != nil || ms < 0)
		_, terr := strconv.ParseUint(token, 10, 64)
		badToken := tokenKind%3 == 0 && terr != nil
		if extraName == AttrLeaseDuration || extraName == AttrFencingToken {
			return // the extra attribute replaced one of them: covered by other inputs
		}
		switch {
		case (badLease || badToken) && err == nil:
			t.Fatalf("decode accepted a malformed item: %v", item)
		case !badLease && !badToken && err != nil:
			t.Fatalf("decode refused a well-formed item: %v", err)
		case err == nil && !badLease && rec.LeaseDuration != time.Duration(ms)*time.Millisecond:
			t.Fatalf("lease %q decoded as %v", lease, rec.LeaseDuration)
		case err == nil && released != "" && extraName != AttrIsReleased && rec.Released != (released == "1"):
			t.Fatalf("isReleased %q decoded as %v", released, rec.Released)
		}
	})
}
