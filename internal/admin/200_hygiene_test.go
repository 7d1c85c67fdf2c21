package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// hygieneEnv is the tenants stack 40 days after its keys were made:
//
//	alice  red   keys:self admin key; data key "chatbot", used 5 days ago
//	             for 3 calls to chatbot/gpt-4o-mini
//	bob    red   keys:team admin key
//	dave   red   data key "chatbot", never used
//	carol  blue  data key "chatbot", never used
//
// and root (ops) with its admin key, all made at t0 with the default
// lifetime of 90 days.
func newHygieneEnv(t *testing.T, cfg envConfig) *tenants {
	t.Helper()
	cfg.usage = cfg.usageReader == nil
	env := newTenantsWith(t, cfg)
	env.clock.Advance(40 * 24 * time.Hour)
	used := t0.Add(35 * 24 * time.Hour)
	if err := env.db.TouchKeys(t.Context(), map[apikey.ID]time.Time{env.aliceData: used}); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
	err := env.usage.Add(t.Context(), []usage.Record{{Hour: used, Key: env.aliceData, Principal: "alice@example.com",
		Team: "red", Feature: "chatbot", Model: "gpt-4o-mini", Requests: 3}})
	if err != nil {
		t.Fatalf("seed usage: %v", err)
	}
	return env
}

// TestHygieneDefault checks the whole answer to a bare GET by an admin.
func TestHygieneDefault(t *testing.T) {
	env := newHygieneEnv(t, envConfig{})
	got := call[admin.HygieneReport](t, env.testEnv, request{method: "GET", path: "/admin/v1/hygiene", key: env.rootKey}, 200)
	now := t0.Add(40 * 24 * time.Hour)
	never := func(id apikey.ID, principal string) admin.HygieneUnusedKey {
		return admin.HygieneUnusedKey{ID: string(id), Principal: principal, Status: "active", CreatedAt: t0, IdleDays: 40}
	}
	idle := func(id apikey.ID, principal string) admin.HygieneUnexercisedKey {
		return admin.HygieneUnexercisedKey{ID: string(id), Principal: principal, Status: "active",
			Scopes: []string{"chatbot"}, Unexercised: []string{"chatbot"}, Suggested: []string{}}
	}
	want := admin.HygieneReport{
		GeneratedAt: now,
		Policy:      admin.HygienePolicy{UnusedDays: 30, UnexercisedDays: 30, MaxTTL: "365d", SprawlKeys: 10},
		// The last 30 days, to the end of the current hour.
		UsageFrom: time.Date(2030, 1, 12, 3, 0, 0, 0, time.UTC), UsageTo: time.Date(2030, 2, 11, 4, 0, 0, 0, time.UTC),
		// root's, alice's and bob's admin keys and three data keys.
		KeysChecked: 6,
		Unused: sortedBy(func(k admin.HygieneUnusedKey) string { return k.ID },
			never(env.carolData, "carol@example.com"), never(env.daveData, "dave@example.com")),
		// Most unexercised scopes first, ties by id.
		Unexercised: append(sortedBy(func(k admin.HygieneUnexercisedKey) string { return k.ID },
			idle(env.carolData, "carol@example.com"), idle(env.daveData, "dave@example.com")),
			admin.HygieneUnexercisedKey{ID: string(env.aliceData), Principal: "alice@example.com", Status: "active",
				Scopes: []string{"chatbot"}, Unexercised: []string{}, Suggested: []string{"chatbot:gpt-4o-mini"}}),
		LongLived: []admin.HygieneLongLivedKey{},
		Sprawl:    []admin.HygieneSprawl{},
	}
	diff(t, "report", got, want)
}

// sortedBy returns items sorted by the key of each.
func sortedBy[T any](key func(T) string, items ...T) []T {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return items
}

// Each role sees the keys within its reach, as with the key lists. The
// order of sections is checked above; keys are compared as sets here.
func TestHygieneScoped(t *testing.T) {
	env := newHygieneEnv(t, envConfig{})
	tests := []struct {
		name        string
		caller      string
		query       string
		unused      []apikey.ID
		unexercised []apikey.ID
		sprawl      []string
	}{
		{"Admin", env.rootKey, "sprawl_keys=1", []apikey.ID{env.carolData, env.daveData},
			[]apikey.ID{env.carolData, env.daveData, env.aliceData}, []string{"alice@example.com red 2"}},
		{"Team", env.bobAdmin, "sprawl_keys=1", []apikey.ID{env.daveData},
			[]apikey.ID{env.daveData, env.aliceData}, []string{"alice@example.com red 2"}},
		{"Self", env.aliceAdmin, "sprawl_keys=1", nil, []apikey.ID{env.aliceData}, []string{"alice@example.com red 2"}},
		// With windows of 4 days, alice's calls and last use are out of
		// them.
		{"SelfShortWindows", env.aliceAdmin, "unused_days=4&unexercised_days=4", []apikey.ID{env.aliceData}, []apikey.ID{env.aliceData}, nil},
		// 0 lists every data key, and every principal with a key.
		{"Zero", env.bobAdmin, "unused_days=0&unexercised_days=0&sprawl_keys=0", []apikey.ID{env.daveData, env.aliceData},
			[]apikey.ID{env.daveData, env.aliceData}, []string{"alice@example.com red 2", "bob@example.com red 1", "dave@example.com red 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call[admin.HygieneReport](t, env.testEnv, request{method: "GET", path: "/admin/v1/hygiene?" + tt.query, key: tt.caller}, 200)
			var unused, unexercised []apikey.ID
			for _, k := range got.Unused {
				unused = append(unused, apikey.ID(k.ID))
			}
			for _, k := range got.Unexercised {
				unexercised = append(unexercised, apikey.ID(k.ID))
			}
			var sprawl []string
			for _, s := range got.Sprawl {
				sprawl = append(sprawl, fmt.Sprintf("%s %s %d", s.Principal, s.Team, s.ActiveKeys))
			}
			slices.Sort(sprawl)
			diff(t, "unused", sortedIDs(unused), sortedIDs(tt.unused))
			diff(t, "unexercised", sortedIDs(unexercised), sortedIDs(tt.unexercised))
			diff(t, "sprawl", sprawl, tt.sprawl)
		})
	}
	// A team admin of no team sees nothing.
	env.principal(t, apikey.PrincipalSpec{ID: "loner@example.com", Scopes: []string{"keys:team"}})
	_, loner := env.adminKey(t, "loner@example.com", "keys:team")
	got := call[admin.HygieneReport](t, env.testEnv, request{method: "GET", path: "/admin/v1/hygiene?unused_days=0", key: loner}, 200)
	if got.KeysChecked != 0 || len(got.Unused) != 0 {
		t.Errorf("team admin without a team: %d keys checked, %d unused; want none", got.KeysChecked, len(got.Unused))
	}
}

func sortedIDs(ids []apikey.ID) []apikey.ID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Keys issued under a longer maximum lifetime than the server's now are
// listed; revoked ones are not.
func TestHygieneLongLived(t *testing.T) {
	env := newHygieneEnv(t, envConfig{})
	if _, err := env.issuer.RevokeKey(t.Context(), apikey.SystemActor, env.carolData); err != nil {
		t.Fatal(err)
	}
	// The same store, served by an Issuer whose keys.max_ttl was lowered
	// to 60 days: every key here lives 90.
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		t.Fatal(err)
	}
	strict := apikey.NewIssuer(apikey.IssuerConfig{Store: env.db, Hasher: hasher, Now: env.clock.Now, MaxTTL: 60*24*time.Hour + 12*time.Hour})
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Logger: slog.New(slog.DiscardHandler), Issuer: strict,
		Verifier: env.verifier, Usage: env.usage, Now: env.clock.Now}))
	t.Cleanup(srv.Close)
	strictEnv := *env.testEnv
	strictEnv.srv = srv
	got := call[admin.HygieneReport](t, &strictEnv, request{method: "GET", path: "/admin/v1/hygiene", key: env.bobAdmin}, 200)
	if got.Policy.MaxTTL != "60d12h0m0s" {
		t.Errorf("policy max_ttl = %q, want 60d12h0m0s", got.Policy.MaxTTL)
	}
	expires := t0.Add(90 * 24 * time.Hour)
	key := func(id apikey.ID, principal, kind string) admin.HygieneLongLivedKey {
		return admin.HygieneLongLivedKey{ID: string(id), Principal: principal, Kind: kind, Status: "active",
			CreatedAt: t0, ExpiresAt: &expires, Lifetime: "90d"}
	}
	want := sortedBy(func(k admin.HygieneLongLivedKey) string { return k.ID },
		key(env.aliceAdminID, "alice@example.com", "admin"), key(env.aliceData, "alice@example.com", "data"),
		key(env.bobAdminID, "bob@example.com", "admin"), key(env.daveData, "dave@example.com", "data"))
	diff(t, "long_lived", got.LongLived, want)
}

// splitUsage answers as the usage store does, but refuses as too large
// every query without a key filter, except those of principals in
// allowed: the report must then ask principal by principal, and key by
// key for the others.
type splitUsage struct {
	next    admin.UsageReader
	allowed map[apikey.PrincipalID]bool

	mu      sync.Mutex
	queries []string
}

func (s *splitUsage) Query(ctx context.Context, q usage.Query) ([]usage.Row, error) {
	s.mu.Lock()
	s.queries = append(s.queries, fmt.Sprintf("principal=%s key=%s", q.Principal, q.Key))
	s.mu.Unlock()
	if q.Key == "" && !s.allowed[q.Principal] {
		return nil, usage.ErrTooManyRows
	}
	return s.next.Query(ctx, q)
}

func TestHygieneTooManyRows(t *testing.T) {
	split := &splitUsage{allowed: map[apikey.PrincipalID]bool{"dave@example.com": true, "carol@example.com": true}}
	env := newHygieneEnv(t, envConfig{usageReader: split})
	split.next = env.usage
	got := call[admin.HygieneReport](t, env.testEnv, request{method: "GET", path: "/admin/v1/hygiene", key: env.rootKey}, 200)
	i := slices.IndexFunc(got.Unexercised, func(k admin.HygieneUnexercisedKey) bool { return k.ID == string(env.aliceData) })
	if i < 0 || !slices.Equal(got.Unexercised[i].Suggested, []string{"chatbot:gpt-4o-mini"}) {
		t.Errorf("unexercised = %+v, want alice's key with the suggestion chatbot:gpt-4o-mini", got.Unexercised)
	}
	if len(got.Unexercised) != 3 {
		t.Errorf("unexercised lists %d keys, want 3", len(got.Unexercised))
	}
	slices.Sort(split.queries)
	want := []string{"principal= key=", "principal=alice@example.com key=", "principal=alice@example.com key=" + string(env.aliceData),
		"principal=carol@example.com key=", "principal=dave@example.com key="}
	diff(t, "queries", split.queries, want)
}
