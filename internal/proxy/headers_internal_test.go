package proxy

import (
	"net/http"
	"testing"
)

// TestStrippedHeadersCanonical guards rewrite, which deletes these names
// from the outbound header map as they are: a name not in canonical form
// would never match and the header would reach the upstream.
func TestStrippedHeadersCanonical(t *testing.T) {
	for _, h := range strippedRequestHeaders {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("strippedRequestHeaders has %q, want the canonical %q", h, c)
		}
	}
	for _, h := range openAIHeaders {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("openAIHeaders has %q, want the canonical %q", h, c)
		}
	}
}
