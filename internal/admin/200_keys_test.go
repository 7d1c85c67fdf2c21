package admin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
)

// Successful key operations, and the JSON they answer.

const alice = "alice@example.com"

// newAliceEnv is a test stack with the principal alice (team red) whose
// ceiling holds some data scopes and the keys:self role.
func newAliceEnv(t *testing.T) *testEnv {
	t.Helper()
	env := newTestEnv(t)
	env.principal(t, apikey.PrincipalSpec{ID: alice, Team: "red",
		Scopes: []string{"chatbot", "code-generation:claude-*", "keys:self"}})
	return env
}

// checkNewKey checks that got carries a new key of the given prefix
// ("sgk_live_") that matches its record and verifies, and returns the
// record without the key.
func checkNewKey(t *testing.T, env *testEnv, got admin.Key, prefix string) admin.Key {
	t.Helper()
	if want := prefix + got.ID + "_"; !strings.HasPrefix(got.Key, want) {
		t.Errorf("key does not start with %q", want)
	}
	if len(got.Key) != apikey.KeyLen || !strings.HasSuffix(got.Key, got.Last4) || len(got.Last4) != 4 {
		t.Errorf("key of %d characters with last4 %q: want %d characters ending in last4", len(got.Key), got.Last4, apikey.KeyLen)
	}
	class := apikey.ClassData
	if got.Kind == "admin" {
		class = apikey.ClassAdmin
	}
	err := env.verify(t, got.Key, class)
	if notYet := got.NotBefore != nil && got.NotBefore.After(env.clock.Now()); notYet && !errors.Is(err, apikey.ErrKeyNotYetValid) {
		t.Errorf("Verify(new key) = %v, want ErrKeyNotYetValid", err)
	} else if !notYet && err != nil {
		t.Errorf("Verify(new key) = %v", err)
	}
	got.Key = ""
	return got
}

func TestCreateKey(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		prefix string
		want   admin.Key
	}{
		{
			name: "Data",
			body: `{"principal":"alice@example.com","name":"ci","scopes":["chatbot:gpt-4o","code-generation:claude-sonnet-4-*"],
				"ttl":"30d","cidrs":["10.0.0.0/8","127.0.0.1"],"limits":{"concurrent":4,"tokens_per_month":1000000}}`,
			prefix: "sgk_live_",
			want: admin.Key{Kind: "data", Name: "ci", Scopes: []string{"chatbot:gpt-4o", "code-generation:claude-sonnet-4-*"},
				Env: "live", ExpiresAt: t0.Add(30 * 24 * time.Hour), CIDRs: []string{"10.0.0.0/8", "127.0.0.1/32"},
				Limits: apikey.Limits{Concurrent: 4, TokensPerMonth: 1000000}},
		},
		{
			name:   "CostLimits",
			body:   `{"principal":"alice@example.com","scopes":["chatbot"],"limits":{"cost_per_day":12.5,"cost_per_month":0.000001}}`,
			prefix: "sgk_live_",
			want: admin.Key{Kind: "data", Scopes: []string{"chatbot"}, Env: "live",
				ExpiresAt: t0.Add(apikey.DefaultTTL), CIDRs: []string{},
				Limits: apikey.Limits{CostPerDay: 12_500_000, CostPerMonth: 1}},
		},
		{
			name:   "Defaults",
			body:   `{"principal":"alice@example.com","scopes":["chatbot"]}`,
			prefix: "sgk_live_",
			want: admin.Key{Kind: "data", Scopes: []string{"chatbot"}, Env: "live",
				ExpiresAt: t0.Add(apikey.DefaultTTL), CIDRs: []string{}},
		},
		{
			name:   "Admin",
			body:   `{"principal":"alice@example.com","kind":"admin","scopes":["keys:self"],"ttl":"1d12h"}`,
			prefix: "sga_live_",
			want: admin.Key{Kind: "admin", Scopes: []string{"keys:self"}, Env: "live",
				ExpiresAt: t0.Add(36 * time.Hour), CIDRs: []string{}},
		},
		{
			name:   "ShortLivedTest",
			body:   `{"principal":"alice@example.com","scopes":["chatbot"],"env":"test","ttl":"20m"}`,
			prefix: "sgk_test_",
			want: admin.Key{Kind: "data", Scopes: []string{"chatbot"}, Env: "test",
				ExpiresAt: t0.Add(20 * time.Minute), CIDRs: []string{}},
		},
		{
			name:   "Window",
			body:   `{"principal":"alice@example.com","scopes":["chatbot"],"not_before":"2030-01-03T00:00:00Z","expires_at":"2030-02-01T00:00:00Z"}`,
			prefix: "sgk_live_",
			want: admin.Key{Kind: "data", Scopes: []string{"chatbot"}, Env: "live",
				NotBefore: new(time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)),
				ExpiresAt: time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC), CIDRs: []string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newAliceEnv(t)
			resp := env.do(t, request{method: "POST", path: "/admin/v1/keys", key: env.rootKey, body: tt.body})
			if resp.status != 201 {
				t.Fatalf("POST = %d %s, want 201", resp.status, resp.body)
			}
			var created admin.Key
			if err := json.Unmarshal(resp.body, &created); err != nil {
				t.Fatal(err)
			}
			if loc := resp.header.Get("Location"); loc != "/admin/v1/keys/"+created.ID {
				t.Errorf("Location = %q, want /admin/v1/keys/%s", loc, created.ID)
			}
			got := checkNewKey(t, env, created, tt.prefix)

			want := tt.want
			want.ID, want.Last4 = got.ID, got.Last4
			want.Principal, want.Status = alice, "active"
			want.CreatedAt, want.UpdatedAt = t0, t0
			want.CreatedBy, want.UpdatedBy = env.rootActor, env.rootActor
			diff(t, "created key", got, want)

			read := call[admin.Key](t, env, request{method: "GET", path: "/admin/v1/keys/" + got.ID, key: env.rootKey}, 200)
			diff(t, "key read back (no key field)", read, want)
		})
	}
}

func TestListKeys(t *testing.T) {
	env := newAliceEnv(t)
	env.principal(t, apikey.PrincipalSpec{ID: "bob@example.com", Team: "blue", Scopes: []string{"chatbot"}})
	var aliceIDs []string
	for range 3 {
		k, _ := env.dataKey(t, alice, "chatbot")
		aliceIDs = append(aliceIDs, string(k.ID))
	}
	bobKey, _ := env.dataKey(t, "bob@example.com", "chatbot")
	if _, err := env.issuer.SuspendKey(t.Context(), apikey.SystemActor, apikey.ID(aliceIDs[1])); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"Principal", "?principal=alice@example.com", aliceIDs},
		{"Team", "?team=blue", []string{string(bobKey.ID)}},
		{"Status", "?status=suspended", aliceIDs[1:2]},
		{"PrincipalAndStatus", "?principal=alice@example.com&status=active", []string{aliceIDs[0], aliceIDs[2]}},
		{"NoMatch", "?principal=nobody@example.com", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call[admin.List[admin.Key]](t, env, request{method: "GET", path: "/admin/v1/keys" + tt.query, key: env.rootKey}, 200)
			diff(t, "key ids", keyIDs(got.Items), tt.want, cmpSorted)
			for _, k := range got.Items {
				if k.Key != "" {
					t.Errorf("list shows the key of %s", k.ID)
				}
			}
		})
	}
	t.Run("Pages", func(t *testing.T) {
		var all []string
		after := ""
		for page := 0; ; page++ {
			got := call[admin.List[admin.Key]](t, env, request{method: "GET",
				path: "/admin/v1/keys?principal=alice@example.com&limit=2&after=" + after, key: env.rootKey}, 200)
			if len(got.Items) > 2 {
				t.Fatalf("page %d has %d items, want at most 2", page, len(got.Items))
			}
			all = append(all, keyIDs(got.Items)...)
			if got.Next == "" {
				break
			}
			if page > 3 {
				t.Fatal("pagination does not end")
			}
			after = got.Next
		}
		diff(t, "ids over all pages", all, aliceIDs, cmpSorted)
	})
}

// cmpSorted compares string slices as sets, treating nil and empty alike.
var cmpSorted = cmp.Transformer("sorted", func(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return out
})

func keyIDs(keys []admin.Key) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func TestUpdateKey(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		modify func(*admin.Key)
	}{
		{"Name", `{"name":"renamed"}`, func(k *admin.Key) { k.Name = "renamed" }},
		{"NarrowScopes", `{"scopes":["chatbot:gpt-4o"]}`, func(k *admin.Key) { k.Scopes = []string{"chatbot:gpt-4o"} }},
		{"CIDRs", `{"cidrs":["2001:db8::/32"]}`, func(k *admin.Key) { k.CIDRs = []string{"2001:db8::/32"} }},
		{"Limits", `{"limits":{"tokens_per_minute":500}}`, func(k *admin.Key) { k.Limits = apikey.Limits{TokensPerMinute: 500} }},
		{"CostLimits", `{"limits":{"cost_per_day":0.25,"cost_per_month":1e2}}`, func(k *admin.Key) {
			k.Limits = apikey.Limits{CostPerDay: 250_000, CostPerMonth: 100_000_000}
		}},
		{"ExpiresAt", `{"expires_at":"2030-01-10T00:00:00Z"}`, func(k *admin.Key) { k.ExpiresAt = time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newAliceEnv(t)
			k, _ := env.dataKey(t, alice, "chatbot")
			env.clock.Advance(time.Hour)
			got := call[admin.Key](t, env, request{method: "PATCH", path: "/admin/v1/keys/" + string(k.ID), key: env.rootKey, body: tt.body}, 200)
			want := admin.Key{ID: string(k.ID), Kind: "data", Principal: alice, Scopes: []string{"chatbot"}, Env: "live",
				Status: "active", ExpiresAt: t0.Add(apikey.DefaultTTL), CIDRs: []string{}, Last4: k.Last4,
				CreatedAt: t0, UpdatedAt: t0.Add(time.Hour), CreatedBy: "system", UpdatedBy: env.rootActor}
			tt.modify(&want)
			diff(t, "patched key", got, want)
		})
	}
}

func TestKeyStatusChanges(t *testing.T) {
	env := newAliceEnv(t)
	k, key := env.dataKey(t, alice, "chatbot")
	path := "/admin/v1/keys/" + string(k.ID)
	steps := []struct {
		action     string
		wantStatus string
		wantErr    error
	}{
		{"suspend", "suspended", apikey.ErrKeySuspended},
		{"resume", "active", nil},
		{"revoke", "revoked", apikey.ErrKeyRevoked},
		{"revoke", "revoked", apikey.ErrKeyRevoked}, // a retried revoke succeeds
	}
	for i, st := range steps {
		t.Run(fmt.Sprintf("%d-%s", i, st.action), func(t *testing.T) {
			got := call[admin.Key](t, env, request{method: "POST", path: path + "/" + st.action, key: env.rootKey}, 200)
			if got.Status != st.wantStatus || got.ID != string(k.ID) {
				t.Errorf("%s: key %s status %q, want %s %q", st.action, got.ID, got.Status, k.ID, st.wantStatus)
			}
			if err := env.verify(t, key, apikey.ClassData); !errors.Is(err, st.wantErr) {
				t.Errorf("Verify after %s = %v, want %v", st.action, err, st.wantErr)
			}
		})
	}
	got := call[admin.Key](t, env, request{method: "GET", path: path, key: env.rootKey}, 200)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(t0) || got.RevokedBy != env.rootActor {
		t.Errorf("revoked_at %v by %q, want %v by %q", got.RevokedAt, got.RevokedBy, t0, env.rootActor)
	}
}

func TestRotateKey(t *testing.T) {
	env := newAliceEnv(t)
	old, _ := env.dataKey(t, alice, "chatbot:gpt-4o")
	env.clock.Advance(time.Hour)
	got := call[admin.Key](t, env, request{method: "POST", path: "/admin/v1/keys/" + string(old.ID) + "/rotate", key: env.rootKey,
		body: `{"grace":"2h"}`}, 201)
	got = checkNewKey(t, env, got, "sgk_live_")
	now := t0.Add(time.Hour)
	want := admin.Key{ID: got.ID, Kind: "data", Principal: alice, Scopes: []string{"chatbot:gpt-4o"}, Env: "live",
		Status: "active", ExpiresAt: now.Add(apikey.DefaultTTL), CIDRs: []string{}, Last4: got.Last4,
		RotatedFrom: string(old.ID), CreatedAt: now, UpdatedAt: now, CreatedBy: env.rootActor, UpdatedBy: env.rootActor}
	diff(t, "rotated key", got, want)

	oldRec := call[admin.Key](t, env, request{method: "GET", path: "/admin/v1/keys/" + string(old.ID), key: env.rootKey}, 200)
	if oldRec.ReplacedBy != got.ID || !oldRec.ExpiresAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("old key replaced_by %q expires_at %v, want %q %v", oldRec.ReplacedBy, oldRec.ExpiresAt, got.ID, now.Add(2*time.Hour))
	}
	t.Run("NoBody", func(t *testing.T) {
		other, _ := env.dataKey(t, alice, "chatbot")
		call[admin.Key](t, env, request{method: "POST", path: "/admin/v1/keys/" + string(other.ID) + "/rotate", key: env.rootKey}, 201)
	})
}

func TestRotateIdempotentReplay(t *testing.T) {
	env := newAliceEnv(t)
	old, _ := env.dataKey(t, alice, "chatbot")
	req := request{method: "POST", path: "/admin/v1/keys/" + string(old.ID) + "/rotate", key: env.rootKey,
		body: `{"grace":"1h"}`, header: map[string][]string{"Idempotency-Key": {"0d6f5a8e-retry-1"}}}
	first := call[admin.Key](t, env, req, 201)
	env.clock.Advance(time.Minute)
	second := call[admin.Key](t, env, req, 201)
	if second.ID != first.ID || second.Key != first.Key || second.Key == "" {
		t.Errorf("replay answered key %s (same secret: %v), want %s with the same secret", second.ID, second.Key == first.Key, first.ID)
	}
	list := call[admin.List[admin.Key]](t, env, request{method: "GET", path: "/admin/v1/keys?principal=" + alice, key: env.rootKey}, 200)
	diff(t, "keys after a replayed rotation", keyIDs(list.Items), []string{string(old.ID), first.ID}, cmpSorted)
}

func TestRotateGrace(t *testing.T) {
	tests := []struct {
		name      string
		grace     string
		usableFor time.Duration
	}{
		{"Hours", `{"grace":"3h"}`, 3 * time.Hour},
		{"Default", `{}`, apikey.DefaultGrace},
		{"Days", `{"grace":"2d"}`, 48 * time.Hour},
		{"Now", `{"grace":"0s"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newAliceEnv(t)
			_, oldKey := env.dataKey(t, alice, "chatbot")
			old, err := env.verifier.Verify(t.Context(), oldKey, apikey.ClassData, localhost)
			if err != nil {
				t.Fatal(err)
			}
			got := call[admin.Key](t, env, request{method: "POST", path: "/admin/v1/keys/" + string(old.Key.ID) + "/rotate",
				key: env.rootKey, body: tt.grace}, 201)
			if tt.usableFor > 0 {
				env.clock.Advance(tt.usableFor - time.Second)
				if err := env.verify(t, oldKey, apikey.ClassData); err != nil {
					t.Errorf("old key %s before the grace ends: %v, want nil", tt.usableFor-time.Second, err)
				}
				env.clock.Advance(time.Second)
			}
			if err := env.verify(t, oldKey, apikey.ClassData); !errors.Is(err, apikey.ErrKeyExpired) {
				t.Errorf("old key when the grace ends: %v, want ErrKeyExpired", err)
			}
			if err := env.verify(t, got.Key, apikey.ClassData); err != nil {
				t.Errorf("new key: %v, want nil", err)
			}
		})
	}
}

// Cost limits are US dollars on the wire, as exact decimals: what a client
// sends is what it reads back, to the micro-dollar.
func TestCostLimitsWire(t *testing.T) {
	env := newAliceEnv(t)
	resp := env.do(t, request{method: "POST", path: "/admin/v1/keys", key: env.rootKey,
		body: `{"principal":"alice@example.com","scopes":["chatbot"],"limits":{"tokens_per_day":5,"cost_per_day":12.50,"cost_per_month":0.000001}}`})
	if resp.status != 201 {
		t.Fatalf("POST = %d %s, want 201", resp.status, resp.body)
	}
	want := `"limits":{"tokens_per_day":5,"cost_per_day":12.5,"cost_per_month":0.000001}`
	if !strings.Contains(string(resp.body), want) {
		t.Errorf("created key = %s, want it to contain %s", resp.body, want)
	}
}
