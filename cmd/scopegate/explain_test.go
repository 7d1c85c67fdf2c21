package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// The explain command against a real admin API whose Explainer is a fake:
// what the command sends, how it prints, and its exit status. The
// testscript explain.txt runs it against the real data plane.

// scriptedExplainer answers result and remembers the requests it got.
type scriptedExplainer struct {
	mu     sync.Mutex
	result admin.ExplainResult
	got    []admin.ExplainRequest
}

func (x *scriptedExplainer) Explain(_ context.Context, _ apikey.Key, _ apikey.Principal, req admin.ExplainRequest) (admin.ExplainResult, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.got = append(x.got, req)
	return x.result, nil
}

func (x *scriptedExplainer) requests() []admin.ExplainRequest {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]admin.ExplainRequest(nil), x.got...)
}

// explainServer is an admin API with a data key to explain.
type explainServer struct {
	addr, adminKey string
	keyID, key     string
	explainer      *scriptedExplainer
}

func newExplainServer(t *testing.T, result admin.ExplainResult) *explainServer {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "scopegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hasher, err := apikey.NewHasher(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	issuer := apikey.NewIssuer(apikey.IssuerConfig{Store: db, Hasher: hasher})
	ctx := t.Context()
	for _, spec := range []apikey.PrincipalSpec{
		{ID: "admin", Scopes: []string{"admin"}},
		{ID: "alice", Scopes: []string{"chat:mock-small"}},
	} {
		if _, err := issuer.CreatePrincipal(ctx, apikey.SystemActor, spec); err != nil {
			t.Fatal(err)
		}
	}
	_, adminKey, err := issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{Principal: "admin", Class: apikey.ClassAdmin, Scopes: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	k, key, err := issuer.CreateKey(ctx, apikey.SystemActor, apikey.KeySpec{Principal: "alice", Scopes: []string{"chat:mock-small"}})
	if err != nil {
		t.Fatal(err)
	}
	x := &scriptedExplainer{result: result}
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Logger: slog.New(slog.DiscardHandler), Issuer: issuer,
		Verifier: apikey.NewVerifier(db, hasher, nil), Explainer: x}))
	t.Cleanup(srv.Close)
	return &explainServer{addr: srv.URL, adminKey: adminKey.Reveal(), keyID: string(k.ID), key: key.Reveal(), explainer: x}
}

// explain runs "scopegate explain args…" against s with stdin, and
// returns stdout, stderr and the error.
func (s *explainServer) explain(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	env := map[string]string{"SCOPEGATE_ADDR": s.addr, "SCOPEGATE_ADMIN_KEY": s.adminKey}
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"scopegate", "explain"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

var denyLarge = admin.ExplainResult{Decision: "deny", Stage: "authorize", Status: 403, Reason: "missing_scope",
	Message: "no scope of the key grants chat:mock-large", Feature: "chat", RequiredScope: "chat:mock-large", Resource: "mock-large"}

func TestExplainCommand(t *testing.T) {
	const body = `{"model": "mock-large", "messages": []}`
	t.Run("DenyIsAReport", func(t *testing.T) {
		s := newExplainServer(t, denyLarge)
		out, errOut, err := s.explain(t, "", "--key-id", s.keyID, "--method", "post", "--path", "/v1/chat/completions",
			"--body", body, "--client-ip", "10.0.0.1")
		if err != nil {
			t.Fatalf("explain of a deny failed: %v\n%s", err, errOut)
		}
		want := strings.Join([]string{
			"decision:        deny",
			"stage:           authorize",
			"status:          403",
			"reason:          missing_scope",
			"feature:         chat",
			"required_scope:  chat:mock-large",
			"resource:        mock-large",
			"message:         no scope of the key grants chat:mock-large",
		}, "\n") + "\n"
		if d := cmp.Diff(want, out); d != "" {
			t.Errorf("output mismatch (-want +got):\n%s", d)
		}
		// The method is sent in upper case; the body as JSON of the same value.
		got := s.explainer.requests()
		if len(got) != 1 {
			t.Fatalf("the server was asked %d times, want once", len(got))
		}
		if got[0].Method != "POST" || got[0].Path != "/v1/chat/completions" || got[0].ClientIP != "10.0.0.1" || got[0].KeyID != s.keyID {
			t.Errorf("server got %+v", got[0])
		}
		if !jsonEqual(t, got[0].Body, []byte(body)) {
			t.Errorf("server got body %s, want %s", got[0].Body, body)
		}
	})

	t.Run("KeyFromStdinJSON", func(t *testing.T) {
		s := newExplainServer(t, denyLarge)
		dir := t.TempDir()
		bodyFile := filepath.Join(dir, "req.json")
		if err := os.WriteFile(bodyFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := s.explain(t, s.key+"\n", "--key", "-", "--method", "POST", "--path", "/v1/chat/completions",
			"--body-file", bodyFile, "-o", "json")
		if err != nil {
			t.Fatalf("explain: %v\n%s", err, errOut)
		}
		var res admin.ExplainResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("-o json printed %q: %v", out, err)
		}
		if d := cmp.Diff(denyLarge, res); d != "" {
			t.Errorf("result mismatch (-want +got):\n%s", d)
		}
		if strings.Contains(out+errOut, s.key[len(s.key)-20:]) {
			t.Error("the key was echoed")
		}
		if got := s.explainer.requests(); len(got) != 1 || got[0].KeyID != s.keyID {
			t.Errorf("server got %+v, want key id %s", got, s.keyID)
		}
	})

	t.Run("BodyFromStdin", func(t *testing.T) {
		s := newExplainServer(t, denyLarge)
		if _, errOut, err := s.explain(t, body, "--key-id", s.keyID, "--method", "POST", "--path", "/v1/chat/completions", "--body-file", "-"); err != nil {
			t.Fatalf("explain: %v\n%s", err, errOut)
		}
		if got := s.explainer.requests(); len(got) != 1 || !jsonEqual(t, got[0].Body, []byte(body)) {
			t.Errorf("server got %+v, want the body from stdin", got)
		}
	})

	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"BothFromStdin", []string{"--key", "-", "--body-file", "-"}, "cannot both read stdin"},
		{"BadBody", []string{"--key-id", "k", "--body", "{model:"}, "--body: not valid JSON"},
		{"NoKey", nil, "[key-id key]"},
		{"Unknown", []string{"--key-id", "AAAAAAAAAAAAAAAA"}, "explain: not found"},
		{"MalformedKey", []string{"--key", "sgk_live_nonsense"}, "explain: key: malformed API key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newExplainServer(t, denyLarge)
			args := append(tt.args, "--method", "GET", "--path", "/v1/models")
			_, errOut, err := s.explain(t, "", args...)
			if err == nil || !strings.Contains(errOut, tt.msg) {
				t.Errorf("explain %v: err %v, stderr %q; want an error containing %q", tt.args, err, errOut, tt.msg)
			}
		})
	}
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return cmp.Equal(va, vb)
}
