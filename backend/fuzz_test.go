package backend_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/leaselock/leaselock/backend"
)

// FuzzValidateKey checks ValidateKey against its specification: a key is
// valid exactly when the partition key is non-empty, both parts are valid
// UTF-8 and (with a positive limit) neither is longer than the limit; an
// invalid key gets an error wrapping ErrInvalid whose text is itself valid
// UTF-8 (it quotes the key). The seed corpus is in testdata/fuzz.
func FuzzValidateKey(f *testing.F) {
	f.Add("orders", "", 0)
	f.Add("", "", 0)
	f.Add("", "sort", 2048)
	f.Add("k\xff", "", 0)
	f.Add("k", "\xc3\x28", 0)
	f.Add(strings.Repeat("k", 2049), "", 2048)
	f.Add("k", strings.Repeat("s", 1025), 1024)
	f.Add("日本語のキー", "ソート", 18)
	f.Add("#a = :b OR attribute_exists(x)", ":e", -1)
	f.Fuzz(func(t *testing.T, partition, sort string, maxLen int) {
		k := backend.Key{Partition: partition, Sort: sort}
		err := backend.ValidateKey(k, maxLen)
		valid := partition != "" && utf8.ValidString(partition) && utf8.ValidString(sort) &&
			(maxLen <= 0 || (len(partition) <= maxLen && len(sort) <= maxLen))
		switch {
		case valid && err != nil:
			t.Fatalf("ValidateKey(%q, %d) refused a valid key: %v", k, maxLen, err)
		case !valid && err == nil:
			t.Fatalf("ValidateKey(%q, %d) accepted an invalid key", k, maxLen)
		case err != nil && !errors.Is(err, backend.ErrInvalid):
			t.Fatalf("ValidateKey(%q, %d): %v does not wrap ErrInvalid", k, maxLen, err)
		case err != nil && !utf8.ValidString(err.Error()):
			t.Fatalf("ValidateKey(%q, %d): error text is not valid UTF-8: %q", k, maxLen, err.Error())
		}
		if s := k.String(); !strings.HasPrefix(s, partition) || (sort != "" && !strings.HasSuffix(s, sort)) {
			t.Fatalf("Key.String() = %q for %#v", s, k)
		}
	})
}

// FuzzRecordClone checks that Clone is deep and Equal reflexive and
// symmetric: a store that returns clones can never let a caller change its
// records.
func FuzzRecordClone(f *testing.F) {
	f.Add("k", "alice", "v1", uint64(1), []byte("data"), "color", "blue", false)
	f.Add("k", "", "", uint64(0), []byte(nil), "", "", true)
	f.Add("k\x00", "bob\xff", "v", uint64(1<<63), []byte{0}, "#a", ":b", false)
	f.Fuzz(func(t *testing.T, key, owner, version string, token uint64, data []byte, name, value string, released bool) {
		r := backend.Record{Key: backend.Key{Partition: key}, Owner: owner, Version: version, Token: token,
			Data: data, Released: released}
		if name != "" {
			r.Attributes = map[string]string{name: value}
		}
		c := r.Clone()
		if !c.Equal(r) || !r.Equal(c) {
			t.Fatalf("a clone differs from its record: %#v vs %#v", c, r)
		}
		if len(c.Data) > 0 {
			c.Data[0]++
			if c.Equal(r) {
				t.Fatal("changing a clone's data changed the record's")
			}
		}
		if c.Attributes != nil {
			c.Attributes[name] = value + "x"
			if r.Attributes[name] != value {
				t.Fatal("changing a clone's attributes changed the record's")
			}
		}
	})
}
