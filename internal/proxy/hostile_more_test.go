package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRequestContentEncoding checks that a body labelled compressed is
// refused before it is read or decompressed, and that identity is
// accepted: the gateway parses the body as it arrives and forwards it
// from memory, so a label the upstream would read differently must not
// pass.
func TestRequestContentEncoding(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	key := e.key(t, "chat:gpt-4o-mini")
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name     string
		encoding []string
		status   int
	}{
		{"Identity", []string{"identity"}, http.StatusOK},
		{"Gzip", []string{"gzip"}, http.StatusUnsupportedMediaType},
		{"Brotli", []string{"br"}, http.StatusUnsupportedMediaType},
		{"IdentityTwice", []string{"identity", "identity"}, http.StatusUnsupportedMediaType},
		{"IdentityThenGzip", []string{"identity, gzip"}, http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := e.up.count()
			var raw strings.Builder
			fmt.Fprintf(&raw, "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n", key, len(body))
			for _, ce := range tt.encoding {
				fmt.Fprintf(&raw, "Content-Encoding: %s\r\n", ce)
			}
			resp, b := e.sendRaw(t, raw.String()+"\r\n"+body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, b)
			}
			forwarded := e.up.count() - calls
			if want := map[bool]int{true: 1, false: 0}[tt.status == http.StatusOK]; forwarded != want {
				t.Errorf("the upstream received %d requests, want %d", forwarded, want)
			}
			if tt.status == http.StatusOK {
				if ce := e.up.last(t).Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
					t.Errorf("forwarded Content-Encoding %q", ce)
				}
				e.auditor.waitUsage(t)
			}
		})
	}
}
