package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// FuzzCredential checks credential on requests parsed from the wire the
// way the server parses them, with up to two Authorization and two
// x-api-key headers and any query string. It never panics; it returns a
// key only when the request carries exactly one credential header, and
// then the key is that header's value (or its Bearer token) exactly, never
// anything from the query string; a refusal is always one of the two
// stable classes: 401 missing_key with a bare challenge when there is no
// credential header, 400 invalid_request otherwise.
func FuzzCredential(f *testing.F) {
	key := "sgk_live_0123456789abcdef_" + strings.Repeat("k", 49)
	for _, c := range []struct{ a1, a2, k1, k2, q string }{
		{a1: "Bearer " + key},
		{k1: key},
		{},
		{a1: "Bearer " + key, k1: key},
		{a1: "Bearer " + key, a2: "Bearer " + key},
		{a1: "bearer " + key},
		{a1: "Basic dXNlcjpwYXNz"},
		{a1: "Bearer  " + key},
		{a1: "Bearer"},
		{a1: "Bearer " + key + " "},
		{k1: " " + key},
		{k1: ""},
		{q: "key=" + key},
		{q: "api_key=" + key, a1: "Bearer other"},
		{k1: "a\x01b"},
		{a1: "Bearer a,b"},
	} {
		f.Add(c.a1, c.a2, c.k1, c.k2, c.q)
	}
	f.Fuzz(func(t *testing.T, a1, a2, k1, k2, query string) {
		var raw strings.Builder
		raw.WriteString("POST /v1/chat/completions")
		if query != "" {
			raw.WriteString("?" + query)
		}
		raw.WriteString(" HTTP/1.1\r\nHost: gw\r\n")
		for _, h := range []struct{ name, v string }{
			{"Authorization", a1}, {"authorization", a2}, {"X-Api-Key", k1}, {"x-api-key", k2},
		} {
			if h.v != "" {
				raw.WriteString(h.name + ": " + h.v + "\r\n")
			}
		}
		raw.WriteString("\r\n")
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
		if err != nil {
			return // the server would refuse the request before the handler
		}
		auth, apiKey := r.Header.Values("Authorization"), r.Header.Values("X-Api-Key")
		n := len(auth) + len(apiKey)

		got, gerr := credential(r)
		again, gerr2 := credential(r)
		if got != again || (gerr == nil) != (gerr2 == nil) || gerr != nil && *gerr != *gerr2 {
			t.Fatalf("credential is not deterministic: %q %v, then %q %v", got, gerr, again, gerr2)
		}
		if gerr != nil {
			if got != "" {
				t.Fatalf("credential returned key %q with error %v", got, gerr)
			}
			switch {
			case n == 0 && (gerr.status != http.StatusUnauthorized || gerr.reason != "missing_key" ||
				gerr.wwwAuthenticate != `Bearer realm="scopegate"`):
				t.Fatalf("no credential header: got %d %s %q, want 401 missing_key with a bare challenge",
					gerr.status, gerr.reason, gerr.wwwAuthenticate)
			case n > 0 && (gerr.status != http.StatusBadRequest || gerr.reason != "invalid_request" ||
				gerr.wwwAuthenticate != `Bearer realm="scopegate", error="invalid_request"`):
				t.Fatalf("%d credential headers: got %d %s %q, want 400 invalid_request", n, gerr.status, gerr.reason, gerr.wwwAuthenticate)
			}
			return
		}
		if n != 1 {
			t.Fatalf("credential accepted %q from %d credential headers (auth %q, x-api-key %q)", got, n, auth, apiKey)
		}
		if got == "" || got != strings.TrimSpace(got) {
			t.Fatalf("credential accepted empty or padded key %q", got)
		}
		switch {
		case len(apiKey) == 1:
			if got != apiKey[0] {
				t.Fatalf("credential = %q, x-api-key is %q", got, apiKey[0])
			}
		default:
			scheme, token, _ := strings.Cut(auth[0], " ")
			if !strings.EqualFold(scheme, "Bearer") || got != token {
				t.Fatalf("credential = %q from Authorization %q", got, auth[0])
			}
		}
		// Whatever the query says, the key came from the headers: the same
		// request without its query string yields the same key.
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = ""
		if k2, err := credential(r2); err != nil || k2 != got {
			t.Fatalf("without the query string credential = %q, %v; with it %q", k2, err, got)
		}
	})
}
