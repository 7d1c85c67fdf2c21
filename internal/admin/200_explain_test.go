package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
)

// Explanations: the answer is whatever the Explainer decided, allow or
// deny, always 200; the Explainer gets the key record, its principal and
// the request exactly as sent.

// fakeExplainer records what it is asked and answers result, or err.
type fakeExplainer struct {
	mu     sync.Mutex
	calls  []explainCall
	result admin.ExplainResult
	err    error
}

// explainCall is one call of Explain, as the fake received it.
type explainCall struct {
	Key       apikey.Key
	Principal apikey.Principal
	Req       admin.ExplainRequest
}

func (f *fakeExplainer) Explain(_ context.Context, k apikey.Key, p apikey.Principal, req admin.ExplainRequest) (admin.ExplainResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, explainCall{Key: k, Principal: p, Req: req})
	return f.result, f.err
}

func (f *fakeExplainer) received() []explainCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]explainCall(nil), f.calls...)
}

// countingRecorder counts the Issuer's change records.
type countingRecorder struct {
	mu      sync.Mutex
	changes []apikey.Change
}

func (r *countingRecorder) Record(_ context.Context, c apikey.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	return nil
}

func (r *countingRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.changes)
}

// explainEnv is a test stack with a fake Explainer, a recorder, and alice
// (team red) holding a data key.
type explainEnv struct {
	*testEnv
	explainer *fakeExplainer
	recorder  *countingRecorder
	logs      *syncBuffer
	dataKey   apikey.Key
	dataText  string // the data key itself
}

func newExplainEnv(t *testing.T, result admin.ExplainResult) *explainEnv {
	t.Helper()
	e := &explainEnv{explainer: &fakeExplainer{result: result}, recorder: &countingRecorder{}, logs: &syncBuffer{}}
	e.testEnv = newTestEnvWith(t, envConfig{logs: e.logs, explainer: e.explainer, recorder: e.recorder})
	e.principal(t, apikey.PrincipalSpec{ID: alice, Team: "red", Scopes: []string{"chatbot", "keys:self"}})
	e.dataKey, e.dataText = e.key(t, apikey.KeySpec{Principal: alice, Scopes: []string{"chatbot:gpt-4o-mini"}, CIDRs: []string{"10.0.0.0/8"}})
	return e
}

var (
	denied = admin.ExplainResult{Decision: "deny", Stage: "authorize", Status: 403, Reason: "missing_scope",
		Message: "the key has no scope for chatbot:gpt-4o", RequiredScope: "chatbot:gpt-4o", Feature: "chatbot",
		Resource: "gpt-4o"}
	allowed = admin.ExplainResult{Decision: "allow", Stage: "authorize", Status: 200, Reason: "allowed",
		Message: "allowed by scope chatbot:gpt-4o-mini", Feature: "chatbot", Scope: "chatbot:gpt-4o-mini",
		Resource: "gpt-4o-mini", Upstream: "openai", UpstreamPath: "/v1/chat/completions"}
)

func TestExplain(t *testing.T) {
	// The body's spacing and key order must reach the Explainer as sent.
	const body = `{"model": "gpt-4o",   "messages":[{"role":"user","content":"hi"}],"MODEL":"x"}`
	tests := []struct {
		name    string
		result  admin.ExplainResult
		req     func(e *explainEnv) string
		wantReq func(e *explainEnv) admin.ExplainRequest
	}{
		{
			name:   "DenyByKeyID",
			result: denied,
			req: func(e *explainEnv) string {
				return `{"key_id":"` + string(e.dataKey.ID) + `","method":"POST","path":"/v1/chat/completions","body":` + body + `,"client_ip":"10.1.2.3"}`
			},
			wantReq: func(e *explainEnv) admin.ExplainRequest {
				return admin.ExplainRequest{KeyID: string(e.dataKey.ID), Method: "POST", Path: "/v1/chat/completions",
					Body: json.RawMessage(body), ClientIP: "10.1.2.3"}
			},
		},
		{
			name:   "AllowByKey",
			result: allowed,
			req: func(e *explainEnv) string {
				return `{"key":"` + e.dataText + `","method":"POST","path":"/v1/chat/completions","body":` + body + `}`
			},
			wantReq: func(e *explainEnv) admin.ExplainRequest {
				return admin.ExplainRequest{KeyID: string(e.dataKey.ID), Method: "POST", Path: "/v1/chat/completions",
					Body: json.RawMessage(body)}
			},
		},
		{
			name:   "NoBody",
			result: allowed,
			req: func(e *explainEnv) string {
				return `{"key_id":"` + string(e.dataKey.ID) + `","method":"GET","path":"/v1/models"}`
			},
			wantReq: func(e *explainEnv) admin.ExplainRequest {
				return admin.ExplainRequest{KeyID: string(e.dataKey.ID), Method: "GET", Path: "/v1/models"}
			},
		},
		{
			name:   "NullBody",
			result: allowed,
			req: func(e *explainEnv) string {
				return `{"key_id":"` + string(e.dataKey.ID) + `","method":"GET","path":"/v1/models","body":null}`
			},
			wantReq: func(e *explainEnv) admin.ExplainRequest {
				return admin.ExplainRequest{KeyID: string(e.dataKey.ID), Method: "GET", Path: "/v1/models"}
			},
		},
		{
			// The path and method are the Explainer's to judge: an
			// unclean path is a "route" deny, not a refused explain.
			name:   "UncleanPathPassedOn",
			result: admin.ExplainResult{Decision: "deny", Stage: "route", Status: 400, Reason: "unclean_path", Message: "unclean path"},
			req: func(e *explainEnv) string {
				return `{"key_id":"` + string(e.dataKey.ID) + `","method":"post","path":"/v1//chat/../completions"}`
			},
			wantReq: func(e *explainEnv) admin.ExplainRequest {
				return admin.ExplainRequest{KeyID: string(e.dataKey.ID), Method: "post", Path: "/v1//chat/../completions"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newExplainEnv(t, tt.result)
			got := call[admin.ExplainResult](t, env.testEnv, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: tt.req(env)}, 200)
			diff(t, "result", got, tt.result)

			wantKey, err := env.issuer.Key(t.Context(), apikey.SystemActor, env.dataKey.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantPrincipal, err := env.issuer.Principal(t.Context(), apikey.SystemActor, alice)
			if err != nil {
				t.Fatal(err)
			}
			calls := env.explainer.received()
			if len(calls) != 1 {
				t.Fatalf("Explain called %d times, want once", len(calls))
			}
			diff(t, "Explain arguments", calls[0], explainCall{Key: wantKey, Principal: wantPrincipal, Req: tt.wantReq(env)},
				cmpopts.EquateComparable(netip.Prefix{}))
			// Byte for byte, not just the same JSON value.
			if string(calls[0].Req.Body) != string(tt.wantReq(env).Body) {
				t.Errorf("Explain got body %q, want %q", calls[0].Req.Body, tt.wantReq(env).Body)
			}
		})
	}
}

// Callers explain the keys they reach, and only those (404 for the rest
// is in 404_test.go).
func TestExplainInReach(t *testing.T) {
	env := newTenantsWith(t, envConfig{explainer: &fakeExplainer{result: allowed}})
	tests := []struct {
		name   string
		caller string
		target apikey.ID
	}{
		{"SelfOnOwn", env.aliceAdmin, env.aliceData},
		{"TeamOnTeammate", env.bobAdmin, env.daveData},
		{"AdminOnAny", env.rootKey, env.carolData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"key_id":"` + string(tt.target) + `","method":"POST","path":"/v1/chat/completions","body":{}}`
			call[admin.ExplainResult](t, env.testEnv, request{method: "POST", path: "/admin/v1/explain", key: tt.caller, body: body}, 200)
		})
	}
}

// An explanation changes nothing, so it leaves no audit record.
func TestExplainRecordsNothing(t *testing.T) {
	env := newExplainEnv(t, denied)
	before := env.recorder.count()
	body := `{"key_id":"` + string(env.dataKey.ID) + `","method":"POST","path":"/v1/chat/completions","body":{"model":"gpt-4o"}}`
	call[admin.ExplainResult](t, env.testEnv, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: body}, 200)
	if after := env.recorder.count(); after != before {
		t.Errorf("explain wrote %d change records, want none", after-before)
	}
}

// A key sent whole never comes back in an answer or reaches the log,
// whether the explanation succeeds or is refused.
func TestExplainKeyNeverEchoed(t *testing.T) {
	env := newExplainEnv(t, denied)
	bad := env.dataText[:len(env.dataText)-1] + "x" // checksum broken
	var bodies []string
	for _, b := range []string{
		`{"key":"` + env.dataText + `","method":"POST","path":"/v1/chat/completions"}`,
		`{"key":"` + bad + `","method":"POST","path":"/v1/chat/completions"}`,
		`{"key":"` + env.dataText + `","key_id":"x","method":"POST","path":"/v1/chat/completions"}`,
		`{"key_id":"` + env.dataText + `","method":"POST","path":"/v1/chat/completions"}`,
		`{"key":"` + env.dataText + `","method":"POST"}`,
		`{"key":"` + env.dataText + `","method":"POST","path":"/v1/chat/completions","extra":1}`,
	} {
		bodies = append(bodies, string(env.do(t, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: b}).body))
	}
	secret := env.dataText[9+apikey.IDLen+1:]
	for _, b := range bodies {
		if strings.Contains(b, secret) || strings.Contains(b, bad[9+apikey.IDLen+1:]) {
			t.Errorf("an answer contains the key: %s", b)
		}
	}
	if logs := env.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, bad[9+apikey.IDLen+1:]) {
		t.Errorf("the log contains the key:\n%s", logs)
	}
	for _, c := range env.explainer.received() {
		if c.Req.Key != "" {
			t.Errorf("the Explainer received the key text")
		}
	}
}

// The answer is JSON with the fields of ExplainResult, optional ones left
// out when empty.
func TestExplainAnswerShape(t *testing.T) {
	env := newExplainEnv(t, admin.ExplainResult{Decision: "deny", Stage: "authenticate", Status: 401, Reason: "key_revoked", Message: "key is revoked"})
	body := `{"key_id":"` + string(env.dataKey.ID) + `","method":"GET","path":"/v1/models"}`
	resp := env.do(t, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: body})
	if resp.status != http.StatusOK {
		t.Fatalf("status = %d %s, want 200", resp.status, resp.body)
	}
	want := `{"decision":"deny","stage":"authenticate","status":401,"reason":"key_revoked","message":"key is revoked"}` + "\n"
	if string(resp.body) != want {
		t.Errorf("body = %s, want %s", resp.body, want)
	}
}
