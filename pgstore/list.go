package pgstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/leaselock/leaselock/backend"
)

const defaultPageSize = 100

// List implements backend.Lister. Records come in primary-key order; the
// page token is the last key returned, so a page is one index range scan
// however deep the listing goes.
func (s *Store) List(ctx context.Context, req backend.ListRequest) (backend.ListPage, error) {
	if err := ctx.Err(); err != nil {
		return backend.ListPage{}, err
	}
	var after backend.Key
	hasAfter := req.PageToken != ""
	if hasAfter {
		var err error
		if after, err = decodePageToken(req.PageToken); err != nil {
			return backend.ListPage{}, err
		}
	}
	limit := req.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	// One row more than asked tells whether another page follows.
	rows, err := s.pool.Query(ctx, s.sql.list, req.Partition, hasAfter, after.Partition, after.Sort, limit+1)
	if err != nil {
		return backend.ListPage{}, readErr(ctx, "list", backend.Key{Partition: req.Partition}, err)
	}
	defer rows.Close()
	var page backend.ListPage
	for rows.Next() {
		var key backend.Key
		r := row{found: true}
		if err := rows.Scan(&key.Partition, &key.Sort, &r.owner, &r.version, &r.token, &r.leaseNs,
			&r.data, &r.released, &r.attrs); err != nil {
			return backend.ListPage{}, readErr(ctx, "list", key, err)
		}
		rec, err := r.record(key)
		if err != nil {
			return backend.ListPage{}, err
		}
		page.Records = append(page.Records, rec)
	}
	if err := rows.Err(); err != nil {
		return backend.ListPage{}, readErr(ctx, "list", backend.Key{Partition: req.Partition}, err)
	}
	if len(page.Records) > limit {
		page.Records = page.Records[:limit]
		page.Next = encodePageToken(page.Records[limit-1].Key)
	}
	return page, nil
}

type pageToken struct {
	P string `json:"p"`
	S string `json:"s"`
}

func encodePageToken(k backend.Key) string {
	b, _ := json.Marshal(pageToken{P: k.Partition, S: k.Sort}) // two strings cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (backend.Key, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil {
		return backend.Key{}, fmt.Errorf("%w: pgstore: bad page token: %w", backend.ErrInvalid, err)
	}
	return backend.Key{Partition: t.P, Sort: t.S}, nil
}
