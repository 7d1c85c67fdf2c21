package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
)

// Successful operations, and the JSON they answer.

func TestCreatePrincipal(t *testing.T) {
	tests := []struct {
		name string
		body string
		want admin.Principal
	}{
		{
			name: "OK",
			body: `{"id":"alice.smith@example.com","kind":"user","audience":"external","team":"red",
				"scopes":["code-generation:claude-*","chatbot","chatbot:gpt-4o"],"limits":{"requests_per_minute":60}}`,
			want: admin.Principal{ID: "alice.smith@example.com", Kind: "user", Audience: "external", Team: "red",
				Scopes: []string{"chatbot", "code-generation:claude-*"}, Status: "active",
				Limits: apikey.Limits{RequestsPerMinute: 60}},
		},
		{
			name: "Defaults",
			body: `{"id":"svc-billing","scopes":[]}`,
			want: admin.Principal{ID: "svc-billing", Kind: "user", Audience: "internal", Scopes: []string{}, Status: "active"},
		},
		{
			name: "Service",
			body: `{"id":"svc-search","kind":"service","scopes":["data-retrieval:hr-docs","keys:self"]}`,
			want: admin.Principal{ID: "svc-search", Kind: "service", Audience: "internal",
				Scopes: []string{"data-retrieval:hr-docs", "keys:self"}, Status: "active"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			req := request{method: "POST", path: "/admin/v1/principals", key: env.rootKey, body: tt.body}
			resp := env.do(t, req)
			if resp.status != 201 {
				t.Fatalf("POST = %d %s, want 201", resp.status, resp.body)
			}
			got := call[admin.Principal](t, env, request{method: "GET", path: "/admin/v1/principals/" + tt.want.ID, key: env.rootKey}, 200)
			if loc := resp.header.Get("Location"); loc != "/admin/v1/principals/"+url.PathEscape(tt.want.ID) {
				t.Errorf("Location = %q", loc)
			}
			var created admin.Principal
			if err := json.Unmarshal(resp.body, &created); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.CreatedAt, want.UpdatedAt = t0, t0
			want.CreatedBy, want.UpdatedBy = env.rootActor, env.rootActor
			diff(t, "created principal", created, want)
			diff(t, "principal read back", got, want)
		})
	}
}

func TestListPrincipals(t *testing.T) {
	env := newTestEnv(t)
	for _, spec := range []apikey.PrincipalSpec{
		{ID: "alice@example.com", Team: "red"},
		{ID: "bob@example.com", Team: "red"},
		{ID: "carol@example.com", Team: "blue"},
	} {
		env.principal(t, spec)
	}
	if _, err := env.issuer.DisablePrincipal(t.Context(), apikey.SystemActor, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query    string
		wantIDs  []string
		wantNext string
	}{
		{"", []string{"alice@example.com", "bob@example.com", "carol@example.com", rootID}, ""},
		{"?team=red", []string{"alice@example.com", "bob@example.com"}, ""},
		{"?status=disabled", []string{"bob@example.com"}, ""},
		{"?team=red&status=active", []string{"alice@example.com"}, ""},
		{"?team=green", []string{}, ""},
		{"?limit=2", []string{"alice@example.com", "bob@example.com"}, "bob@example.com"},
		{"?limit=2&after=bob@example.com", []string{"carol@example.com", rootID}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := call[admin.List[admin.Principal]](t, env, request{method: "GET", path: "/admin/v1/principals" + tt.query, key: env.rootKey}, 200)
			ids := []string{}
			for _, p := range got.Items {
				ids = append(ids, p.ID)
			}
			diff(t, "ids", ids, tt.wantIDs)
			if tt.wantNext != "" && got.Next == "" {
				t.Errorf("next is empty, want a cursor")
			}
			if tt.wantNext == "" && got.Next != "" {
				t.Errorf("next = %q, want empty on the last page", got.Next)
			}
		})
	}
}

func TestListEmptyIsArray(t *testing.T) {
	env := newTestEnv(t)
	resp := env.do(t, request{method: "GET", path: "/admin/v1/keys?status=revoked", key: env.rootKey})
	if resp.status != 200 || string(resp.body) != `{"items":[],"next":""}`+"\n" {
		t.Errorf("GET = %d %s, want 200 {\"items\":[],\"next\":\"\"}", resp.status, resp.body)
	}
}

func TestUpdatePrincipal(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		modify func(*admin.Principal)
	}{
		{"Team", `{"team":"blue"}`, func(p *admin.Principal) { p.Team = "blue" }},
		{"Ceiling", `{"scopes":["chatbot:gpt-4o"]}`, func(p *admin.Principal) { p.Scopes = []string{"chatbot:gpt-4o"} }},
		{"KindAudience", `{"kind":"service","audience":"external"}`, func(p *admin.Principal) { p.Kind, p.Audience = "service", "external" }},
		{"Limits", `{"limits":{"tokens_per_day":1000}}`, func(p *admin.Principal) { p.Limits = apikey.Limits{TokensPerDay: 1000} }},
		{"CostLimits", `{"limits":{"cost_per_day":3,"cost_per_month":90.125}}`, func(p *admin.Principal) {
			p.Limits = apikey.Limits{CostPerDay: 3_000_000, CostPerMonth: 90_125_000}
		}},
		{"Nothing", `{}`, func(*admin.Principal) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.principal(t, apikey.PrincipalSpec{ID: "alice@example.com", Team: "red", Scopes: []string{"chatbot"}})
			env.clock.Advance(time.Minute)
			got := call[admin.Principal](t, env, request{method: "PATCH", path: "/admin/v1/principals/alice@example.com", key: env.rootKey, body: tt.body}, 200)
			want := admin.Principal{ID: "alice@example.com", Kind: "user", Audience: "internal", Team: "red",
				Scopes: []string{"chatbot"}, Status: "active", CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
				CreatedBy: "system", UpdatedBy: env.rootActor}
			tt.modify(&want)
			diff(t, "patched principal", got, want)
		})
	}
}

func TestDisableEnablePrincipal(t *testing.T) {
	env := newTestEnv(t)
	env.principal(t, apikey.PrincipalSpec{ID: "svc.billing", Kind: apikey.KindService, Scopes: []string{"chatbot"}})
	_, key := env.dataKey(t, "svc.billing", "chatbot")

	got := call[admin.Principal](t, env, request{method: "POST", path: "/admin/v1/principals/svc.billing/disable", key: env.rootKey}, 200)
	if got.Status != "disabled" {
		t.Errorf("status after disable = %q, want disabled", got.Status)
	}
	if err := env.verify(t, key, apikey.ClassData); !errors.Is(err, apikey.ErrPrincipalDisabled) {
		t.Errorf("Verify after disable = %v, want ErrPrincipalDisabled", err)
	}
	got = call[admin.Principal](t, env, request{method: "POST", path: "/admin/v1/principals/svc.billing/enable", key: env.rootKey}, 200)
	if got.Status != "active" {
		t.Errorf("status after enable = %q, want active", got.Status)
	}
	if err := env.verify(t, key, apikey.ClassData); err != nil {
		t.Errorf("Verify after enable = %v, want nil", err)
	}
}

func TestHealth(t *testing.T) {
	env := newTestEnv(t)
	for _, tt := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			got := call[admin.Health](t, env, request{method: "GET", path: tt.path}, 200)
			if got.Status != tt.want {
				t.Errorf("status = %q, want %q", got.Status, tt.want)
			}
		})
	}
	t.Run("OpenAPI", func(t *testing.T) {
		resp := env.do(t, request{method: "GET", path: "/admin/v1/openapi.json"})
		var doc struct {
			OpenAPI string `json:"openapi"`
		}
		if resp.status != 200 || json.Unmarshal(resp.body, &doc) != nil || doc.OpenAPI == "" {
			t.Errorf("GET /admin/v1/openapi.json = %d, openapi %q", resp.status, doc.OpenAPI)
		}
	})
}

func TestReadyWithCheck(t *testing.T) {
	var calls atomic.Int32
	env := newTestEnvWith(t, envConfig{ready: func(ctx context.Context) error {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("ready called without a deadline")
		}
		return nil
	}})
	call[admin.Health](t, env, request{method: "GET", path: "/readyz"}, 200)
	if n := calls.Load(); n != 1 {
		t.Errorf("ready called %d times, want 1", n)
	}
}
