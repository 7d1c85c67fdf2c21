package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// narrowConfig serves the built-in chat feature with mock-small only, so
// scopes granted under the built-in default (mock-large, mock-*) dangle.
const narrowConfig = `
upstreams:
  mock: {kind: mock}
features:
  chat:
    upstream: mock
    endpoints: [chat.completions]
    models: [mock-small]
`

// seededStore is an SQLite store with principals and keys made under the
// built-in default config, which serves everything below.
type seededStore struct {
	*sqlite.DB
	keys map[string]apikey.ID // by name
}

func newSeededStore(t *testing.T, dir string) *seededStore {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "scopegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &seededStore{DB: db, keys: seed(t, db)}
}

// seed creates, under the built-in config, principals admin, alice
// (ceiling chat:mock-small, chat:mock-large and keys:self) and bob (chat),
// and keys of theirs, one of them revoked. It returns the key ids by name.
func seed(t *testing.T, st apikey.Store) map[string]apikey.ID {
	t.Helper()
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: st, Hasher: hasher})
	ctx := t.Context()
	for _, spec := range []apikey.PrincipalSpec{
		{ID: "admin", Scopes: []string{"admin"}},
		{ID: "alice", Scopes: []string{"chat:mock-small", "chat:mock-large", "keys:self"}},
		{ID: "bob", Scopes: []string{"chat"}},
	} {
		if _, err := issuer.CreatePrincipal(ctx, apikey.SystemActor, spec); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]apikey.ID{}
	for _, k := range []struct {
		name string
		spec apikey.KeySpec
	}{
		{"alice-small", apikey.KeySpec{Principal: "alice", Scopes: []string{"chat:mock-small"}}},
		{"alice-large", apikey.KeySpec{Principal: "alice", Scopes: []string{"chat:mock-large", "chat:mock-small"}}},
		{"alice-revoked", apikey.KeySpec{Principal: "alice", Scopes: []string{"chat:mock-large"}}},
		{"alice-admin", apikey.KeySpec{Principal: "alice", Class: apikey.ClassAdmin, Scopes: []string{"keys:self"}}},
		{"bob-all", apikey.KeySpec{Principal: "bob", Scopes: []string{"chat"}}},
		{"bob-prefix", apikey.KeySpec{Principal: "bob", Scopes: []string{"chat:mock-e*"}}},
	} {
		rec, _, err := issuer.CreateKey(ctx, apikey.SystemActor, k.spec)
		if err != nil {
			t.Fatalf("CreateKey(%s): %v", k.name, err)
		}
		ids[k.name] = rec.ID
	}
	if _, err := issuer.RevokeKey(ctx, apikey.SystemActor, ids["alice-revoked"]); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestDanglingScopes(t *testing.T) {
	s := newSeededStore(t, t.TempDir())
	narrow, err := config.Parse([]byte(narrowConfig), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	const large = `scope "chat:mock-large" names a resource that feature "chat" does not serve (it serves chat:mock-small)`
	const prefix = `scope "chat:mock-e*" names a resource that feature "chat" does not serve (it serves chat:mock-small)`
	// Not the revoked key, nor the admin role in alice's ceiling.
	wantNarrow := []string{
		"principal alice: " + large,
		"key " + string(s.keys["alice-large"]) + " (principal alice): " + large,
		"key " + string(s.keys["bob-prefix"]) + " (principal bob): " + prefix,
	}
	tests := []struct {
		name  string
		cfg   *config.Config
		store apikey.Store
		want  []string
	}{
		{"AllServed", config.Default(), s, nil},
		{"Narrowed", narrow, s, wantNarrow},
		{"NarrowedOnePerPage", narrow, onePerPage{s}, wantNarrow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := danglingScopes(t.Context(), tt.store, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Store order is by id, and key ids are random.
			if d := cmp.Diff(sortedLines(tt.want), sortedLines(got)); d != "" {
				t.Errorf("danglingScopes mismatch (-want +got):\n%s", d)
			}
		})
	}

	t.Run("FeatureGone", func(t *testing.T) {
		other, err := config.Parse([]byte(strings.ReplaceAll(narrowConfig, "chat:", "assistant:")), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := danglingScopes(t.Context(), s, other)
		if err != nil {
			t.Fatal(err)
		}
		// alice's ceiling (2 data scopes), bob's (1), and the 5 scopes of
		// the 4 data keys that are not revoked.
		if len(got) != 3+5 {
			t.Errorf("got %d lines, want 8:\n%s", len(got), strings.Join(got, "\n"))
		}
		for _, l := range got {
			if !strings.Contains(l, `names feature "chat", which is not declared (declared: assistant)`) {
				t.Errorf("line %q does not name the missing feature", l)
			}
		}
	})

	t.Run("StoreFails", func(t *testing.T) {
		closed := newSeededStore(t, t.TempDir())
		closed.Close()
		if _, err := danglingScopes(t.Context(), closed, narrow); err == nil {
			t.Error("danglingScopes on a closed store succeeded")
		}
	})
}

// sortedLines returns lines sorted, nil when there are none.
func sortedLines(lines []string) []string {
	if len(lines) == 0 {
		return nil
	}
	return slices.Sorted(slices.Values(lines))
}

// onePerPage is a store that answers lists a single item at a time, so
// the scan must follow every cursor.
type onePerPage struct{ apikey.Store }

func (s onePerPage) Principals(ctx context.Context, f apikey.PrincipalFilter) (apikey.Page[apikey.Principal], error) {
	f.Limit = 1
	return s.Store.Principals(ctx, f)
}

func (s onePerPage) Keys(ctx context.Context, f apikey.KeyFilter) (apikey.Page[apikey.Key], error) {
	f.Limit = 1
	return s.Store.Keys(ctx, f)
}
