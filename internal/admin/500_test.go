package admin_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// Unexpected failures: 500 with a generic message; the details go to the
// log only.

func TestInternalErrorHidesDetails(t *testing.T) {
	env := newTestEnv(t)
	// The caller authenticates through env's Verifier, then reaches an
	// Issuer whose store is closed, so every read and change fails.
	broken, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "broken.db"))
	if err != nil {
		t.Fatal(err)
	}
	broken.Close()
	hasher, err := apikey.NewHasher([]byte(strings.Repeat("p", 32)))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: broken, Hasher: hasher, Now: env.clock.Now})
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Issuer: issuer, Verifier: env.verifier}))
	t.Cleanup(srv.Close)
	env.srv = srv

	for _, req := range []request{
		{method: "GET", path: "/admin/v1/keys"},
		{method: "POST", path: "/admin/v1/principals", body: `{"id":"alice@example.com"}`},
	} {
		t.Run(req.method, func(t *testing.T) {
			req.key = env.rootKey
			got := errorOf(t, env.do(t, req), http.StatusInternalServerError)
			diff(t, "error", got, admin.ErrorDetail{Type: "internal", Message: "internal error; the server log has the details"})
		})
	}
	if !strings.Contains(logs.String(), "database is closed") || !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("the log does not hold the details at level ERROR:\n%s", logs)
	}
}

// An Explainer that fails is a server error like any other: 500 for the
// client, the cause in the log.
func TestExplainerFails(t *testing.T) {
	env := newExplainEnv(t, admin.ExplainResult{})
	env.explainer.err = errors.New("route table not loaded")
	body := `{"key_id":"` + string(env.dataKey.ID) + `","method":"POST","path":"/v1/chat/completions"}`
	got := errorOf(t, env.do(t, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: body}), http.StatusInternalServerError)
	diff(t, "error", got, admin.ErrorDetail{Type: "internal", Message: "internal error; the server log has the details"})
	if !strings.Contains(env.logs.String(), "route table not loaded") {
		t.Errorf("the log does not hold the cause:\n%s", env.logs)
	}
}

// An AuditReader that fails is a server error: 500 for the client, the
// cause (which may name files) in the log only.
func TestAuditReaderFails(t *testing.T) {
	logs := &syncBuffer{}
	audit := newFakeAudit(3)
	audit.err = errors.New("read /var/lib/scopegate/audit/segments/000000000000.jsonl: input/output error")
	env := newTestEnvWith(t, envConfig{audit: audit, logs: logs})
	for _, path := range []string{
		"/admin/v1/audit/events",
		"/admin/v1/audit/events/0",
		"/admin/v1/audit/checkpoint",
		"/admin/v1/audit/consistency?old=1&new=2",
		"/admin/v1/audit/stream",
	} {
		got := errorOf(t, env.do(t, request{method: "GET", path: path, key: env.rootKey}), http.StatusInternalServerError)
		diff(t, "error", got, admin.ErrorDetail{Type: "internal", Message: "internal error; the server log has the details"})
	}
	if !strings.Contains(logs.String(), "input/output error") {
		t.Errorf("the log does not hold the cause:\n%s", logs)
	}
}
