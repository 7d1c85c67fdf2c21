package admin_test

import (
	"net/http"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
)

// Objects that do not exist, or lie outside the caller's reach: 404, and
// the two look the same, so that a tenant cannot learn another's ids.

func TestKeyOutOfReach(t *testing.T) {
	env := newTenants(t)
	ops := []struct {
		method, suffix, body string
	}{
		{"GET", "", ""},
		{"PATCH", "", `{"name":"mine now"}`},
		{"POST", "/suspend", ""},
		{"POST", "/resume", ""},
		{"POST", "/revoke", ""},
		{"POST", "/rotate", `{"grace":"0s"}`},
	}
	tests := []struct {
		name   string
		caller string
		target apikey.ID
	}{
		{"SelfOnTeammate", env.aliceAdmin, env.daveData},
		{"SelfOnOtherTeam", env.aliceAdmin, env.carolData},
		{"SelfOnTeamAdmin", env.aliceAdmin, env.bobAdminID},
		{"TeamOnOtherTeam", env.bobAdmin, env.carolData},
		{"Unknown", env.rootKey, "AAAAAAAAAAAAAAAA"},
	}
	for _, tt := range tests {
		for _, op := range ops {
			t.Run(tt.name+"/"+op.method+op.suffix, func(t *testing.T) {
				req := request{method: op.method, path: "/admin/v1/keys/" + string(tt.target) + op.suffix, key: tt.caller}
				if op.body != "" {
					req.body = op.body
				}
				got := errorOf(t, env.do(t, req), http.StatusNotFound)
				diff(t, "error", got, admin.ErrorDetail{Type: "not_found", Message: "not found"})
			})
		}
	}
	// The refused calls changed nothing.
	for _, id := range []apikey.ID{env.daveData, env.carolData, env.bobAdminID} {
		k, err := env.issuer.Key(t.Context(), apikey.SystemActor, id)
		if err != nil || k.Status != apikey.StatusActive || k.Name != "" || k.ReplacedBy != "" {
			t.Errorf("key %s after refused calls: status %q name %q replaced_by %q, %v; want unchanged", id, k.Status, k.Name, k.ReplacedBy, err)
		}
	}
}

// The keys a caller does reach answer 200, so the 404s above are about
// reach and nothing else.
func TestKeyInReach(t *testing.T) {
	env := newTenants(t)
	tests := []struct {
		name   string
		caller string
		target apikey.ID
	}{
		{"SelfOnOwn", env.aliceAdmin, env.aliceData},
		{"TeamOnTeammate", env.bobAdmin, env.daveData},
		{"TeamOnSelfAdmin", env.bobAdmin, env.aliceAdminID},
		{"AdminOnAny", env.rootKey, env.carolData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/admin/v1/keys/" + string(tt.target)
			call[admin.Key](t, env.testEnv, request{method: "GET", path: path, key: tt.caller}, 200)
			call[admin.Key](t, env.testEnv, request{method: "PATCH", path: path, key: tt.caller, body: `{"name":"touched"}`}, 200)
		})
	}
}

func TestListsShowOnlyReach(t *testing.T) {
	env := newTenants(t)
	aliceKeys := []string{string(env.aliceAdminID), string(env.aliceData)}
	redKeys := append([]string{string(env.bobAdminID), string(env.daveData)}, aliceKeys...)
	tests := []struct {
		name   string
		caller string
		query  string
		want   []string
	}{
		{"SelfAll", env.aliceAdmin, "", aliceKeys},
		{"SelfAsksForOther", env.aliceAdmin, "?principal=carol@example.com", nil},
		{"SelfAsksForTeammate", env.aliceAdmin, "?principal=dave@example.com", nil},
		{"SelfAsksForTeam", env.aliceAdmin, "?team=red", aliceKeys},
		{"TeamAll", env.bobAdmin, "", redKeys},
		{"TeamAsksForOtherTeam", env.bobAdmin, "?team=blue", nil},
		{"TeamAsksForOther", env.bobAdmin, "?principal=carol@example.com", nil},
	}
	for _, tt := range tests {
		t.Run("Keys/"+tt.name, func(t *testing.T) {
			got := call[admin.List[admin.Key]](t, env.testEnv, request{method: "GET", path: "/admin/v1/keys" + tt.query, key: tt.caller}, 200)
			diff(t, "key ids", keyIDs(got.Items), tt.want, cmpSorted)
		})
	}
	principals := []struct {
		name   string
		caller string
		query  string
		want   []string
	}{
		{"Self", env.aliceAdmin, "", []string{"alice@example.com"}},
		{"SelfAsksForOtherTeam", env.aliceAdmin, "?team=blue", nil},
		{"Team", env.bobAdmin, "", []string{"alice@example.com", "bob@example.com", "dave@example.com"}},
		{"TeamAsksForOtherTeam", env.bobAdmin, "?team=blue", nil},
	}
	for _, tt := range principals {
		t.Run("Principals/"+tt.name, func(t *testing.T) {
			got := call[admin.List[admin.Principal]](t, env.testEnv, request{method: "GET", path: "/admin/v1/principals" + tt.query, key: tt.caller}, 200)
			var ids []string
			for _, p := range got.Items {
				ids = append(ids, p.ID)
			}
			diff(t, "principal ids", ids, tt.want, cmpSorted)
		})
	}
}

func TestPrincipalOutOfReach(t *testing.T) {
	env := newTenants(t)
	tests := []struct {
		name   string
		caller string
		req    request
	}{
		{"SelfGetsTeammate", env.aliceAdmin, request{method: "GET", path: "/admin/v1/principals/dave@example.com"}},
		{"SelfGetsOtherTeam", env.aliceAdmin, request{method: "GET", path: "/admin/v1/principals/carol@example.com"}},
		{"TeamGetsOtherTeam", env.bobAdmin, request{method: "GET", path: "/admin/v1/principals/carol@example.com"}},
		{"TeamPatchesOtherTeam", env.bobAdmin, request{method: "PATCH", path: "/admin/v1/principals/carol@example.com", body: `{"team":"red"}`}},
		{"TeamDisablesOtherTeam", env.bobAdmin, request{method: "POST", path: "/admin/v1/principals/carol@example.com/disable"}},
		{"Unknown", env.rootKey, request{method: "GET", path: "/admin/v1/principals/nobody@example.com"}},
		{"UnknownDisable", env.rootKey, request{method: "POST", path: "/admin/v1/principals/nobody@example.com/disable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.key = tt.caller
			got := errorOf(t, env.do(t, tt.req), http.StatusNotFound)
			diff(t, "error", got, admin.ErrorDetail{Type: "not_found", Message: "not found"})
		})
	}
}

func TestNoSuchRoute(t *testing.T) {
	env := newTestEnv(t)
	for _, path := range []string{"/", "/admin/v1/", "/admin/v1/tokens", "/admin/v1/keys/x/y/z", "/admin/v2/keys"} {
		t.Run(path, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "GET", path: path, key: env.rootKey}), http.StatusNotFound)
			wantError(t, got, "not_found", "", "no such endpoint")
		})
	}
}

// A key outside the caller's reach cannot be explained, and looks exactly
// like one that does not exist, whether given by id or whole.
func TestExplainOutOfReach(t *testing.T) {
	ex := &fakeExplainer{result: allowed}
	env := newTenantsWith(t, envConfig{explainer: ex})
	tests := []struct {
		name   string
		caller string
		target apikey.ID
	}{
		{"SelfOnTeammate", env.aliceAdmin, env.daveData},
		{"SelfOnOtherTeam", env.aliceAdmin, env.carolData},
		{"TeamOnOtherTeam", env.bobAdmin, env.carolData},
		{"Unknown", env.rootKey, "AAAAAAAAAAAAAAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"key_id":"` + string(tt.target) + `","method":"POST","path":"/v1/chat/completions"}`
			got := errorOf(t, env.do(t, request{method: "POST", path: "/admin/v1/explain", key: tt.caller, body: body}), http.StatusNotFound)
			diff(t, "error", got, admin.ErrorDetail{Type: "not_found", Message: "not found"})
		})
	}
	t.Run("UnknownWholeKey", func(t *testing.T) {
		unknown, err := apikey.Generate(nil, apikey.ClassData, apikey.EnvLive)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"key":"` + unknown.Secret.Reveal() + `","method":"POST","path":"/v1/chat/completions"}`
		got := errorOf(t, env.do(t, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: body}), http.StatusNotFound)
		diff(t, "error", got, admin.ErrorDetail{Type: "not_found", Message: "not found"})
	})
	if n := len(ex.received()); n != 0 {
		t.Errorf("the Explainer was asked %d times about keys out of reach, want 0", n)
	}
}

// What the audit log does not hold (yet): 404 with the reader's message,
// which names positions and sizes.
func TestAuditNotFound(t *testing.T) {
	audit := newFakeAudit(3)
	env := newAuditEnv(t, audit)
	tests := []struct{ name, path, msg string }{
		{"PastTheEnd", "/admin/v1/audit/events/3", "record 3: the log holds 3 records"},
		{"ConsistencyBeyondCheckpoint", "/admin/v1/audit/consistency?old=1&new=4", "size 4: the latest checkpoint is of size 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "GET", path: tt.path, key: env.rootKey}), http.StatusNotFound)
			diff(t, "error", got, admin.ErrorDetail{Type: "not_found", Message: tt.msg})
		})
	}
	t.Run("NoCheckpointYet", func(t *testing.T) {
		env := newAuditEnv(t, &fakeAudit{})
		got := errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/audit/checkpoint", key: env.rootKey}), http.StatusNotFound)
		diff(t, "error", got, admin.ErrorDetail{Type: "not_found", Message: "no checkpoint signed yet"})
	})
	t.Run("PseudonymsOff", func(t *testing.T) {
		resp := env.do(t, request{method: "GET", path: "/admin/v1/audit/pseudonym?principal=alice@example.com", key: env.rootKey})
		wantError(t, errorOf(t, resp, http.StatusNotFound), "not_found", "", "pseudonyms are off")
	})
}
