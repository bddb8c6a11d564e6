package main

import (
	"encoding/json"
	"testing"

	"github.com/leaselock/leaselock/internal/testservers"
)

func TestTable(t *testing.T) {
	t.Parallel()
	for _, kind := range []testservers.Kind{testservers.Dynalite, testservers.Moto} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := testservers.Get(t, kind)
			table := testservers.TableName(t)
			base := "dynamodb://" + table + "?endpoint=" + srv.Endpoint
			full := base + "&sk=part&ttl=expiresAt"

			r := mustCLI(t, "table", "create", "--store", base, "--sort-key", "part", "--ttl", "expiresAt", "--tag", "team=infra")
			requireContains(t, r.stdout, `created table "`+table+`": partition key "key", sort key "part", on-demand`,
				"store URL: "+full)
			if kind == testservers.Moto {
				requireContains(t, r.stdout, `TTL enabled on "expiresAt"`)
			} else {
				requireContains(t, r.stdout, `this server has no TTL; "expiresAt" is still written`)
			}

			r = mustCLI(t, "table", "describe", "--store", full)
			requireContains(t, r.stdout, "status     ACTIVE", "partition  key (S)", "sort key   part (S)",
				"billing    PAY_PER_REQUEST", "matches the table's key schema")
			if kind == testservers.Moto {
				requireContains(t, r.stdout, `TTL        ENABLED on "expiresAt"`)
			}

			r = mustCLI(t, "table", "describe", "--store", full, "--json")
			var d tableDescription
			if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
				t.Fatalf("describe --json: %v\n%s", err, r.stdout)
			}
			if d.Table != table || d.Status != "ACTIVE" || d.SortKey != "part (S)" || !d.Matches {
				t.Errorf("describe --json: %+v", d)
			}

			// The URL without sk= does not describe this table.
			r = cli(t, nil, "table", "describe", "--store", base)
			requireCode(t, r, exitConfig)
			requireContains(t, r.stdout, "DOES NOT MATCH", `table has sort key "part"`)

			r = cli(t, nil, "table", "create", "--store", full)
			requireCode(t, r, exitRefused)
			requireContains(t, r.stderr, "already exists", "--if-not-exists")
			r = mustCLI(t, "table", "create", "--store", full, "--if-not-exists")
			requireContains(t, r.stdout, "already exists")

			prov := "dynamodb://" + testservers.TableName(t) + "?endpoint=" + srv.Endpoint
			mustCLI(t, "table", "create", "--store", prov, "--billing", "provisioned", "--read", "2", "--write", "3")
			r = mustCLI(t, "table", "describe", "--store", prov)
			requireContains(t, r.stdout, "billing    PROVISIONED (read 2, write 3)", "sort key   -")
		})
	}
}
