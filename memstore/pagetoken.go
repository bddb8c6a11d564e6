package memstore

import (
	"encoding/json"
	"fmt"

	"github.com/leaselock/leaselock/backend"
)

// Page tokens are the JSON of the last key returned: opaque to callers,
// stable across inserts and deletes between pages.

func encodeToken(k backend.Key) string {
	b, _ := json.Marshal([2]string{k.Partition, k.Sort}) // cannot fail for strings
	return string(b)
}

func decodeToken(tok string) (backend.Key, error) {
	var parts [2]string
	if err := json.Unmarshal([]byte(tok), &parts); err != nil {
		return backend.Key{}, fmt.Errorf("%w: bad page token: %v", backend.ErrInvalid, err)
	}
	return backend.Key{Partition: parts[0], Sort: parts[1]}, nil
}
