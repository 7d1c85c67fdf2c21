package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/proxy"
)

// TestUpstreamAuthAndQuery checks an Azure-style upstream: the credential
// in the api-key header, a fixed api-version query parameter from the
// config instead of the client's query string, and the mock's test
// controls not passed to a real upstream.
func TestUpstreamAuthAndQuery(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	key, _, _ := e.mintKey(t, keySpec{principal: internalID, scopes: []string{"azure-chat"}})
	req, err := http.NewRequest("POST", e.url("/v1/chat/completions?api-version=2099-01-01&debug=1"),
		strings.NewReader(`{"model":"azure-gpt","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Mock-Status", "500")
	resp, body := e.do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	c := e.up.last(t)
	if c.Path != "/azure/openai/deployments/d1/chat/completions" {
		t.Errorf("upstream path = %q", c.Path)
	}
	if c.RawQuery != "api-version=2024-10-21" {
		t.Errorf("upstream query = %q, want the configured api-version only", c.RawQuery)
	}
	if got := c.Header.Get("Api-Key"); got != "azure-upstream-key" {
		t.Errorf("Api-Key = %q, want the upstream credential", got)
	}
	for _, h := range []string{"Authorization", "X-Api-Key", "X-Mock-Status"} {
		if v := c.Header.Get(h); v != "" {
			t.Errorf("upstream got %s: %q", h, v)
		}
	}
}

// TestValidate checks the configurations that parse but cannot be served.
func TestValidate(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"CustomRouteOnNamedPath", `
upstreams: {m: {kind: mock}, h: {kind: http, base_url: "http://h"}}
features:
  a: {upstream: m, endpoints: [chat.completions], models: [x]}
  b: {upstream: h, endpoints: [{method: POST, path: /v1/chat/completions}], datasets: {from: body.d, allow: [y]}}
`, "served with two different APIs"},
		{"SharedRouteDatasetDisagrees", `
upstreams: {h: {kind: http, base_url: "http://h"}}
features:
  a: {upstream: h, endpoints: [{method: POST, path: /v1/r}], datasets: {from: body.d, allow: [x]}}
  b: {upstream: h, endpoints: [{method: POST, path: /v1/r}], datasets: {from: body.e, allow: [y]}}
`, "disagree on where the dataset is named"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.yaml), func(string) string { return "" })
			if err != nil {
				t.Fatalf("config.Parse: %v", err)
			}
			if err := proxy.Validate(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := proxy.Validate(config.Default()); err != nil {
		t.Errorf("Validate(Default()) = %v", err)
	}
}

// TestMethodNotAllowedNamesAllow checks RFC 9110's Allow header on 405s.
func TestMethodNotAllowedNamesAllow(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	key := e.key(t, "chat")
	for path, want := range map[string]string{"/v1/chat/completions": "POST", "/v1/models": "GET", "/v1/datasets/hr-docs/search": "GET"} {
		req, _ := http.NewRequest("PUT", e.url(path), strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, body := e.do(t, req)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != want {
			t.Errorf("PUT %s = %d, Allow %q; want 405, Allow %q (%s)", path, resp.StatusCode, resp.Header.Get("Allow"), want, body)
		}
	}
	if n := e.up.count(); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
}
