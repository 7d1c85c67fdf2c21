package proxy_test

import (
	"net/http"
	"testing"

	"github.com/scopegate/scopegate/internal/audit"
)

// TestPrivacyOptions checks that events record the client's network and a
// principal's pseudonym when the operator asks for it, for allowed and
// denied requests alike.
func TestPrivacyOptions(t *testing.T) {
	pk := []byte("a pseudonym key of thirty-two by")
	e := newTestEnv(t, envOptions{privacy: audit.Privacy{TruncateIPs: true, PseudonymKey: pk}})
	key := e.key(t, "chat:gpt-4o-mini")
	for _, model := range []string{"gpt-4o-mini", "gpt-4o"} {
		resp, body := e.post(t, key, "/v1/chat/completions", `{"model":"`+model+`","messages":[]}`)
		if model == "gpt-4o-mini" && resp.StatusCode != http.StatusOK {
			t.Fatalf("allowed request = %d: %s", resp.StatusCode, body)
		}
	}
	events := e.auditor.authzEvents()
	if len(events) != 2 {
		t.Fatalf("%d authz events, want 2", len(events))
	}
	for _, ev := range events {
		if ev.ClientIP != "127.0.0.0/24" {
			t.Errorf("%s event client_ip = %q, want 127.0.0.0/24", ev.Decision, ev.ClientIP)
		}
		if want := audit.Pseudonym(pk, string(internalID)); ev.Principal != want {
			t.Errorf("%s event principal = %q, want the pseudonym %q", ev.Decision, ev.Principal, want)
		}
	}
}
