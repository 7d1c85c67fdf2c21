package apikey_test

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

func TestCreateKey(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("alice@example.com", "ml", "chatbot", "code-generation:claude-*")
	k, s, err := e.issuer.CreateKey(t.Context(), root, apikey.KeySpec{
		Principal: "alice@example.com", Name: "laptop",
		Scopes: []string{"chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*"},
		CIDRs:  []string{"10.0.0.0/8", "2001:db8::1"}, Limits: apikey.Limits{TokensPerDay: 100_000, CostPerMonth: 12_500_000},
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	e.remember(s)

	cred, err := apikey.Parse(s.Reveal())
	if err != nil {
		t.Fatalf("Parse(new key): %v", err)
	}
	if cred.Class != apikey.ClassData || cred.Env != apikey.EnvLive || cred.ID != k.ID {
		t.Errorf("new key parses as {%s %s %s}, want {sgk live %s}", cred.Class, cred.Env, cred.ID, k.ID)
	}
	if !strings.HasPrefix(s.Reveal(), "sgk_live_") {
		t.Errorf("new key starts %.9s, want sgk_live_", s.Reveal())
	}
	want := apikey.Key{
		ID: k.ID, Class: apikey.ClassData, Name: "laptop", Principal: "alice@example.com",
		Scopes: scope.MustParseSet("chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*"), Env: apikey.EnvLive,
		ExpiresAt: t0.Add(apikey.DefaultTTL),
		CIDRs:     []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128")},
		Limits:    apikey.Limits{TokensPerDay: 100_000, CostPerMonth: 12_500_000}, Status: apikey.StatusActive,
		Hash: e.hasher.Hash(s), Last4: s.Reveal()[apikey.KeyLen-4:],
		CreatedAt: t0, UpdatedAt: t0, CreatedBy: root.String(), UpdatedBy: root.String(),
	}
	if diff := cmp.Diff(want, k, cmpKeys); diff != "" {
		t.Errorf("CreateKey mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, e.stored(k.ID), cmpKeys); diff != "" {
		t.Errorf("stored key mismatch (-want +got):\n%s", diff)
	}
	if err := e.verify(s, apikey.ClassData); err != nil {
		t.Errorf("Verify(new key) = %v, want success", err)
	}

	changes := e.changes()
	if len(changes) != 1 {
		t.Fatalf("recorded %d changes, want 1", len(changes))
	}
	wantChange(t, changes[0], "key.create", root, string(k.ID), map[string][2]string{
		"cidrs":      {"", "10.0.0.0/8 2001:db8::1/128"},
		"class":      {"", "sgk"},
		"env":        {"", "live"},
		"expires_at": {"", "2026-04-02T03:04:05Z"},
		"last4":      {"", want.Last4},
		"limits":     {"", "tokens_per_day=100000 cost_per_month=12.5"},
		"name":       {"", "laptop"},
		"principal":  {"", "alice@example.com"},
		"scopes":     {"", "chatbot:gpt-4o-mini code-generation:claude-sonnet-4-*"},
		"status":     {"", "active"},
	})
	if changes[0].Principal != "alice@example.com" {
		t.Errorf("change Principal = %q, want alice@example.com", changes[0].Principal)
	}
}

func TestCreateAdminKey(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("alice@example.com", "ml", "chatbot", "keys:self")
	k, s := e.key(root, apikey.KeySpec{Principal: "alice@example.com", Class: apikey.ClassAdmin, Env: apikey.EnvTest, Scopes: []string{"keys:self"}})
	if !strings.HasPrefix(s.Reveal(), "sga_test_") || k.Class != apikey.ClassAdmin {
		t.Errorf("admin key starts %.9s with class %s, want sga_test_ and sga", s.Reveal(), k.Class)
	}
	if err := e.verify(s, apikey.ClassAdmin); err != nil {
		t.Errorf("Verify(admin key, admin) = %v, want success", err)
	}
	if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrWrongClass) {
		t.Errorf("Verify(admin key, data plane) = %v, want ErrWrongClass", err)
	}
}

func TestCreateKeyValidation(t *testing.T) {
	team := apikey.Actor{Principal: "alice@example.com", Team: "ml", KeyID: "TEAMKEY000000000", Roles: scope.MustParseSet("keys:team")}
	tests := []struct {
		name  string
		actor apikey.Actor
		spec  apikey.KeySpec
		field string
	}{
		{"UnknownPrincipal", root, apikey.KeySpec{Principal: "nobody", Scopes: []string{"chatbot"}}, "principal"},
		{"NoScopes", root, apikey.KeySpec{Principal: "bob"}, "scopes"},
		{"NoRoles", root, apikey.KeySpec{Principal: "bob", Class: apikey.ClassAdmin}, "scopes"},
		{"ScopeSyntax", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot:gpt*4o"}}, "scopes"},
		{"ScopeOutsideCeiling", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"data-retrieval:hr-docs"}}, "scopes"},
		{"WiderThanCeiling", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"code-generation"}}, "scopes"},
		{"UnknownFeature", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot", "no-such-feature"}}, "scopes"},
		{"RoleOnDataKey", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"keys:self"}}, "scopes"},
		{"DataScopeOnAdminKey", root, apikey.KeySpec{Principal: "bob", Class: apikey.ClassAdmin, Scopes: []string{"chatbot"}}, "scopes"},
		{"RoleAboveCaller", team, apikey.KeySpec{Principal: "bob", Class: apikey.ClassAdmin, Scopes: []string{"admin"}}, "scopes"},
		{"RoleOutsideCeiling", root, apikey.KeySpec{Principal: "carol", Class: apikey.ClassAdmin, Scopes: []string{"keys:team"}}, "scopes"},
		{"UnknownClass", root, apikey.KeySpec{Principal: "bob", Class: "sgx", Scopes: []string{"chatbot"}}, "kind"},
		{"UnknownEnv", root, apikey.KeySpec{Principal: "bob", Env: "prod", Scopes: []string{"chatbot"}}, "env"},
		{"TTLAndExpiresAt", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, TTL: time.Hour, ExpiresAt: t0.Add(2 * time.Hour)}, "ttl"},
		{"NegativeTTL", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, TTL: -time.Hour}, "ttl"},
		{"TTLOverMax", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, TTL: apikey.DefaultMaxTTL + time.Second}, "ttl"},
		{"ExpiresAtOverMax", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, ExpiresAt: t0.Add(apikey.DefaultMaxTTL + time.Second)}, "expires_at"},
		{"ExpiresInThePast", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, ExpiresAt: t0.Add(-time.Second)}, "expires_at"},
		{"ExpiresNow", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, ExpiresAt: t0}, "expires_at"},
		{"ExpiresBeforeNotBefore", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, NotBefore: t0.Add(48 * time.Hour), ExpiresAt: t0.Add(24 * time.Hour)}, "expires_at"},
		{"NotBeforeTooFar", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, NotBefore: t0.Add(apikey.DefaultMaxTTL + time.Hour)}, "not_before"},
		{"CIDRSyntax", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, CIDRs: []string{"10.0.0.0/8", "10.0.0.0/40"}}, "cidrs"},
		{"CIDRHostname", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, CIDRs: []string{"intranet.example.com"}}, "cidrs"},
		{"NegativeRequests", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, Limits: apikey.Limits{RequestsPerMinute: -1}}, "limits.requests_per_minute"},
		{"NegativeConcurrent", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, Limits: apikey.Limits{Concurrent: -5}}, "limits.concurrent"},
		{"NegativeMonthly", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, Limits: apikey.Limits{TokensPerMonth: -1}}, "limits.tokens_per_month"},
		{"NegativeDailyCost", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, Limits: apikey.Limits{CostPerDay: -1}}, "limits.cost_per_day"},
		{"NegativeMonthlyCost", root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, Limits: apikey.Limits{CostPerMonth: -1}}, "limits.cost_per_month"},
		{"NameTooLong", root, apikey.KeySpec{Principal: "bob", Name: strings.Repeat("n", 201), Scopes: []string{"chatbot"}}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newIssuerEnvConfig(t, apikey.IssuerConfig{CheckScopes: onlyFeatures("chatbot", "code-generation", "data-retrieval")})
			e.principal("bob", "ml", "chatbot", "code-generation:claude-*", "admin", "keys:team")
			e.principal("carol", "ml", "chatbot", "keys:self")
			_, s, err := e.issuer.CreateKey(t.Context(), tt.actor, tt.spec)
			wantValidation(t, err, tt.field)
			if !s.IsZero() {
				t.Error("CreateKey returned a key with its error")
			}
			if n := e.keyCount(); n != 0 {
				t.Errorf("a refused create stored %d keys", n)
			}
			if c := e.changes(); len(c) != 0 {
				t.Errorf("a refused create recorded %v", c)
			}
		})
	}
}

func TestCreateKeyScopeErrorNamesTheScopes(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("bob", "ml", "chatbot:gpt-*")
	_, _, err := e.issuer.CreateKey(t.Context(), root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot:gpt-4o", "chatbot", "data-retrieval"}})
	wantValidation(t, err, "scopes")
	for _, want := range []string{"data-retrieval", "chatbot", `"bob"`, "chatbot:gpt-*"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestKeyLifetime(t *testing.T) {
	tests := []struct {
		name        string
		cfg         apikey.IssuerConfig
		spec        apikey.KeySpec
		wantNB      time.Time
		wantExpires time.Time
	}{
		{"DefaultTTL90Days", apikey.IssuerConfig{}, apikey.KeySpec{}, time.Time{}, t0.Add(90 * 24 * time.Hour)},
		{"TTL20Minutes", apikey.IssuerConfig{}, apikey.KeySpec{TTL: 20 * time.Minute}, time.Time{}, t0.Add(20 * time.Minute)},
		{"ExpiresAt", apikey.IssuerConfig{}, apikey.KeySpec{ExpiresAt: t0.Add(72 * time.Hour)}, time.Time{}, t0.Add(72 * time.Hour)},
		{"ExpiresAtOtherZone", apikey.IssuerConfig{}, apikey.KeySpec{ExpiresAt: t0.Add(time.Hour).In(time.FixedZone("CET", 3600))}, time.Time{}, t0.Add(time.Hour)},
		{"MaxTTLAllowed", apikey.IssuerConfig{}, apikey.KeySpec{TTL: apikey.DefaultMaxTTL}, time.Time{}, t0.Add(apikey.DefaultMaxTTL)},
		{"TTLFromNotBefore", apikey.IssuerConfig{}, apikey.KeySpec{TTL: time.Hour, NotBefore: t0.Add(24 * time.Hour)}, t0.Add(24 * time.Hour), t0.Add(25 * time.Hour)},
		{"DefaultFromNotBefore", apikey.IssuerConfig{}, apikey.KeySpec{NotBefore: t0.Add(24 * time.Hour)}, t0.Add(24 * time.Hour), t0.Add(24*time.Hour + apikey.DefaultTTL)},
		{"PastNotBefore", apikey.IssuerConfig{}, apikey.KeySpec{TTL: time.Hour, NotBefore: t0.Add(-time.Hour)}, t0.Add(-time.Hour), t0.Add(time.Hour)},
		{"ConfiguredDefault", apikey.IssuerConfig{DefaultTTL: 7 * 24 * time.Hour, MaxTTL: 30 * 24 * time.Hour}, apikey.KeySpec{}, time.Time{}, t0.Add(7 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newIssuerEnvConfig(t, tt.cfg)
			e.principal("bob", "ml", "chatbot")
			tt.spec.Principal, tt.spec.Scopes = "bob", []string{"chatbot"}
			k, _ := e.key(root, tt.spec)
			if !k.NotBefore.Equal(tt.wantNB) || !k.ExpiresAt.Equal(tt.wantExpires) {
				t.Errorf("CreateKey lifetime = [%v, %v), want [%v, %v)", k.NotBefore, k.ExpiresAt, tt.wantNB, tt.wantExpires)
			}
			if k.ExpiresAt.Location() != time.UTC {
				t.Errorf("ExpiresAt is in %v, want UTC", k.ExpiresAt.Location())
			}
			stored := e.stored(k.ID)
			if !stored.NotBefore.Equal(tt.wantNB) || !stored.ExpiresAt.Equal(tt.wantExpires) {
				t.Errorf("stored lifetime = [%v, %v), want [%v, %v)", stored.NotBefore, stored.ExpiresAt, tt.wantNB, tt.wantExpires)
			}
		})
	}
	t.Run("ConfiguredMaxTTL", func(t *testing.T) {
		e := newIssuerEnvConfig(t, apikey.IssuerConfig{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour})
		e.principal("bob", "ml", "chatbot")
		_, _, err := e.issuer.CreateKey(t.Context(), root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, TTL: 3 * time.Hour})
		wantValidation(t, err, "ttl")
		if got := e.issuer.MaxTTL(); got != 2*time.Hour {
			t.Errorf("MaxTTL() = %v, want 2h", got)
		}
	})
}

// TestShortLivedKeyExpires follows a 20-minute key through its life with
// the injected clock.
func TestShortLivedKeyExpires(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("bob", "ml", "chatbot")
	_, s := e.key(root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, TTL: 20 * time.Minute})
	if err := e.verify(s, apikey.ClassData); err != nil {
		t.Fatalf("Verify at creation = %v, want success", err)
	}
	e.clock.Advance(20*time.Minute - time.Microsecond)
	if err := e.verify(s, apikey.ClassData); err != nil {
		t.Errorf("Verify just before expiry = %v, want success", err)
	}
	e.clock.Advance(time.Microsecond)
	if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrKeyExpired) {
		t.Errorf("Verify at expiry = %v, want ErrKeyExpired", err)
	}
}

func TestNotBeforeKey(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("bob", "ml", "chatbot")
	_, s := e.key(root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, NotBefore: t0.Add(time.Hour)})
	if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrKeyNotYetValid) {
		t.Errorf("Verify before not_before = %v, want ErrKeyNotYetValid", err)
	}
	e.clock.Advance(time.Hour)
	if err := e.verify(s, apikey.ClassData); err != nil {
		t.Errorf("Verify at not_before = %v, want success", err)
	}
}

func TestKeyStatusChanges(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("bob", "ml", "chatbot")
	k, s := e.key(root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}})
	e.changes()
	ctx := t.Context()

	e.clock.Advance(time.Minute)
	got, err := e.issuer.SuspendKey(ctx, root, k.ID)
	if err != nil || got.Status != apikey.StatusSuspended || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("SuspendKey = status %s updated %v, %v; want suspended at t0+1m", got.Status, got.UpdatedAt, err)
	}
	if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrKeySuspended) {
		t.Errorf("Verify(suspended key) = %v, want ErrKeySuspended", err)
	}
	if _, err := e.issuer.ResumeKey(ctx, root, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.verify(s, apikey.ClassData); err != nil {
		t.Errorf("Verify(resumed key) = %v, want success", err)
	}
	got, err = e.issuer.RevokeKey(ctx, root, k.ID)
	if err != nil || got.Status != apikey.StatusRevoked || !got.RevokedAt.Equal(t0.Add(time.Minute)) || got.RevokedBy != root.String() {
		t.Fatalf("RevokeKey = status %s revoked %v by %q, %v", got.Status, got.RevokedAt, got.RevokedBy, err)
	}
	if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrKeyRevoked) {
		t.Errorf("Verify(revoked key) = %v, want ErrKeyRevoked", err)
	}
	changes := e.changes()
	if len(changes) != 3 {
		t.Fatalf("recorded %d changes, want 3", len(changes))
	}
	wantChange(t, changes[0], "key.suspend", root, string(k.ID), map[string][2]string{"status": {"active", "suspended"}})
	wantChange(t, changes[1], "key.resume", root, string(k.ID), map[string][2]string{"status": {"suspended", "active"}})
	wantChange(t, changes[2], "key.revoke", root, string(k.ID), map[string][2]string{"status": {"active", "revoked"}})

	t.Run("RevokeAgainChangesNothing", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		again, err := e.issuer.RevokeKey(ctx, root, k.ID)
		if err != nil || !again.RevokedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("second RevokeKey = revoked at %v, %v; want the first revocation kept", again.RevokedAt, err)
		}
		if c := e.changes(); len(c) != 0 {
			t.Errorf("second RevokeKey recorded %v", c)
		}
	})
	t.Run("RevokedIsPermanent", func(t *testing.T) {
		name := "new"
		for op, call := range map[string]func() error{
			"ResumeKey":  func() error { _, err := e.issuer.ResumeKey(ctx, root, k.ID); return err },
			"SuspendKey": func() error { _, err := e.issuer.SuspendKey(ctx, root, k.ID); return err },
			"UpdateKey":  func() error { _, err := e.issuer.UpdateKey(ctx, root, k.ID, apikey.KeyPatch{Name: &name}); return err },
		} {
			if err := call(); !errors.Is(err, apikey.ErrConflict) {
				t.Errorf("%s(revoked key) = %v, want ErrConflict", op, err)
			}
		}
		if st := e.stored(k.ID).Status; st != apikey.StatusRevoked {
			t.Errorf("revoked key has status %s after refused changes", st)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := e.issuer.SuspendKey(ctx, root, "0000000000000000"); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("SuspendKey(unknown id) = %v, want ErrNotFound", err)
		}
	})
}

func TestUpdateKey(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("bob", "ml", "chatbot", "code-generation:claude-*")
	k, s := e.key(root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}, TTL: 24 * time.Hour})
	e.changes()
	ctx := t.Context()

	name, scopes, cidrs := "ci", []string{"code-generation:claude-sonnet-4-*"}, []string{"192.0.2.0/24"}
	expires := t0.Add(48 * time.Hour)
	limits := apikey.Limits{Concurrent: 4, CostPerDay: 1}
	got, err := e.issuer.UpdateKey(ctx, root, k.ID, apikey.KeyPatch{Name: &name, Scopes: &scopes, ExpiresAt: &expires, CIDRs: &cidrs, Limits: &limits})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "ci" || got.Scopes.String() != scopes[0] || !got.ExpiresAt.Equal(expires) || len(got.CIDRs) != 1 || got.Limits != limits {
		t.Errorf("UpdateKey = %+v", got)
	}
	if got.Hash != k.Hash || got.ID != k.ID {
		t.Error("UpdateKey changed the key's id or hash")
	}
	if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrClientNotAllowed) {
		t.Errorf("Verify from 10.0.0.1 after restricting to 192.0.2.0/24 = %v, want ErrClientNotAllowed", err)
	}
	changes := e.changes()
	if len(changes) != 1 {
		t.Fatalf("recorded %d changes, want 1", len(changes))
	}
	wantChange(t, changes[0], "key.update", root, string(k.ID), map[string][2]string{
		"cidrs":      {"", "192.0.2.0/24"},
		"expires_at": {"2026-01-03T03:04:05Z", "2026-01-04T03:04:05Z"},
		"limits":     {"", "concurrent=4 cost_per_day=0.000001"},
		"name":       {"", "ci"},
		"scopes":     {"chatbot", "code-generation:claude-sonnet-4-*"},
	})

	t.Run("Invalid", func(t *testing.T) {
		outside, past, badCIDR, neg := []string{"data-retrieval"}, t0.Add(-time.Hour), []string{"300.0.0.0/8"}, apikey.Limits{TokensPerDay: -1}
		for field, patch := range map[string]apikey.KeyPatch{
			"scopes":                {Scopes: &outside},
			"expires_at":            {ExpiresAt: &past},
			"cidrs":                 {CIDRs: &badCIDR},
			"limits.tokens_per_day": {Limits: &neg},
		} {
			_, err := e.issuer.UpdateKey(ctx, root, k.ID, patch)
			wantValidation(t, err, field)
		}
		if diff := cmp.Diff(got, e.stored(k.ID), cmpKeys); diff != "" {
			t.Errorf("refused updates changed the key (-before +after):\n%s", diff)
		}
		if c := e.changes(); len(c) != 0 {
			t.Errorf("refused updates recorded %v", c)
		}
	})
	t.Run("NoChangeRecordsNothing", func(t *testing.T) {
		if _, err := e.issuer.UpdateKey(ctx, root, k.ID, apikey.KeyPatch{Name: &name}); err != nil {
			t.Fatal(err)
		}
		if c := e.changes(); len(c) != 0 {
			t.Errorf("an update that changed nothing recorded %v", c)
		}
	})
}

// TestRecorderFailure checks that a change whose audit record fails is
// still applied and reported: the caller learns the trail is broken.
func TestRecorderFailure(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("bob", "ml", "chatbot")
	e.rec.err = errors.New("audit disk full")
	k, s, err := e.issuer.CreateKey(t.Context(), root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}})
	e.remember(s)
	if err == nil || !strings.Contains(err.Error(), "not recorded") || !strings.Contains(err.Error(), "audit disk full") {
		t.Errorf("CreateKey with a failing recorder error = %v, want one saying it was applied but not recorded", err)
	}
	if k.ID == "" || s.IsZero() {
		t.Fatal("CreateKey with a failing recorder did not return the key it created")
	}
	if strings.Contains(err.Error(), s.Reveal()[26:40]) {
		t.Errorf("error %q contains the secret", err)
	}
	e.stored(k.ID)
}

// replayReader yields the bytes 0, 1, 2, … and can be rewound, so that two
// keys can be made to draw the same id.
type replayReader struct {
	mu sync.Mutex
	n  byte
}

func (r *replayReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

func (r *replayReader) rewind() {
	r.mu.Lock()
	r.n = 0
	r.mu.Unlock()
}

// TestCreateKeySurvivesIDCollision replays the random source so that the
// second key first draws the id of the first; the Issuer must draw again.
func TestCreateKeySurvivesIDCollision(t *testing.T) {
	rnd := &replayReader{}
	e := newIssuerEnvConfig(t, apikey.IssuerConfig{Rand: rnd})
	e.principal("bob", "ml", "chatbot")
	first, firstSecret := e.key(root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}})
	if want := "sgk_live_0123456789ABCDEF_23456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi2bW4Pz"; firstSecret.Reveal() != want {
		t.Errorf("CreateKey with a counter as its random source = %q, want %q", firstSecret.Reveal(), want)
	}
	rnd.rewind()
	second, secondSecret := e.key(root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}})
	if second.ID == first.ID || secondSecret.Equal(firstSecret) {
		t.Fatalf("second key has the id %s of the first", second.ID)
	}
	if err := e.verify(firstSecret, apikey.ClassData); err != nil {
		t.Errorf("Verify(first key) after the collision = %v, want success", err)
	}
	if err := e.verify(secondSecret, apikey.ClassData); err != nil {
		t.Errorf("Verify(second key) = %v, want success", err)
	}
	if n := e.keyCount(); n != 2 {
		t.Errorf("store holds %d keys, want 2", n)
	}
}

func TestCreateKeyEmptyCeiling(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("bob", "ml")
	_, _, err := e.issuer.CreateKey(t.Context(), root, apikey.KeySpec{Principal: "bob", Scopes: []string{"chatbot"}})
	wantValidation(t, err, "scopes")
	if !strings.Contains(err.Error(), "(empty)") {
		t.Errorf("error %q does not say the ceiling is empty", err)
	}
}
