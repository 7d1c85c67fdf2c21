package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/metrics/metricstest"
)

// TestMetricsEndpoint runs scopegate serve, makes an allowed and a denied
// call, and scrapes GET /metrics on the admin listener without a
// credential: the calls are counted, the audit log and key cache metrics
// are there, and neither key, key id nor principal is.
func TestMetricsEndpoint(t *testing.T) {
	g := startGateway(t, backends[0])
	root := g.info.AdminKey
	const principal = "metrics-canary@example.com"
	g.admin(root, "POST", "/admin/v1/principals", map[string]any{"id": principal, "kind": "service", "audience": "internal",
		"team": "obs", "scopes": []string{"chat"}}, http.StatusCreated, nil)
	k := g.createKey(root, map[string]any{"principal": principal, "name": "scraped", "scopes": []string{"chat"}})

	data := "http://" + g.info.DataAddr + "/v1/chat/completions"
	if code, b := g.do("POST", data, k.Key, nil, `{"model":"mock-small","messages":[{"role":"user","content":"hi"}]}`); code != http.StatusOK {
		t.Fatalf("allowed call = %d %s", code, b)
	}
	if code, b := g.do("POST", data, k.Key, nil, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`); code != http.StatusForbidden {
		t.Fatalf("call outside the key's scopes = %d %s, want 403", code, b)
	}

	// The allowed call is counted when its response body has been passed
	// on, which can be just after the client has read it.
	allowed := []string{"feature", "chat", "endpoint", "chat.completions", "decision", "allow", "reason", "ok", "status", "200"}
	url := "http://" + g.info.AdminAddr + "/metrics"
	s := metricstest.Fetch(t, url)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for s.Sum("scopegate_requests_total", allowed...) == 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the allowed call is not counted after 15s:\n%s", s.Text)
		}
		s = metricstest.Fetch(t, url)
	}

	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"scopegate_requests_total", allowed, 1},
		{"scopegate_requests_total", []string{"feature", "chatbot", "decision", "deny", "reason", "missing_scope", "status", "403"}, 1},
		{"scopegate_added_latency_seconds_count", []string{"feature", "chat", "decision", "allow"}, 1},
		{"scopegate_upstream_latency_seconds_count", []string{"feature", "chat"}, 1},
	} {
		if got := s.Sum(w.name, w.labels...); got != w.want {
			t.Errorf("%s%q = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	for _, name := range []string{"scopegate_tokens_total", "scopegate_audit_log_records", "scopegate_audit_append_seconds_count",
		"scopegate_audit_batch_records_count", "scopegate_key_cache_misses_total"} {
		if got := s.Sum(name); got <= 0 {
			t.Errorf("%s = %v, want > 0", name, got)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !s.Has(name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	for _, canary := range []string{k.Key, k.ID, root, principal, g.info.DataAddr} {
		if strings.Contains(s.Text, canary) {
			t.Errorf("/metrics contains %q", canary)
		}
	}
}
