package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit/auditverify"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// testClock is an injected clock that tests move forward by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is a scopegate started in-process through run's code path, and
// everything the test saw of it: response bodies are kept so the canary
// check can search them.
type gateway struct {
	t       *testing.T
	dataDir string
	info    serveInfo
	clock   *testClock
	logs    *syncBuffer
	mu      sync.Mutex
	bodies  []string
	secrets []string
	// dataCalls and dataOK count the data-plane requests and those answered
	// 200: each must have one authz event, each 200 one usage event.
	dataCalls, dataOK int
	done              chan error
	cancel            context.CancelFunc
}

// backend is a store configuration the end-to-end test runs against.
type backend struct {
	name string
	// config returns the config file text and the environment it needs.
	config func(t *testing.T) (string, map[string]string)
}

// e2eFeatures is the configuration the end-to-end tests and the CLI
// scripts run with: the built-in "chat" feature, and two more on the mock
// upstream whose names read like a real deployment's. Scopes the
// configuration does not serve are refused, so every scope the tests use
// is declared here.
const e2eFeatures = `upstreams:
  mock: {kind: mock, test_keys: true}
features:
  chat:
    audience: external
    upstream: mock
    endpoints: [chat.completions, responses, completions, embeddings, messages]
    models: [mock-small, mock-large, mock-embed]
  chatbot:
    audience: external
    upstream: mock
    endpoints: [chat.completions, messages]
    models: [gpt-4o-mini, gpt-4o, "gpt-4o-*"]
  code-generation:
    audience: internal
    upstream: mock
    endpoints: [messages]
    models: ["claude-sonnet-4-*"]
`

var backends = []backend{
	{"SQLite", func(t *testing.T) (string, map[string]string) { return e2eFeatures, nil }},
	{"PostgreSQL", func(t *testing.T) (string, map[string]string) {
		return e2eFeatures + "store:\n  driver: postgres\n  dsn: ${TEST_PG_DSN}\n", map[string]string{"TEST_PG_DSN": migratedPostgresSchema(t)}
	}},
}

// launchServe runs "scopegate serve" with args in-process for g, with the
// variables vars and the test hooks h (its started channel is set here,
// and its clock to g's when g has one and h has none), waits until it is
// serving, and stops it at the end of the test.
func launchServe(t *testing.T, g *gateway, args []string, vars map[string]string, h *testHooks) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	started := make(chan serveInfo, 1)
	h.started = started
	if h.now == nil && g.clock != nil {
		h.now = g.clock.Now
	}
	e := &env{getenv: func(k string) string { return vars[k] }, stdin: strings.NewReader(""), stdout: g.logs, stderr: g.logs, hooks: h}
	go func() { g.done <- runWithHooks(ctx, args, e) }()
	select {
	case g.info = <-started:
	case err := <-g.done:
		cancel()
		t.Fatalf("serve exited before starting: %v\n%s", err, g.logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start\n%s", g.logs)
	}
	t.Cleanup(g.stop)
}

// startGateway runs "scopegate serve" on free ports with a temporary data
// directory and the backend's config, and waits until it is serving.
func startGateway(t *testing.T, be backend) *gateway {
	t.Helper()
	g := &gateway{t: t, dataDir: t.TempDir(), clock: newTestClock(), logs: &syncBuffer{}, done: make(chan error, 1)}
	args := []string{"scopegate", "serve", "--data-dir", g.dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	cfgText, vars := be.config(t)
	if cfgText != "" {
		path := filepath.Join(t.TempDir(), "scopegate.yaml")
		if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	launchServe(t, g, args, vars, &testHooks{})
	if g.info.AdminKey == "" {
		t.Fatal("serve on a new data directory reported no admin key")
	}
	g.secrets = append(g.secrets, g.info.AdminKey)
	if code, _ := g.do("GET", "http://"+g.info.AdminAddr+"/healthz", "", nil, nil); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	return g
}

func (g *gateway) stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		g.t.Error("serve did not stop")
	}
}

// do sends a request and returns the status and body.
func (g *gateway) do(method, url, key string, header http.Header, body any) (int, []byte) {
	g.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	maps.Copy(req.Header, header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	g.mu.Lock()
	g.bodies = append(g.bodies, string(out))
	if strings.HasPrefix(url, "http://"+g.info.DataAddr+"/") {
		g.dataCalls++
		if resp.StatusCode == http.StatusOK {
			g.dataOK++
		}
	}
	g.mu.Unlock()
	return resp.StatusCode, out
}

// admin calls the admin API with key and decodes a JSON answer into out.
func (g *gateway) admin(key, method, path string, body any, wantStatus int, out any) []byte {
	g.t.Helper()
	code, b := g.do(method, "http://"+g.info.AdminAddr+path, key, nil, body)
	if code != wantStatus {
		g.t.Fatalf("%s %s = %d, want %d: %s", method, path, code, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

// models calls the data plane with key and returns the status and the
// error code of a refusal.
func (g *gateway) models(key string) (int, string) {
	g.t.Helper()
	code, b := g.do("GET", "http://"+g.info.DataAddr+"/v1/models", key, nil, nil)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(b, &e)
	return code, e.Error.Code
}

type keyRecord struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	Principal   string   `json:"principal"`
	Scopes      []string `json:"scopes"`
	ExpiresAt   string   `json:"expires_at"`
	Last4       string   `json:"last4"`
	RotatedFrom string   `json:"rotated_from"`
	Key         string   `json:"key"`
}

func (g *gateway) createKey(adminKey string, req map[string]any) keyRecord {
	g.t.Helper()
	var k keyRecord
	g.admin(adminKey, "POST", "/admin/v1/keys", req, http.StatusCreated, &k)
	if k.Key == "" || k.ID == "" || k.Last4 == "" || k.Status != "active" || k.ExpiresAt == "" {
		g.t.Fatalf("created key record incomplete: %+v", k)
	}
	g.secrets = append(g.secrets, k.Key)
	return k
}

func (g *gateway) wantModels(step, key string, wantCode int, wantReason string) {
	g.t.Helper()
	code, reason := g.models(key)
	if code != wantCode || reason != wantReason {
		g.t.Errorf("%s: GET /v1/models = %d %q, want %d %q", step, code, reason, wantCode, wantReason)
	}
}

func TestEndToEnd(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testEndToEnd(t, be) })
	}
}

func testEndToEnd(t *testing.T, be backend) {
	g := startGateway(t, be)
	root := g.info.AdminKey

	for _, p := range []map[string]any{
		{"id": "alice@example.com", "kind": "user", "audience": "internal", "team": "red", "scopes": []string{"chatbot", "code-generation:claude-*", "keys:self"}},
		{"id": "bob@example.com", "kind": "user", "audience": "internal", "team": "red", "scopes": []string{"chatbot"}},
		{"id": "svc-billing", "kind": "service", "audience": "external", "team": "blue", "scopes": []string{"chatbot:gpt-4o-mini"}},
	} {
		g.admin(root, "POST", "/admin/v1/principals", p, http.StatusCreated, nil)
	}

	alice := g.createKey(root, map[string]any{"principal": "alice@example.com", "name": "laptop", "scopes": []string{"chatbot"}})
	if !strings.HasPrefix(alice.Key, "sgk_live_") {
		t.Fatalf("data key %q does not start with sgk_live_", alice.Last4)
	}

	t.Run("Authenticate", func(t *testing.T) {
		g.wantModels("valid key", alice.Key, 200, "")
		wrongSecret := alice.Key[:30] + strings.Repeat("A", len(alice.Key)-30)
		code1, b1 := g.do("GET", "http://"+g.info.DataAddr+"/v1/models", wrongSecret, nil, nil)
		unknown := "sgk_live_" + strings.Repeat("Z", 16) + alice.Key[25:]
		code2, b2 := g.do("GET", "http://"+g.info.DataAddr+"/v1/models", unknown, nil, nil)
		if code1 != 401 || code2 != 401 || string(b1) != string(b2) {
			t.Errorf("wrong secret and unknown id must answer the same 401:\n%d %s\n%d %s", code1, b1, code2, b2)
		}
		g.wantModels("admin key on data plane", root, 401, "wrong_key_class")
		code, _ := g.do("GET", "http://"+g.info.AdminAddr+"/admin/v1/keys", alice.Key, nil, nil)
		if code != 401 {
			t.Errorf("data key on admin API = %d, want 401", code)
		}
	})

	t.Run("SuspendResume", func(t *testing.T) {
		g.admin(root, "POST", "/admin/v1/keys/"+alice.ID+"/suspend", nil, 200, nil)
		g.wantModels("suspended", alice.Key, 401, "key_suspended")
		g.admin(root, "POST", "/admin/v1/keys/"+alice.ID+"/resume", nil, 200, nil)
		g.wantModels("resumed", alice.Key, 200, "")
	})

	t.Run("PrincipalDisable", func(t *testing.T) {
		g.admin(root, "POST", "/admin/v1/principals/alice@example.com/disable", nil, 200, nil)
		g.wantModels("principal disabled", alice.Key, 401, "principal_disabled")
		g.admin(root, "POST", "/admin/v1/principals/alice@example.com/enable", nil, 200, nil)
		g.wantModels("principal enabled", alice.Key, 200, "")
	})

	t.Run("RotationGrace", func(t *testing.T) {
		old := g.createKey(root, map[string]any{"principal": "bob@example.com", "scopes": []string{"chatbot"}, "ttl": "720h"})
		var next keyRecord
		g.admin(root, "POST", "/admin/v1/keys/"+old.ID+"/rotate", map[string]any{"grace": "1h"}, http.StatusCreated, &next)
		g.secrets = append(g.secrets, next.Key)
		if next.RotatedFrom != old.ID || next.Key == "" || next.ID == old.ID {
			t.Fatalf("rotate answered %+v", next)
		}
		g.wantModels("old key in grace", old.Key, 200, "")
		g.wantModels("new key", next.Key, 200, "")
		g.clock.Advance(61 * time.Minute)
		g.wantModels("old key after grace", old.Key, 401, "key_expired")
		g.wantModels("new key after grace", next.Key, 200, "")
	})

	t.Run("Expiry", func(t *testing.T) {
		short := g.createKey(root, map[string]any{"principal": "bob@example.com", "scopes": []string{"chatbot"}, "ttl": "20m"})
		g.wantModels("short-lived key", short.Key, 200, "")
		g.clock.Advance(21 * time.Minute)
		g.wantModels("short-lived key after ttl", short.Key, 401, "key_expired")
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		aliceAdmin := g.createKey(root, map[string]any{"principal": "alice@example.com", "kind": "admin", "scopes": []string{"keys:self"}})
		if !strings.HasPrefix(aliceAdmin.Key, "sga_") {
			t.Fatalf("admin key does not start with sga_")
		}
		bobKey := g.createKey(root, map[string]any{"principal": "bob@example.com", "scopes": []string{"chatbot"}})
		var list struct {
			Items []keyRecord `json:"items"`
		}
		g.admin(aliceAdmin.Key, "GET", "/admin/v1/keys", nil, 200, &list)
		if len(list.Items) == 0 {
			t.Fatal("keys:self caller sees none of its own keys")
		}
		for _, k := range list.Items {
			if k.Principal != "alice@example.com" {
				t.Errorf("keys:self caller sees key %s of %s", k.ID, k.Principal)
			}
		}
		for _, op := range []struct{ method, path string }{
			{"GET", "/admin/v1/keys/" + bobKey.ID},
			{"PATCH", "/admin/v1/keys/" + bobKey.ID},
			{"POST", "/admin/v1/keys/" + bobKey.ID + "/revoke"},
			{"POST", "/admin/v1/keys/" + bobKey.ID + "/suspend"},
			{"POST", "/admin/v1/keys/" + bobKey.ID + "/rotate"},
			{"GET", "/admin/v1/principals/bob@example.com"},
		} {
			var body any
			if op.method != "GET" {
				body = map[string]any{}
			}
			g.admin(aliceAdmin.Key, op.method, op.path, body, http.StatusNotFound, nil)
		}
		g.wantModels("bob's key untouched", bobKey.Key, 200, "")
		// Its own keys it can manage.
		own := g.createKey(aliceAdmin.Key, map[string]any{"principal": "alice@example.com", "scopes": []string{"code-generation:claude-sonnet-4-*"}})
		g.admin(aliceAdmin.Key, "POST", "/admin/v1/keys/"+own.ID+"/revoke", nil, 200, nil)
		g.wantModels("revoked by owner", own.Key, 401, "key_revoked")
		// It cannot mint keys for others, nor admin roles above its own.
		g.admin(aliceAdmin.Key, "POST", "/admin/v1/keys", map[string]any{"principal": "bob@example.com", "scopes": []string{"chatbot"}}, http.StatusBadRequest, nil)
		g.admin(aliceAdmin.Key, "POST", "/admin/v1/keys", map[string]any{"principal": "alice@example.com", "kind": "admin", "scopes": []string{"admin"}}, http.StatusBadRequest, nil)
		g.admin(aliceAdmin.Key, "POST", "/admin/v1/principals", map[string]any{"id": "mallory", "scopes": []string{}}, http.StatusForbidden, nil)
	})

	t.Run("BadInput", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			body               any
			status             int
			field, contains    string
		}{
			{"MalformedScope", "POST", "/admin/v1/keys", map[string]any{"principal": "bob@example.com", "scopes": []string{"Chat Bot"}}, 400, "scopes", "invalid scope"},
			{"ScopeOutsideCeiling", "POST", "/admin/v1/keys", map[string]any{"principal": "bob@example.com", "scopes": []string{"code-generation"}}, 400, "scopes", "outside the ceiling"},
			{"TTLOverMaximum", "POST", "/admin/v1/keys", map[string]any{"principal": "bob@example.com", "scopes": []string{"chatbot"}, "ttl": "9000h"}, 400, "ttl", "maximum"},
			{"UnknownPrincipal", "POST", "/admin/v1/keys", map[string]any{"principal": "nobody", "scopes": []string{"chatbot"}}, 400, "principal", "unknown principal"},
			{"BadJSON", "POST", "/admin/v1/keys", `{"principal":`, 400, "", ""},
			{"UnknownField", "POST", "/admin/v1/keys", `{"principal":"bob@example.com","scopes":["chatbot"],"colour":"red"}`, 400, "colour", "unknown field"},
			{"BadPrincipalKind", "POST", "/admin/v1/principals", map[string]any{"id": "x", "kind": "robot", "scopes": []string{}}, 400, "kind", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, b := g.do(tt.method, "http://"+g.info.AdminAddr+tt.path, root, nil, tt.body)
				var e struct {
					Error struct{ Type, Message, Field string } `json:"error"`
				}
				if err := json.Unmarshal(b, &e); err != nil {
					t.Fatalf("error body is not JSON: %s", b)
				}
				if code != tt.status || e.Error.Field != tt.field || !strings.Contains(e.Error.Message, tt.contains) || e.Error.Message == "" {
					t.Errorf("%s %s = %d %+v, want %d field %q message containing %q", tt.method, tt.path, code, e.Error, tt.status, tt.field, tt.contains)
				}
			})
		}
	})

	t.Run("CLI", func(t *testing.T) {
		var out, errOut bytes.Buffer
		getenv := func(k string) string {
			return map[string]string{"SCOPEGATE_ADDR": "http://" + g.info.AdminAddr, "SCOPEGATE_ADMIN_KEY": root}[k]
		}
		err := run(t.Context(), []string{"scopegate", "keys", "list", "--principal", "alice@example.com", "-o", "json"}, getenv, strings.NewReader(""), &out, &errOut)
		if err != nil {
			t.Fatalf("keys list: %v\n%s", err, errOut.String())
		}
		if !strings.Contains(out.String(), alice.ID) {
			t.Errorf("keys list -o json does not list %s:\n%s", alice.ID, out.String())
		}
		g.mu.Lock()
		g.bodies = append(g.bodies, out.String(), errOut.String())
		g.mu.Unlock()
	})

	t.Run("Revoke", func(t *testing.T) {
		var k keyRecord
		g.admin(root, "POST", "/admin/v1/keys/"+alice.ID+"/revoke", nil, 200, &k)
		if k.Status != "revoked" {
			t.Errorf("revoke answered status %q", k.Status)
		}
		g.wantModels("revoked", alice.Key, 401, "key_revoked")
		g.admin(root, "POST", "/admin/v1/keys/"+alice.ID+"/resume", nil, http.StatusConflict, nil)
	})

	t.Run("AuditAPI", func(t *testing.T) { testAuditAPI(t, g, root) })

	// A canary: a well-formed key that was never issued, presented on both
	// listeners. Neither it nor any issued key may appear in a log line,
	// an error body or an audit event.
	canary := "sgk_live_CANARYcanary0000_" + strings.Repeat("c", 43)
	canary = canary + checksumForTest(canary)
	g.models(canary)
	g.do("GET", "http://"+g.info.AdminAddr+"/admin/v1/keys", canary, nil, nil)
	g.secrets = append(g.secrets, canary)

	g.stop()
	auditLog := readAuditLog(t, g.dataDir)
	if be.name == "SQLite" {
		t.Run("LastUsedWrittenInBatches", func(t *testing.T) {
			// The last use is written by the batcher, flushed on shutdown.
			db, err := sqlite.Open(t.Context(), filepath.Join(g.dataDir, "scopegate.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			k, err := db.Key(t.Context(), apikey.ID(alice.ID))
			if err != nil {
				t.Fatal(err)
			}
			if k.LastUsedAt.IsZero() {
				t.Error("last_used_at was never written")
			}
		})
	}
	t.Run("AuditLogVerifies", func(t *testing.T) {
		vkey, err := os.ReadFile(filepath.Join(g.dataDir, "audit", "verifier.key"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := auditverify.Verify(t.Context(), filepath.Join(g.dataDir, "audit"), strings.TrimSpace(string(vkey)), auditverify.VerifyOptions{})
		if err != nil {
			t.Fatalf("audit log does not verify: %v", err)
		}
		lines := int64(bytes.Count(auditLog, []byte("\n")))
		if rep.Records != lines || rep.Uncovered != 0 || rep.CheckpointSize != lines {
			t.Errorf("verify report %+v, want %d records all covered by the final checkpoint", rep, lines)
		}
	})
	t.Run("AuditRecordsEveryRequest", func(t *testing.T) {
		authz := bytes.Count(auditLog, []byte(`"event":"authz"`))
		usage := bytes.Count(auditLog, []byte(`"event":"usage"`))
		if authz != g.dataCalls || usage != g.dataOK {
			t.Errorf("audit log has %d authz and %d usage events; the test made %d data-plane requests, %d answered 200",
				authz, usage, g.dataCalls, g.dataOK)
		}
		for i, line := range bytes.Split(bytes.TrimSuffix(auditLog, []byte("\n")), []byte("\n")) {
			if want := fmt.Sprintf(`{"v":1,"idx":%d,`, i); !bytes.HasPrefix(line, []byte(want)) {
				t.Fatalf("record %d starts %.40s, want %s", i, line, want)
			}
		}
	})
	t.Run("AuditRecordsEveryChange", func(t *testing.T) {
		for _, ev := range []string{"principal.create", "principal.disable", "principal.enable", "key.create", "key.suspend", "key.resume", "key.rotate", "key.revoke"} {
			if !strings.Contains(string(auditLog), `"event":"`+ev+`"`) {
				t.Errorf("audit log has no %s event", ev)
			}
		}
		if !strings.Contains(string(auditLog), `"target":"`+alice.ID+`"`) {
			t.Errorf("audit log never names key %s", alice.ID)
		}
	})
	t.Run("NoSecretAnywhere", func(t *testing.T) {
		places := map[string]string{"logs": g.logs.String(), "audit": string(auditLog), "bodies": strings.Join(g.bodies, "\n")}
		for _, s := range g.secrets {
			secretPart := s[len(s)-49 : len(s)-6]
			for name, text := range places {
				if name == "logs" && s == root {
					// serve prints the first admin key once on stderr, by
					// design; exactly that one occurrence is allowed.
					text = strings.Replace(text, "    "+s+"\n", "", 1)
				}
				if name == "bodies" && s != canary {
					// Created keys are shown once in their create answer;
					// remove exactly those answers before searching.
					text = withoutCreateAnswers(text, s)
				}
				if strings.Contains(text, secretPart) {
					t.Errorf("secret of key ending %s found in %s", s[len(s)-4:], name)
				}
			}
		}
	})
}

// withoutCreateAnswers drops the bodies that carry key s in a "key" field:
// the one answer allowed to show it.
func withoutCreateAnswers(bodies, s string) string {
	var keep []string
	for b := range strings.SplitSeq(bodies, "\n") {
		if !strings.Contains(b, `"key":"`+s+`"`) {
			keep = append(keep, b)
		}
	}
	return strings.Join(keep, "\n")
}

// checksumForTest computes the key checksum the way apikey does, so the
// canary is well formed and reaches the store lookup.
func checksumForTest(s string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	v := crc32.ChecksumIEEE([]byte(s))
	out := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out)
}

// readAuditLog returns the audit log's records, every segment in order, as
// JSON lines.
func readAuditLog(t *testing.T, dataDir string) []byte {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dataDir, "audit", "segments", "*.jsonl"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no audit segments in %s (%v)", dataDir, err)
	}
	slices.Sort(segs)
	var out []byte
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// testAuditAPI reads the running gateway's audit log through the admin
// API: a filtered page of events, the latest checkpoint, and one event
// with an inclusion proof that verifies offline with the verifier key.
func testAuditAPI(t *testing.T, g *gateway, root string) {
	var page struct {
		Items []map[string]any `json:"items"`
		Next  string           `json:"next"`
	}
	g.admin(root, "GET", "/admin/v1/audit/events?event=key.create&limit=2", nil, http.StatusOK, &page)
	if len(page.Items) != 2 || page.Next == "" {
		t.Fatalf("events page = %d items, next %q; want 2 and a cursor", len(page.Items), page.Next)
	}
	for _, e := range page.Items {
		if e["event"] != "key.create" {
			t.Errorf("filtered page holds %v", e["event"])
		}
	}
	// The checkpoint is signed within a second of the log growing.
	var cp []byte
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for cp == nil {
		code, b := g.do("GET", "http://"+g.info.AdminAddr+"/admin/v1/audit/checkpoint", root, nil, nil)
		if code == http.StatusOK {
			cp = b
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no checkpoint within 15s: %d %s", code, b)
		}
	}
	var ev struct {
		Record map[string]any `json:"record"`
		Proof  string         `json:"proof"`
	}
	g.admin(root, "GET", "/admin/v1/audit/events/0", nil, http.StatusOK, &ev)
	vkey, err := os.ReadFile(filepath.Join(g.dataDir, "audit", "verifier.key"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := auditverify.VerifyInclusion([]byte(ev.Proof), strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatalf("inclusion proof of record 0 does not verify: %v\n%s", err, ev.Proof)
	}
	if !strings.Contains(string(p.Record), `"idx":0,`) || ev.Record["event"] != "principal.create" {
		t.Errorf("record 0 = %v, proof record %s", ev.Record, p.Record)
	}
	g.admin(root, "GET", "/admin/v1/audit/events/999999", nil, http.StatusNotFound, nil)
}
