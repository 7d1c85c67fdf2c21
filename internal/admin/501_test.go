package admin_test

import (
	"net/http"
	"testing"
)

// Routes this server was built without: 501, which tells a client that
// retrying will not help.

func TestExplainNotImplemented(t *testing.T) {
	env := newAliceEnv(t)
	k, _ := env.dataKey(t, alice, "chatbot")
	body := `{"key_id":"` + string(k.ID) + `","method":"POST","path":"/v1/chat/completions"}`
	resp := env.do(t, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: body})
	wantError(t, errorOf(t, resp, http.StatusNotImplemented), "not_implemented", "", "not implemented")

	// Authentication still comes first.
	resp = env.do(t, request{method: "POST", path: "/admin/v1/explain", body: body})
	errorOf(t, resp, http.StatusUnauthorized)
}

func TestAuditNotImplemented(t *testing.T) {
	env := newTestEnv(t)
	for _, path := range []string{
		"/admin/v1/audit/events",
		"/admin/v1/audit/events/0",
		"/admin/v1/audit/checkpoint",
		"/admin/v1/audit/consistency?old=1&new=2",
		"/admin/v1/audit/stream",
		"/admin/v1/audit/pseudonym?principal=alice@example.com",
	} {
		resp := env.do(t, request{method: "GET", path: path, key: env.rootKey})
		wantError(t, errorOf(t, resp, http.StatusNotImplemented), "not_implemented", "", "not implemented")
	}
}

func TestUsageNotImplemented(t *testing.T) {
	env := newTenants(t)
	// Every role is told the same: the server has no usage store.
	for _, key := range []string{env.rootKey, env.bobAdmin, env.aliceAdmin} {
		resp := env.do(t, request{method: "GET", path: "/admin/v1/usage", key: key})
		wantError(t, errorOf(t, resp, http.StatusNotImplemented), "not_implemented", "", "not implemented")
	}
	// Authentication still comes first.
	errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/usage"}), http.StatusUnauthorized)
}

// The hygiene report judges scopes by their usage: without a usage store
// it is not served.
func TestHygieneNotImplemented(t *testing.T) {
	env := newTenants(t)
	for _, key := range []string{env.rootKey, env.bobAdmin, env.aliceAdmin} {
		resp := env.do(t, request{method: "GET", path: "/admin/v1/hygiene", key: key})
		wantError(t, errorOf(t, resp, http.StatusNotImplemented), "not_implemented", "", "not implemented")
	}
	errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/hygiene"}), http.StatusUnauthorized)
}
