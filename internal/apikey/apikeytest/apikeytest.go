// Package apikeytest is the conformance suite for [apikey.Store]. Every
// store adapter runs it from its tests with a one-line [Run] call, so the
// SQLite and PostgreSQL stores are held to the same behaviour, down to the
// order of lists and the precision of times.
//
// # What it checks
//
//   - every field of principals and keys round-trips: scope sets, client
//     networks, limits (cost limits to the micro-dollar, up to the largest
//     Micros), hashes, and times in UTC to the microsecond, with the zero
//     time as zero; through create, update and rotate;
//   - ErrConflict on duplicate ids, ErrNotFound on missing ones;
//   - list filters alone and combined, byte-ordered ids, and pagination that
//     visits every row once;
//   - UpdateKey and UpdatePrincipal are atomic, serialize concurrent
//     callers, and return what they stored;
//   - TouchKeys writes batches and never moves last_used_at backwards;
//   - Rotate is all or nothing and honours idempotency records.
//
// The package imports testing, so only tests may import it.
package apikeytest

import (
	"crypto/sha256"
	"errors"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call and close it when its test ends (with t.Cleanup); the suite's
// tests run in parallel, so open must be safe to call concurrently.
func Run(t *testing.T, open func(t *testing.T) apikey.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Principals", principalTests()},
		{"Keys", keyTests()},
		{"Lists", listTests()},
		{"Update", updateTests()},
		{"TouchKeys", touchTests()},
		{"Rotate", rotateTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.run(t, open(t))
				})
			}
		})
	}
}

// test is one behaviour, checked against a fresh store.
type test struct {
	name string
	run  func(t *testing.T, s apikey.Store)
}

// errAbort is what callbacks return to abort a transaction.
var errAbort = errors.New("apikeytest: callback aborted")

// at returns a fixed instant plus d. Its precision is one microsecond, the
// finest that every store keeps.
func at(d time.Duration) time.Time {
	return time.Date(2025, time.March, 14, 15, 9, 26, 535_897_000, time.UTC).Add(d)
}

// diff compares stored records: scope sets by their scopes, times as
// instants (a store returns them in UTC), and nil as empty.
func diff(want, got any) string {
	return cmp.Diff(want, got,
		cmp.Transformer("Strings", func(s scope.Set) []string { return s.Strings() }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
		cmpopts.EquateEmpty(),
	)
}

func newPrincipal(id apikey.PrincipalID, team string) apikey.Principal {
	return apikey.Principal{
		ID:       id,
		Kind:     apikey.KindService,
		Audience: apikey.AudienceExternal,
		Team:     team,
		Ceiling:  scope.MustParseSet("chatbot", "code-generation:claude-sonnet-4-*", "data-retrieval:hr-docs", "keys:self"),
		Status:   apikey.PrincipalActive,
		Limits: apikey.Limits{RequestsPerMinute: 1, TokensPerMinute: 2, Concurrent: 3, TokensPerDay: 4, TokensPerMonth: 5,
			CostPerDay: 12_500_000, CostPerMonth: 250_000_001},
		CreatedAt: at(0),
		UpdatedAt: at(time.Hour),
		CreatedBy: "system",
		UpdatedBy: "admin@example.com/AdminKeyId00001",
	}
}

// newKey returns a key with every field set to a distinct value, so a
// store that swaps two columns is caught.
func newKey(id apikey.ID, p apikey.PrincipalID) apikey.Key {
	return apikey.Key{
		ID:        id,
		Class:     apikey.ClassData,
		Name:      "ci pipeline — ünïcode",
		Principal: p,
		Scopes:    scope.MustParseSet("chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*", "data-retrieval"),
		Env:       apikey.EnvTest,
		NotBefore: at(time.Minute),
		ExpiresAt: at(90 * 24 * time.Hour),
		CIDRs: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("192.168.1.7/32"),
		},
		// The largest cost checks that stores keep all 64 bits of micros.
		Limits: apikey.Limits{RequestsPerMinute: 10, TokensPerMinute: 20, Concurrent: 30, TokensPerDay: 40, TokensPerMonth: 50,
			CostPerDay: 60, CostPerMonth: math.MaxInt64},
		Status:     apikey.StatusActive,
		Hash:       apikey.Hash(sha256.Sum256([]byte(id))),
		Last4:      "x9Z0",
		LastUsedAt: at(2 * time.Minute),
		CreatedAt:  at(0),
		UpdatedAt:  at(3 * time.Minute),
		CreatedBy:  "admin@example.com/AdminKeyId00001",
		UpdatedBy:  "team-lead@example.com/AdminKeyId00002",
	}
}

// mustCreatePrincipals stores ps or fails the test.
func mustCreatePrincipals(t *testing.T, s apikey.Store, ps ...apikey.Principal) {
	t.Helper()
	for _, p := range ps {
		if err := s.CreatePrincipal(t.Context(), p); err != nil {
			t.Fatalf("CreatePrincipal(%s) = %v", p.ID, err)
		}
	}
}

// mustCreateKeys stores ks or fails the test.
func mustCreateKeys(t *testing.T, s apikey.Store, ks ...apikey.Key) {
	t.Helper()
	for _, k := range ks {
		if err := s.CreateKey(t.Context(), k); err != nil {
			t.Fatalf("CreateKey(%s) = %v", k.ID, err)
		}
	}
}

// mustKey returns the stored key id or fails the test.
func mustKey(t *testing.T, s apikey.Store, id apikey.ID) apikey.Key {
	t.Helper()
	k, err := s.Key(t.Context(), id)
	if err != nil {
		t.Fatalf("Key(%s) = %v", id, err)
	}
	return k
}

// mustPrincipal returns the stored principal id or fails the test.
func mustPrincipal(t *testing.T, s apikey.Store, id apikey.PrincipalID) apikey.Principal {
	t.Helper()
	p, err := s.Principal(t.Context(), id)
	if err != nil {
		t.Fatalf("Principal(%s) = %v", id, err)
	}
	return p
}

// wantKey checks that key id is stored exactly as want.
func wantKey(t *testing.T, s apikey.Store, want apikey.Key) {
	t.Helper()
	if d := diff(want, mustKey(t, s, want.ID)); d != "" {
		t.Errorf("stored key %s differs (-want +got):\n%s", want.ID, d)
	}
}

// wantNoKey checks that no key id is stored.
func wantNoKey(t *testing.T, s apikey.Store, id apikey.ID) {
	t.Helper()
	if k, err := s.Key(t.Context(), id); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Key(%s) = %+v, %v; want ErrNotFound", id, k.ID, err)
	}
}

// checkUTC reports times that a store returned in a zone other than UTC.
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: time %d is in %v, want UTC", what, i, tm.Location())
		}
	}
}

func keyTimes(k apikey.Key) []time.Time {
	return []time.Time{k.NotBefore, k.ExpiresAt, k.LastUsedAt, k.CreatedAt, k.UpdatedAt, k.RevokedAt}
}

// ids returns the ids of items, in order.
func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, v := range items {
		out[i] = id(v)
	}
	return out
}

func keyID(k apikey.Key) string             { return string(k.ID) }
func principalID(p apikey.Principal) string { return string(p.ID) }

// sortedIDs returns the ids of items in byte order, the order of lists.
func sortedIDs[T any](items []T, id func(T) string) []string {
	return slices.Sorted(slices.Values(ids(items, id)))
}
