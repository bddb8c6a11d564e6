package backend

import (
	"fmt"
	"unicode/utf8"
)

// ValidateKey is the check every store applies before touching storage: a
// non-empty, valid UTF-8 partition key and a valid UTF-8 sort key, each at
// most maxLen bytes (0: no limit). It returns an error wrapping
// ErrInvalidKey (and so ErrInvalid).
func ValidateKey(k Key, maxLen int) error {
	switch {
	case k.Partition == "":
		return fmt.Errorf("%w: empty partition key", ErrInvalidKey)
	case !utf8.ValidString(k.Partition) || !utf8.ValidString(k.Sort):
		return fmt.Errorf("%w: key %q is not valid UTF-8", ErrInvalidKey, k)
	case maxLen > 0 && (len(k.Partition) > maxLen || len(k.Sort) > maxLen):
		return fmt.Errorf("%w: key longer than %d bytes", ErrInvalidKey, maxLen)
	}
	return nil
}
