package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookSink is a local HTTP server that records the alerts posted to it.
type hookSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newHookSink(t *testing.T) *hookSink {
	w := &hookSink{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body is not JSON: %s", b)
		}
		w.mu.Lock()
		w.bodies = append(w.bodies, m)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *hookSink) received() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.bodies...)
}

// waitUntil polls cond until it holds or 10 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAnomalyEndToEnd runs the whole alert path through the real binary: a
// key probing a model it lacks the scope for trips the probing rule once;
// the alert is an audit event, an entry of GET /admin/v1/alerts, a webhook
// POST with a Slack-compatible text, and a metric; the configured action
// suspends the key, whose next call is refused, until an admin resumes it.
// Steady legitimate traffic from another key raises nothing, and the audit
// log still verifies.
func TestAnomalyEndToEnd(t *testing.T) {
	hook := newHookSink(t)
	cfg := e2eFeatures + `anomaly:
  probing: {denials: 5, window: 1m}
alerts:
  actions: {probing: suspend_key}
  webhook: {url: "${HOOK_URL}", max_attempts: 2}
`
	g := startServe(t, cfg, map[string]string{"HOOK_URL": hook.srv.URL + "/hook/secret-token"})
	admin := g.info.AdminKey
	g.admin(admin, "POST", "/admin/v1/principals", map[string]any{
		"id": "svc-probe", "kind": "service", "audience": "external", "scopes": []string{"chat"}}, http.StatusCreated, nil)
	prober := g.createKey(admin, map[string]any{"principal": "svc-probe", "scopes": []string{"chat:mock-small"}})
	steady := g.createKey(admin, map[string]any{"principal": "svc-probe", "scopes": []string{"chat:mock-small"}})

	call := func(key, model string) (int, []byte) {
		return g.do("POST", "http://"+g.info.DataAddr+"/v1/chat/completions", key, nil,
			`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`)
	}
	for range 20 {
		if code, b := call(steady.Key, "mock-small"); code != http.StatusOK {
			t.Fatalf("steady call = %d %s", code, b)
		}
	}
	// Four denials are below the threshold of five: no alert yet.
	for range 4 {
		if code, _ := call(prober.Key, "mock-large"); code != http.StatusForbidden {
			t.Fatalf("probing call = %d, want 403", code)
		}
	}
	if code, b := call(prober.Key, "mock-large"); code != http.StatusForbidden {
		t.Fatalf("fifth probing call = %d %s, want 403", code, b)
	}

	// The action suspends the key: its next call, even an allowed one, is
	// refused.
	waitUntil(t, "the probing key to be suspended", func() bool {
		code, _ := call(prober.Key, "mock-small")
		return code == http.StatusUnauthorized
	})
	code, body := call(prober.Key, "mock-small")
	if code != http.StatusUnauthorized || !strings.Contains(string(body), "key_suspended") {
		t.Fatalf("suspended key's call = %d %s, want 401 key_suspended", code, body)
	}

	// One alert, listed by the admin API, about the prober only.
	var list struct {
		Items []map[string]any `json:"items"`
	}
	waitUntil(t, "the alert in the admin API", func() bool {
		g.admin(admin, "GET", "/admin/v1/alerts", nil, http.StatusOK, &list)
		return len(list.Items) > 0
	})
	if len(list.Items) != 1 {
		t.Fatalf("alerts = %+v, want exactly one", list.Items)
	}
	a := list.Items[0]
	if a["rule"] != "probing" || a["subject"] != "key:"+prober.ID || a["principal"] != "svc-probe" {
		t.Errorf("alert = %+v, want probing about key:%s of svc-probe", a, prober.ID)
	}

	// The audit log holds one alert.probing event and the suspension by
	// the anomaly rule.
	probes := auditEventsIn(t, g.dataDir, "alert.probing")
	if len(probes) != 1 || probes[0].str("subject") != "key:"+prober.ID || !strings.Contains(probes[0].str("figures"), "denials=5") {
		t.Errorf("alert.probing events = %+v, want one about key:%s with denials=5", probes, prober.ID)
	}
	suspensions := auditEventsIn(t, g.dataDir, "key.suspend")
	if len(suspensions) != 1 || suspensions[0].str("target") != prober.ID || !strings.Contains(suspensions[0].str("actor"), "anomaly.probing") {
		t.Errorf("key.suspend events = %+v, want one of %s by the probing rule", suspensions, prober.ID)
	}

	// The webhook got one POST with a Slack text naming the rule.
	waitUntil(t, "the webhook POST", func() bool { return len(hook.received()) > 0 })
	got := hook.received()
	if len(got) != 1 || got[0]["rule"] != "probing" || !strings.Contains(got[0]["text"].(string), "probing") {
		t.Errorf("webhook bodies = %+v, want one probing notice with a text", got)
	}
	if strings.Contains(g.logs.String(), "secret-token") {
		t.Error("the webhook URL's token appears in the logs")
	}

	// The metric counts it.
	_, metrics := g.do("GET", "http://"+g.info.AdminAddr+"/metrics", "", nil, nil)
	if !strings.Contains(string(metrics), `scopegate_alerts_total{rule="probing"} 1`) {
		t.Errorf("metrics do not count the probing alert:\n%s", grepLines(string(metrics), "alerts_total"))
	}

	// An admin acknowledges it and resumes the key.
	g.admin(admin, "POST", "/admin/v1/alerts/"+jsonNumber(a["id"])+"/ack", nil, http.StatusOK, nil)
	g.admin(admin, "POST", "/admin/v1/keys/"+prober.ID+"/resume", nil, http.StatusOK, nil)
	if code, b := call(prober.Key, "mock-small"); code != http.StatusOK {
		t.Errorf("resumed key's call = %d %s, want 200", code, b)
	}

	g.stop()
	var out, errOut bytes.Buffer
	vkey := filepath.Join(g.dataDir, "audit", "verifier.key")
	err := run(t.Context(), []string{"scopegate", "audit", "verify", "--vkey", "@" + vkey, g.dataDir},
		func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if err != nil || !strings.HasPrefix(out.String(), "ok: ") {
		t.Errorf("scopegate audit verify = %v\n%s%s", err, out.String(), errOut.String())
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// jsonNumber formats a JSON number decoded into any as an integer.
func jsonNumber(v any) string {
	f, _ := v.(float64)
	b, _ := json.Marshal(int64(f))
	return string(b)
}
