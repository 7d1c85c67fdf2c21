package proxy

import (
	"net/http"
	"strings"
)

// credential returns the request's one credential. RFC 6750: a request
// with no credential is 401 with a bare challenge; a malformed one (two
// credentials, a repeated header, a scheme other than Bearer) is 400
// invalid_request. A request must never be authenticated by one credential
// and attributed to another.
func credential(r *http.Request) (string, *gateError) {
	auth, apiKey := r.Header.Values("Authorization"), r.Header.Values("X-Api-Key")
	switch {
	case len(auth)+len(apiKey) == 0:
		return "", &gateError{status: http.StatusUnauthorized, reason: "missing_key",
			msg:             "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
			wwwAuthenticate: `Bearer realm="scopegate"`}
	case len(auth)+len(apiKey) > 1:
		return "", badCredential("more than one credential: send exactly one of Authorization or x-api-key, once")
	case len(apiKey) == 1:
		if k := apiKey[0]; k != "" && k == strings.TrimSpace(k) {
			return k, nil
		}
		return "", badCredential("the x-api-key header is empty or padded")
	}
	scheme, token, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || token != strings.TrimSpace(token) {
		return "", badCredential("the Authorization header must be 'Bearer <key>'")
	}
	return token, nil
}

func badCredential(msg string) *gateError {
	return &gateError{status: http.StatusBadRequest, reason: "invalid_request", msg: msg,
		wwwAuthenticate: `Bearer realm="scopegate", error="invalid_request"`}
}
