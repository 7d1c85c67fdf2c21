package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/audit/auditverify"
)

// ledgerUpstream is a fake OpenAI upstream: it answers every chat
// completion and keeps its own ledger of the request ids the gateway sent
// (X-Scopegate-Request-Id), so a test can check each forwarded request
// against the audit log without trusting the gateway's word.
type ledgerUpstream struct {
	*httptest.Server
	mu  sync.Mutex
	ids map[string]struct{}
	n   int // requests received, with an id or without
}

func newLedgerUpstream(t *testing.T) *ledgerUpstream {
	t.Helper()
	u := &ledgerUpstream{ids: map[string]struct{}{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serveHTTP))
	t.Cleanup(u.Close)
	return u
}

func (u *ledgerUpstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Every request that arrives counts, whatever it asks for: it reached
	// the provider.
	u.mu.Lock()
	u.n++
	u.ids[r.Header.Get("X-Scopegate-Request-Id")] = struct{}{}
	u.mu.Unlock()
	io.Copy(io.Discard, r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"chatcmpl-fake","object":"chat.completion","created":1764331200,"model":"gpt-4o-mini",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
}

// received returns how many requests arrived and the ledger's ids.
func (u *ledgerUpstream) received() (int, map[string]struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := make(map[string]struct{}, len(u.ids))
	for id := range u.ids {
		ids[id] = struct{}{}
	}
	return u.n, ids
}

// ledgerFeatures is the upstream and feature section of a config that
// sends feature "chat" (gpt-4o-mini, chat completions) to the fake
// upstream at url.
func ledgerFeatures(url string) string {
	return fmt.Sprintf(`upstreams:
  fake: {kind: openai, base_url: %q}
features:
  chat:
    audience: external
    upstream: fake
    endpoints: [chat.completions]
    models: [gpt-4o-mini]
`, url+"/v1")
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`

// createChatKey creates a principal allowed feature chat and a data key
// for it, through the admin API.
func createChatKey(g *gateway, adminKey string) string {
	g.t.Helper()
	g.admin(adminKey, "POST", "/admin/v1/principals", map[string]any{
		"id": "app", "kind": "service", "audience": "external", "scopes": []string{"chat"}}, http.StatusCreated, nil)
	return g.createKey(adminKey, map[string]any{"principal": "app", "scopes": []string{"chat"}}).Key
}

// auditFaults makes the audit log's files fail on demand: writes (which
// still write half their bytes, as a full disk can) or syncs.
type auditFaults struct {
	op atomic.Value // string: "", "write" or "sync"
}

var (
	errInjectedWrite = errors.New("injected fault: no space left on device")
	errInjectedSync  = errors.New("injected fault: fsync failed")
)

func (f *auditFaults) set(op string) { f.op.Store(op) }

func (f *auditFaults) failing(op string) bool {
	cur, _ := f.op.Load().(string)
	return cur == op
}

// wrap is the testHooks.auditFile hook.
func (f *auditFaults) wrap(file *os.File) audit.WriteSyncer { return faultyFile{file, f} }

type faultyFile struct {
	*os.File
	faults *auditFaults
}

func (f faultyFile) Write(p []byte) (int, error) {
	if f.faults.failing("write") {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, errInjectedWrite
	}
	return f.File.Write(p)
}

func (f faultyFile) Sync() error {
	if f.faults.failing("sync") {
		return errInjectedSync
	}
	return f.File.Sync()
}

// startGatewayWithHooks runs "scopegate serve" in-process like
// startGateway, on dataDir with config cfgText, and with h's audit file
// hook (its clock and started channel are set here). A data directory that
// is already initialized reports no admin key.
func startGatewayWithHooks(t *testing.T, dataDir, cfgText string, h *testHooks) *gateway {
	t.Helper()
	g := &gateway{t: t, dataDir: dataDir, clock: newTestClock(), logs: &syncBuffer{}, done: make(chan error, 1)}
	path := filepath.Join(t.TempDir(), "scopegate.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"scopegate", "serve", "--config", path, "--data-dir", dataDir,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	h.now = g.clock.Now
	launchServe(t, g, args, nil, h)
	return g
}

// wantRefused sends a chat completion and checks that the gateway refuses
// it because it cannot record it.
func wantRefused(t *testing.T, g *gateway, key, step string) {
	t.Helper()
	code, body := g.do("POST", "http://"+g.info.DataAddr+"/v1/chat/completions", key, nil, chatBody)
	var e struct {
		Error struct{ Message, Code string } `json:"error"`
	}
	json.Unmarshal(body, &e)
	if code != http.StatusServiceUnavailable || e.Error.Code != "audit_unavailable" ||
		!strings.Contains(e.Error.Message, "cannot record") || !strings.Contains(e.Error.Message, "not forwarded") {
		t.Errorf("%s: chat completion = %d %s, want 503 audit_unavailable saying it was not recorded and not forwarded", step, code, body)
	}
}

func wantReady(t *testing.T, g *gateway, step string, want int) {
	t.Helper()
	code, body := g.do("GET", "http://"+g.info.AdminAddr+"/readyz", "", nil, nil)
	if code != want || (want != http.StatusOK && !strings.Contains(string(body), "audit log cannot write")) {
		t.Errorf("%s: /readyz = %d %s, want %d", step, code, body, want)
	}
}

func TestAuditFailClosed(t *testing.T) {
	for _, tt := range []struct{ name, op string }{
		{"WriteFails", "write"},
		{"SyncFails", "sync"},
	} {
		t.Run(tt.name, func(t *testing.T) { testAuditFailClosed(t, tt.op) })
	}
	t.Run("AuditDirIsAFile", testAuditDirIsAFile)
}

func testAuditFailClosed(t *testing.T, op string) {
	up := newLedgerUpstream(t)
	faults := &auditFaults{}
	dataDir := t.TempDir()
	g := startGatewayWithHooks(t, dataDir, ledgerFeatures(up.URL), &testHooks{auditFile: faults.wrap})
	key := createChatKey(g, g.info.AdminKey)

	if code, body := g.do("POST", "http://"+g.info.DataAddr+"/v1/chat/completions", key, nil, chatBody); code != http.StatusOK {
		t.Fatalf("chat completion before the fault = %d %s, want 200", code, body)
	}
	wantReady(t, g, "before the fault", http.StatusOK)

	faults.set(op)
	for i := range 3 {
		wantRefused(t, g, key, fmt.Sprintf("request %d after the fault", i))
	}
	wantReady(t, g, "after the fault", http.StatusServiceUnavailable)

	// Admin changes are refused before anything is stored: no record, no
	// change.
	code, body := g.do("POST", "http://"+g.info.AdminAddr+"/admin/v1/principals", g.info.AdminKey, nil,
		map[string]any{"id": "during-fault", "scopes": []string{"chat"}})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "nothing was changed") {
		t.Errorf("admin change while the log cannot write = %d %s, want 503", code, body)
	}

	n, _ := up.received()
	if n != 1 {
		t.Errorf("upstream received %d requests, want only the 1 sent before the fault", n)
	}

	// The disk works again. A log whose write or fsync failed does not
	// pretend it never happened: it recovers from what is on disk, as after
	// a crash, and the gateway is ready again within about a second.
	faults.set("")
	waitReady(t, g)
	if code, body := g.do("POST", "http://"+g.info.DataAddr+"/v1/chat/completions", key, nil, chatBody); code != http.StatusOK {
		t.Errorf("chat completion after the disk recovered = %d %s, want 200", code, body)
	}
	// The refused change was not made.
	if code, _ := g.do("GET", "http://"+g.info.AdminAddr+"/admin/v1/principals/during-fault", g.info.AdminKey, nil, nil); code != http.StatusNotFound {
		t.Errorf("principal created while the log could not write: GET = %d, want 404", code)
	}
	n, ids := up.received()
	if n != 2 {
		t.Errorf("upstream received %d requests, want 2 (before the fault and after recovery)", n)
	}
	g.stop()

	// What the failed log left verifies, and holds the allow event of the
	// one forwarded request.
	vkey, err := os.ReadFile(filepath.Join(dataDir, "audit", "verifier.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditverify.Verify(t.Context(), filepath.Join(dataDir, "audit"), strings.TrimSpace(string(vkey)), auditverify.VerifyOptions{}); err != nil {
		t.Errorf("audit log left by the failure does not verify: %v", err)
	}
	allowed := allowedRequests(t, readAuditLog(t, dataDir))
	for id := range ids {
		if _, ok := allowed[id]; !ok {
			t.Errorf("upstream received request %q, which has no authz allow event", id)
		}
	}

	// Reopened, the log recovers and the gateway forwards again.
	g2 := startGatewayWithHooks(t, dataDir, ledgerFeatures(up.URL), &testHooks{})
	wantReady(t, g2, "reopened", http.StatusOK)
	if code, body := g2.do("POST", "http://"+g2.info.DataAddr+"/v1/chat/completions", key, nil, chatBody); code != http.StatusOK {
		t.Errorf("chat completion after reopening = %d %s, want 200", code, body)
	}
	if n, _ := up.received(); n != 3 {
		t.Errorf("upstream received %d requests, want 3", n)
	}
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, g *gateway) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		code, _ := g.do("GET", "http://"+g.info.AdminAddr+"/readyz", "", nil, nil)
		if code == http.StatusOK {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("/readyz still %d after 15s", code)
		}
	}
}

// testAuditDirIsAFile starts serve on a data directory whose audit log
// cannot be created: it must refuse to start and say why.
func testAuditDirIsAFile(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "audit"), []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out syncBuffer
	err := run(ctx, []string{"scopegate", "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"},
		func(string) string { return "" }, strings.NewReader(""), &out, &out)
	if err == nil {
		t.Fatalf("serve with a file where the audit directory belongs started and stopped without error\n%s", out.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("serve ran until the test's deadline instead of refusing to start: %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "audit log") || !strings.Contains(msg, filepath.Join(dataDir, "audit")) || !strings.Contains(msg, "not a directory") {
		t.Errorf("serve error = %q, want one naming the audit log, its path and the cause", msg)
	}
	if strings.Contains(out.String(), "sga_") {
		t.Errorf("serve printed an admin key although it refused to start:\n%s", out.String())
	}
}

// allowedRequests returns the request ids of the authz allow events among
// the audit log's records. An unterminated last line, torn by a crash or a
// failed write, is not a record.
func allowedRequests(t *testing.T, log []byte) map[string]struct{} {
	t.Helper()
	ids := map[string]struct{}{}
	if i := strings.LastIndexByte(string(log), '\n'); i >= 0 {
		log = log[:i]
	} else {
		log = nil
	}
	for line := range strings.SplitSeq(string(log), "\n") {
		if line == "" {
			continue
		}
		var e struct{ Event, Decision, Req string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line is not JSON: %v: %s", err, line)
		}
		if e.Event == "authz" && e.Decision == "allow" {
			ids[e.Req] = struct{}{}
		}
	}
	return ids
}
