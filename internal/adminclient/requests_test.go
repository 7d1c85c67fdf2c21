package adminclient

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
)

const (
	principalJSON = `{"id":"alice@example.com","kind":"user","audience":"internal","team":"ml","scopes":["chatbot"],"status":"active","limits":{},"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	explainJSON   = `{"decision":"deny","stage":"authorize","status":403,"reason":"missing_scope","message":"no scope grants chat:mock-large","feature":"chat","required_scope":"chat:mock-large","resource":"mock-large"}`
	usageJSON     = `{"from":"2026-11-01T00:00:00Z","to":"2026-11-28T13:00:00Z","group_by":["key"],"rows":[{"key":"k1","requests":2,"input_tokens":30,"output_tokens":40,"cost_usd":0.000125}],"totals":{"requests":2,"input_tokens":30,"output_tokens":40,"cost_usd":0.000125}}`
	keyJSON       = `{"id":"AbCdEfGhIjKlMnOp","kind":"data","name":"ci","principal":"alice@example.com","scopes":["chatbot:gpt-4o-mini"],"env":"live","status":"active","expires_at":"2026-04-02T03:04:05Z","cidrs":[],"limits":{},"last4":"WXYZ","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
)

// TestRequests checks what each method sends: method, path, query, headers
// and body.
func TestRequests(t *testing.T) {
	grace := "1h"
	expires := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		call   func(ctx context.Context, c *Client) error
		answer string
		want   seen
	}{
		{
			name: "CreatePrincipal",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.CreatePrincipal(ctx, admin.PrincipalRequest{ID: "alice@example.com", Kind: "user",
					Scopes: []string{"chatbot"}, Limits: &apikey.Limits{RequestsPerMinute: 60}})
				return err
			},
			answer: principalJSON,
			want: seen{Method: "POST", Path: "/admin/v1/principals", ContentType: "application/json",
				Body: `{"id":"alice@example.com","kind":"user","scopes":["chatbot"],"limits":{"requests_per_minute":60}}`},
		},
		{
			name: "Principals",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Principals(ctx, PrincipalFilter{Team: "ml", Status: "active", After: "p1", Limit: 5})
				return err
			},
			answer: `{"items":[],"next":""}`,
			want:   seen{Method: "GET", Path: "/admin/v1/principals", Query: "after=p1&limit=5&status=active&team=ml"},
		},
		{
			name: "Principal",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Principal(ctx, "alice@example.com")
				return err
			},
			answer: principalJSON,
			want:   seen{Method: "GET", Path: "/admin/v1/principals/alice@example.com"},
		},
		{
			name: "PrincipalEscapesID",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Principal(ctx, "a b/c")
				return err
			},
			answer: principalJSON,
			want:   seen{Method: "GET", Path: "/admin/v1/principals/a%20b%2Fc"},
		},
		{
			name: "UpdatePrincipal",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.UpdatePrincipal(ctx, "svc", admin.PrincipalPatch{Team: new("ops"), Scopes: &[]string{"a", "b"}})
				return err
			},
			answer: principalJSON,
			want: seen{Method: "PATCH", Path: "/admin/v1/principals/svc", ContentType: "application/json",
				Body: `{"team":"ops","scopes":["a","b"]}`},
		},
		{
			name:   "DisablePrincipal",
			call:   func(ctx context.Context, c *Client) error { _, err := c.DisablePrincipal(ctx, "svc"); return err },
			answer: principalJSON,
			want:   seen{Method: "POST", Path: "/admin/v1/principals/svc/disable"},
		},
		{
			name:   "EnablePrincipal",
			call:   func(ctx context.Context, c *Client) error { _, err := c.EnablePrincipal(ctx, "svc"); return err },
			answer: principalJSON,
			want:   seen{Method: "POST", Path: "/admin/v1/principals/svc/enable"},
		},
		{
			name: "CreateKey",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.CreateKey(ctx, admin.KeyRequest{Principal: "svc", Name: "ci", Scopes: []string{"chatbot"},
					Env: "test", ExpiresAt: &expires, CIDRs: []string{"10.0.0.0/8"}})
				return err
			},
			answer: keyJSON,
			want: seen{Method: "POST", Path: "/admin/v1/keys", ContentType: "application/json",
				Body: `{"principal":"svc","name":"ci","scopes":["chatbot"],"env":"test","expires_at":"2026-03-01T00:00:00Z","cidrs":["10.0.0.0/8"]}`},
		},
		{
			name: "Keys",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Keys(ctx, KeyFilter{Principal: "alice@example.com", Team: "ml", Status: "revoked", After: "k9", Limit: 2})
				return err
			},
			answer: `{"items":[],"next":""}`,
			want: seen{Method: "GET", Path: "/admin/v1/keys",
				Query: "after=k9&limit=2&principal=alice%40example.com&status=revoked&team=ml"},
		},
		{
			name:   "KeysNoFilter",
			call:   func(ctx context.Context, c *Client) error { _, err := c.Keys(ctx, KeyFilter{}); return err },
			answer: `{"items":[],"next":""}`,
			want:   seen{Method: "GET", Path: "/admin/v1/keys"},
		},
		{
			name:   "Key",
			call:   func(ctx context.Context, c *Client) error { _, err := c.Key(ctx, "AbCdEfGhIjKlMnOp"); return err },
			answer: keyJSON,
			want:   seen{Method: "GET", Path: "/admin/v1/keys/AbCdEfGhIjKlMnOp"},
		},
		{
			name: "UpdateKey",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.UpdateKey(ctx, "k1", admin.KeyPatch{Name: new("renamed"), CIDRs: &[]string{}})
				return err
			},
			answer: keyJSON,
			want: seen{Method: "PATCH", Path: "/admin/v1/keys/k1", ContentType: "application/json",
				Body: `{"name":"renamed","cidrs":[]}`},
		},
		{
			name:   "SuspendKey",
			call:   func(ctx context.Context, c *Client) error { _, err := c.SuspendKey(ctx, "k1"); return err },
			answer: keyJSON,
			want:   seen{Method: "POST", Path: "/admin/v1/keys/k1/suspend"},
		},
		{
			name:   "ResumeKey",
			call:   func(ctx context.Context, c *Client) error { _, err := c.ResumeKey(ctx, "k1"); return err },
			answer: keyJSON,
			want:   seen{Method: "POST", Path: "/admin/v1/keys/k1/resume"},
		},
		{
			name:   "RevokeKey",
			call:   func(ctx context.Context, c *Client) error { _, err := c.RevokeKey(ctx, "k1"); return err },
			answer: keyJSON,
			want:   seen{Method: "POST", Path: "/admin/v1/keys/k1/revoke"},
		},
		{
			name: "RotateKey",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.RotateKey(ctx, "k1", &grace, "idem-1")
				return err
			},
			answer: keyJSON,
			want: seen{Method: "POST", Path: "/admin/v1/keys/k1/rotate", ContentType: "application/json",
				Idempotency: "idem-1", Body: `{"grace":"1h"}`},
		},
		{
			name: "Usage",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Usage(ctx, UsageFilter{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600)),
					To: expires, GroupBy: []string{"key", "model"}, Key: "k1", Principal: "alice@example.com",
					Team: "ml", Feature: "chatbot", Model: "gpt-4o-mini"})
				return err
			},
			answer: usageJSON,
			want: seen{Method: "GET", Path: "/admin/v1/usage",
				Query: "feature=chatbot&from=2026-10-31T23%3A00%3A00Z&group_by=key%2Cmodel&key=k1&model=gpt-4o-mini&principal=alice%40example.com&team=ml&to=2026-03-01T00%3A00%3A00Z"},
		},
		{
			name:   "UsageDefaults",
			call:   func(ctx context.Context, c *Client) error { _, err := c.Usage(ctx, UsageFilter{}); return err },
			answer: usageJSON,
			want:   seen{Method: "GET", Path: "/admin/v1/usage"},
		},
		{
			name: "UsageTotalsOnly",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Usage(ctx, UsageFilter{GroupBy: []string{}})
				return err
			},
			answer: usageJSON,
			want:   seen{Method: "GET", Path: "/admin/v1/usage", Query: "group_by="},
		},
		{
			name: "ExplainByKeyID",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Explain(ctx, admin.ExplainRequest{KeyID: "k1", Method: "POST", Path: "/v1/chat/completions",
					Body: json.RawMessage(`{"model":"gpt-4o","messages":[]}`), ClientIP: "10.0.0.1"})
				return err
			},
			answer: explainJSON,
			want: seen{Method: "POST", Path: "/admin/v1/explain", ContentType: "application/json",
				Body: `{"key_id":"k1","method":"POST","path":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[]},"client_ip":"10.0.0.1"}`},
		},
		{
			name: "ExplainByKeyNoBody",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Explain(ctx, admin.ExplainRequest{Key: "sgk_live_x", Method: "GET", Path: "/v1/models"})
				return err
			},
			answer: explainJSON,
			want: seen{Method: "POST", Path: "/admin/v1/explain", ContentType: "application/json",
				Body: `{"key":"sgk_live_x","method":"GET","path":"/v1/models"}`},
		},
		{
			name:   "RotateKeyDefaultGrace",
			call:   func(ctx context.Context, c *Client) error { _, err := c.RotateKey(ctx, "k1", nil, ""); return err },
			answer: keyJSON,
			want:   seen{Method: "POST", Path: "/admin/v1/keys/k1/rotate", ContentType: "application/json", Body: `{}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newTestClient(t, answer(http.StatusOK, tt.answer))
			if err := tt.call(t.Context(), c); err != nil {
				t.Fatalf("call = %v", err)
			}
			got := f.seen()
			if len(got) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(got))
			}
			tt.want.Auth = "Bearer " + testAdminKey
			if diff := cmp.Diff(tt.want, got[0]); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAnswers checks that answers decode into the wire types and keep the
// server's bytes, unknown fields included.
func TestAnswers(t *testing.T) {
	withExtra := `{"id":"AbCdEfGhIjKlMnOp","status":"active","last4":"WXYZ","key":"sgk_live_x","future_field":{"a":1}}`
	c, _ := newTestClient(t, answer(http.StatusCreated, withExtra+"\n"))
	r, err := c.CreateKey(t.Context(), admin.KeyRequest{Principal: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	want := admin.Key{ID: "AbCdEfGhIjKlMnOp", Status: "active", Last4: "WXYZ", Key: "sgk_live_x"}
	if diff := cmp.Diff(want, r.Value); diff != "" {
		t.Errorf("CreateKey value mismatch (-want +got):\n%s", diff)
	}
	if string(r.JSON) != withExtra {
		t.Errorf("CreateKey JSON = %s, want %s", r.JSON, withExtra)
	}
	out, err := json.Marshal(r)
	if err != nil || string(out) != withExtra {
		t.Errorf("json.Marshal(record) = %s, %v; want %s", out, err, withExtra)
	}
}

func TestListAnswer(t *testing.T) {
	page := `{"items":[` + keyJSON + `,{"id":"k2","status":"revoked"}],"next":"k2"}`
	c, _ := newTestClient(t, answer(http.StatusOK, page))
	p, err := c.Keys(t.Context(), KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Next != "k2" || len(p.Items) != 2 {
		t.Fatalf("Keys = next %q, %d items; want next k2, 2 items", p.Next, len(p.Items))
	}
	if got := p.Items[0].Value.Principal; got != "alice@example.com" {
		t.Errorf("Items[0].Value.Principal = %q, want alice@example.com", got)
	}
	if string(p.Items[0].JSON) != keyJSON {
		t.Errorf("Items[0].JSON = %s, want %s", p.Items[0].JSON, keyJSON)
	}
	if got := p.Items[1].Value.Status; got != "revoked" {
		t.Errorf("Items[1].Value.Status = %q, want revoked", got)
	}
}

func TestBadAnswer(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusOK, `{"id":`))
	if _, err := c.Key(t.Context(), "k"); err == nil {
		t.Error("Key with a truncated answer succeeded")
	}
}

func TestUsageAnswer(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusOK, usageJSON))
	r, err := c.Usage(t.Context(), UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := admin.UsageReport{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC),
		GroupBy: []string{"key"},
		Rows:    []admin.UsageRow{{Key: new("k1"), Requests: 2, InputTokens: 30, OutputTokens: 40, CostUSD: 125}},
		Totals:  admin.UsageTotals{Requests: 2, InputTokens: 30, OutputTokens: 40, CostUSD: 125}}
	if diff := cmp.Diff(want, r.Value); diff != "" {
		t.Errorf("Usage value mismatch (-want +got):\n%s", diff)
	}
	if string(r.JSON) != usageJSON {
		t.Errorf("Usage JSON = %s, want %s", r.JSON, usageJSON)
	}
}

func TestExplainAnswer(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusOK, explainJSON+"\n"))
	r, err := c.Explain(t.Context(), admin.ExplainRequest{KeyID: "k1", Method: "POST", Path: "/v1/chat/completions"})
	if err != nil {
		t.Fatal(err)
	}
	want := admin.ExplainResult{Decision: "deny", Stage: "authorize", Status: 403, Reason: "missing_scope",
		Message: "no scope grants chat:mock-large", Feature: "chat", RequiredScope: "chat:mock-large", Resource: "mock-large"}
	if diff := cmp.Diff(want, r.Value); diff != "" {
		t.Errorf("Explain value mismatch (-want +got):\n%s", diff)
	}
	if string(r.JSON) != explainJSON {
		t.Errorf("Explain JSON = %s, want %s", r.JSON, explainJSON)
	}
}
