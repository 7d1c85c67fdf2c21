package proxy

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// checkTarget refuses request targets that could be read two ways. Go's
// ServeMux would clean or redirect some of them, and an upstream might
// decode others differently from us; refusing them outright means the
// path we route is the only path there is.
func checkTarget(r *http.Request) *gateError {
	if r.URL.IsAbs() || r.URL.Host != "" || (r.RequestURI != "" && !strings.HasPrefix(r.RequestURI, "/")) {
		return refuse(http.StatusBadRequest, "invalid_path", "absolute-form and authority-form request targets are not accepted")
	}
	raw := r.URL.EscapedPath()
	lower := strings.ToLower(raw)
	switch {
	case !strings.HasPrefix(raw, "/"):
		return refuse(http.StatusBadRequest, "invalid_path", "the path must start with '/'")
	case strings.Contains(raw, "//"):
		return refuse(http.StatusBadRequest, "invalid_path", "the path contains '//'")
	case strings.Contains(raw, "\\") || strings.Contains(lower, "%5c"):
		return refuse(http.StatusBadRequest, "invalid_path", "the path contains a backslash")
	case strings.Contains(lower, "%2f"), strings.Contains(lower, "%2e"), strings.Contains(lower, "%00"):
		return refuse(http.StatusBadRequest, "invalid_path", "the path contains a percent-encoded '/', '.' or NUL")
	}
	for seg := range strings.SplitSeq(raw[1:], "/") {
		if seg == "." || seg == ".." {
			return refuse(http.StatusBadRequest, "invalid_path", "the path contains a '.' or '..' segment")
		}
	}
	// The decoded path too: routes read it, and a custom route fills its
	// parameters from it, so "%0a" or "%20" is as much a newline or a
	// space as the raw byte.
	for _, p := range []string{raw, r.URL.Path} {
		for i := range len(p) {
			if c := p[i]; c < 0x21 || c == 0x7f {
				return refuse(http.StatusBadRequest, "invalid_path", "the path contains a control character or space, raw or percent-encoded")
			}
		}
	}
	if !utf8.ValidString(r.URL.Path) {
		// Such as "%c0%ae", an overlong '.' that a lax decoder reads as one.
		return refuse(http.StatusBadRequest, "invalid_path", "the path is not valid UTF-8 once percent-decoded")
	}
	if credentialInQuery(r) {
		return &gateError{status: http.StatusBadRequest, reason: "invalid_request",
			msg:             "API keys are not accepted in the query string (they end up in logs); send 'Authorization: Bearer <key>'",
			wwwAuthenticate: `Bearer realm="scopegate", error="invalid_request"`}
	}
	return nil
}

// checkUpgrade refuses protocol upgrades. No model API upgrades its
// connection, and ReverseProxy passes an upgrade on (it puts Connection:
// Upgrade and Upgrade back after removing hop-by-hop headers) and, after a
// 101, tunnels whatever the two ends speak: an h2c upgrade would give the
// client a raw HTTP/2 connection to the upstream whose later requests pass
// none of the gateway's checks.
func checkUpgrade(r *http.Request) *gateError {
	if len(r.Header.Values("Upgrade")) > 0 {
		return refuse(http.StatusBadRequest, "invalid_request", "protocol upgrades are not accepted; send a plain HTTP request without an Upgrade header")
	}
	return nil
}

// credentialInQuery reports whether the query string carries something
// that looks like a credential: a known parameter name, or a value shaped
// like one of our keys.
func credentialInQuery(r *http.Request) bool {
	q := r.URL.RawQuery
	if q == "" {
		return false
	}
	if strings.Contains(q, "sgk_") || strings.Contains(q, "sga_") {
		return true
	}
	for name := range r.URL.Query() {
		switch strings.ToLower(name) {
		case "key", "api_key", "api-key", "apikey", "access_token", "token", "x-api-key":
			return true
		}
	}
	return false
}
