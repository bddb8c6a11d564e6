package dynamostore_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// TestListSortKeysAndAppItems lists a sort-key table that also holds
// application items: Query for one partition, Scan for all, both paginated,
// application items left out.
func TestListSortKeysAndAppItems(t *testing.T) {
	onServers(t, func(t *testing.T, kind testservers.Kind) {
		e := newEnv(t, kind, &dynamostore.Options{SortKeyName: "sk"})
		c := ctx(t)
		for _, p := range []string{"p1", "p2"} {
			for i := range 5 {
				rec := lease(p, "alice")
				rec.Key.Sort = fmt.Sprint("s", i)
				_, err := e.store.Acquire(c, backend.AcquireRequest{Record: rec})
				require.NoError(t, err)
			}
			_, err := e.client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(e.table),
				Item: item{"key": s(p), "sk": s("app"), "payload": s("not a lock")}})
			require.NoError(t, err)
		}
		collect := func(req backend.ListRequest) []string {
			var keys []string
			for range 50 {
				page, err := e.store.List(c, req)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page.Records), req.Limit)
				for _, r := range page.Records {
					require.Equal(t, "alice", r.Owner)
					keys = append(keys, r.Key.String())
				}
				if page.Next == "" {
					sort.Strings(keys)
					return keys
				}
				req.PageToken = page.Next
			}
			t.Fatal("listing does not end")
			return nil
		}
		require.Equal(t, []string{"p2/s0", "p2/s1", "p2/s2", "p2/s3", "p2/s4"},
			collect(backend.ListRequest{Partition: "p2", Limit: 2}))
		require.Len(t, collect(backend.ListRequest{Limit: 3}), 10)
	})
}
