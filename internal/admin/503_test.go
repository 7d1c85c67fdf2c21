package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
)

// A dependency that cannot be reached: 503, and nothing done.

func TestReadyzNotReady(t *testing.T) {
	env := newTestEnvWith(t, envConfig{ready: func(context.Context) error {
		return errors.New("audit log: disk full")
	}})
	got := errorOf(t, env.do(t, request{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable)
	wantError(t, got, "unavailable", "", "not ready: audit log: disk full")

	// Liveness does not depend on readiness.
	call[admin.Health](t, env, request{method: "GET", path: "/healthz"}, 200)
}

// When the key store cannot be asked whether a credential is valid, the
// request fails closed with 503 rather than 401 (the key may be fine) or
// 500, and the credential is not logged with the cause.
func TestStoreDownWhileAuthenticating(t *testing.T) {
	logs := &syncBuffer{}
	env := newTestEnvWith(t, envConfig{logs: logs})
	if err := env.db.Close(); err != nil {
		t.Fatal(err)
	}
	resp := env.do(t, request{method: "GET", path: "/admin/v1/keys", key: env.rootKey})
	wantError(t, errorOf(t, resp, http.StatusServiceUnavailable), "unavailable", "", "cannot check the credential")
	if !strings.Contains(logs.String(), "database is closed") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
	if secret := env.rootKey[len(env.rootKey)-20:]; strings.Contains(logs.String(), secret) || strings.Contains(string(resp.body), secret) {
		t.Errorf("the credential leaked into the answer or the log")
	}
}
