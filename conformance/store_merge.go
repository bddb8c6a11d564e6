package conformance

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/backend"
)

// acquireMergeCases check what an acquisition keeps of the record it
// replaces. Attributes merge on every write, Acquire included, whether the
// key was released or taken over; KeepData keeps the old data when the new
// record has none (nil and empty alike, since stores need not tell them
// apart), on a takeover too.
func acquireMergeCases() []storeCase {
	return []storeCase{
		{name: "Acquire/AttributesMerge", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			old := map[string]string{"team": "payments", "job": "nightly"}
			t.Run("absent", func(t *testing.T) {
				rec := lease(e.key(), "bob")
				rec.Attributes = map[string]string{"job": "hourly"}
				got := acquireFree(t, ctx, e.b, rec)
				require.Equal(t, rec.Attributes, got.Record.Attributes)
				requireStored(t, ctx, e.a, got.Record)
			})
			for _, how := range []string{"released", "takeover"} {
				for _, set := range []map[string]string{{"job": "hourly"}, nil} {
					t.Run(fmt.Sprintf("%s/setting=%d", how, len(set)), func(t *testing.T) {
						prior := lease(e.key(), "alice")
						prior.Attributes = old
						replaced := acquireFree(t, ctx, e.a, prior).Record
						req := backend.AcquireRequest{Record: lease(prior.Key, "bob")}
						req.Record.Attributes = set
						if how == "released" {
							replaced = release(t, ctx, e.a, replaced)
						} else {
							req.ExpectVersion = replaced.Version
						}
						got, err := e.b.Acquire(ctx, req)
						require.NoError(t, err)
						want := map[string]string{"team": "payments", "job": "nightly"}
						for k, v := range set {
							want[k] = v
						}
						require.Equal(t, want, got.Record.Attributes, "Acquire must merge attributes into the replaced record's")
						require.NotNil(t, got.Replaced)
						requireSameRecord(t, replaced, *got.Replaced)
						requireStored(t, ctx, e.a, got.Record)
					})
				}
			}
		}},
		{name: "Acquire/DataOnAcquire", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			datas := []struct {
				name string
				data []byte
			}{{"nil", nil}, {"empty", []byte{}}, {"new", []byte("new")}}
			for _, how := range []string{"absent", "released", "takeover"} {
				for _, keep := range []bool{false, true} {
					for _, d := range datas {
						t.Run(fmt.Sprintf("%s/keepData=%v/data=%s", how, keep, d.name), func(t *testing.T) {
							key := e.key()
							req := backend.AcquireRequest{Record: lease(key, "bob"), KeepData: keep}
							req.Record.Data = d.data
							if how != "absent" {
								prior := lease(key, "alice")
								prior.Data = []byte("old")
								held := acquireFree(t, ctx, e.a, prior).Record
								if how == "released" {
									release(t, ctx, e.a, held)
								} else {
									req.ExpectVersion = held.Version
								}
							}
							var want []byte
							switch {
							case len(d.data) > 0:
								want = d.data
							case keep && how != "absent":
								want = []byte("old")
							}
							got, err := e.b.Acquire(ctx, req)
							require.NoError(t, err)
							require.Equal(t, string(want), string(got.Record.Data), "data of the acquired record")
							requireStored(t, ctx, e.a, got.Record)
						})
					}
				}
			}
		}},
		{name: "Records/VersionWrittenAsGiven", run: func(t *testing.T, ctx context.Context, e *storeEnv) {
			// The version is the caller's: the engine recognises its own
			// write by it, so a store must not generate, trim or re-encode it.
			rec := lease(e.key(), "alice")
			rec.Version = "v/ü 🔒 " + newVersion() + " "
			got := acquireFree(t, ctx, e.a, rec).Record
			requireStored(t, ctx, e.b, got)
			next := got
			next.Version = "  " + newVersion() + "\t+=%"
			upd, err := e.a.Update(ctx, next, rec.Version)
			require.NoError(t, err)
			require.Equal(t, next.Version, upd.Version)
			requireStored(t, ctx, e.b, upd)
		}},
	}
}
