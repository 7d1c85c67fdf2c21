package proxy

import (
	"bufio"
	"net/http"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheckTarget checks checkTarget on request targets parsed from the
// wire the way the server parses them. It never panics, and a target it
// accepts is already canonical: origin-form, clean (path.Clean changes
// nothing but a trailing slash, so ServeMux neither cleans nor redirects
// it), without "//", "." or ".." segments, a backslash, control
// characters or spaces (raw or decoded), a percent-encoded slash, dot,
// backslash or NUL, or invalid UTF-8 once decoded, and
// without a credential in the query string. Accepting is idempotent: the
// target rebuilt from the parsed URL is accepted too and routes the same.
func FuzzCheckTarget(f *testing.F) {
	for _, s := range []string{
		"/v1/chat/completions", "/v1/models/", "/", "//v1/chat/completions", "/v1/./chat", "/v1/../admin",
		"/v1/%2e%2e/admin", "/v1%2fchat", "/v1%5cchat", "/v1\\chat", "/v1/chat%00", "/v1/%2E/x",
		"http://evil/v1/chat/completions", "*", "example.com:443", "/v1/chat?key=sgk_live_x", "/v1/a?x=1&token=2",
		"/v1/chat/completions?api-version=2024", "/v1/a/..", "/v1/a/.", "/v1/caf%C3%A9", "/v1/%0d%0aX:1", "/v1/models%20", "/v1/%c0%ae%c0%ae/admin", "/v1/models%7F",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: gw\r\n\r\n")))
		if err != nil {
			return // the server refuses it before the handler
		}
		if gerr := checkTarget(r); gerr != nil {
			if gerr.status != http.StatusBadRequest || (gerr.reason != "invalid_path" && gerr.reason != "invalid_request") {
				t.Fatalf("checkTarget(%q) = %d %s, want 400 invalid_path or invalid_request", target, gerr.status, gerr.reason)
			}
			return
		}
		raw, p := r.URL.EscapedPath(), r.URL.Path
		if r.URL.IsAbs() || r.URL.Host != "" || !strings.HasPrefix(raw, "/") || !strings.HasPrefix(p, "/") {
			t.Fatalf("checkTarget accepts %q: not origin-form (path %q)", target, raw)
		}
		for _, s := range []string{raw, p} {
			if c := path.Clean(s); c != s && c+"/" != s {
				t.Fatalf("checkTarget accepts %q whose path %q cleans to %q", target, s, c)
			}
			if strings.Contains(s, "//") || strings.Contains(s+"/", "/./") || strings.Contains(s+"/", "/../") || strings.Contains(s, "\\") {
				t.Fatalf("checkTarget accepts %q whose path %q has '//', '.', '..' or a backslash", target, s)
			}
		}
		lower := strings.ToLower(raw)
		for _, enc := range []string{"%2f", "%2e", "%5c", "%00"} {
			if strings.Contains(lower, enc) {
				t.Fatalf("checkTarget accepts %q with %s in its path", target, enc)
			}
		}
		for _, c := range []byte(raw) {
			if c < 0x21 || c == 0x7f {
				t.Fatalf("checkTarget accepts %q with control character %#x in its path", target, c)
			}
		}
		for _, c := range []byte(p) {
			if c < 0x21 || c == 0x7f {
				t.Fatalf("checkTarget accepts %q whose decoded path %q has control character or space %#x", target, p, c)
			}
		}
		if !utf8.ValidString(p) {
			t.Fatalf("checkTarget accepts %q whose decoded path %q is not valid UTF-8", target, p)
		}
		q := r.URL.RawQuery
		if strings.Contains(q, "sgk_") || strings.Contains(q, "sga_") {
			t.Fatalf("checkTarget accepts %q with a key in the query string", target)
		}
		again := r.URL.RequestURI()
		r2, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + again + " HTTP/1.1\r\nHost: gw\r\n\r\n")))
		if err != nil {
			t.Fatalf("accepted %q, rebuilt as %q, which does not parse: %v", target, again, err)
		}
		if gerr := checkTarget(r2); gerr != nil {
			t.Fatalf("accepted %q but not its rebuilt form %q: %s", target, again, gerr.msg)
		}
		if r2.URL.Path != p || r2.URL.EscapedPath() != raw {
			t.Fatalf("accepted %q routes %q, its rebuilt form %q routes %q", target, p, again, r2.URL.Path)
		}
	})
}
