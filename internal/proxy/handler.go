package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Log attribute keys.
const (
	logKeyID  = "key_id"
	logReason = "reason"
	logPath   = "path"
	logRemote = "remote"
	logErr    = "err"
)

// Verifier checks a presented key; *apikey.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, presented string, class apikey.Class, addr netip.Addr) (apikey.Verified, error)
}

// UsageMarker records that a key was used; *apikey.LastUsed is one.
type UsageMarker interface {
	Mark(id apikey.ID, t time.Time)
}

// NewHandler returns the data-plane handler.
func NewHandler(logger *slog.Logger, verifier Verifier, used UsageMarker, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	mux := http.NewServeMux()
	auth := authenticate(logger, verifier, used, now)
	mux.Handle("GET /v1/models", auth(handleModels()))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "invalid_request_error", "no route for "+r.Method+" "+r.URL.Path)
	}))
	return mux
}

type verifiedKey struct{}

// authenticate verifies the request's one credential and puts the verified
// key in the context. Every failure is a 401 whose message comes from a
// fixed list, never from the credential.
func authenticate(logger *slog.Logger, v Verifier, used UsageMarker, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			text, err := credential(r)
			if err != nil {
				writeError(w, http.StatusUnauthorized, "invalid_api_key", "authentication_error", err.Error())
				return
			}
			vk, err := v.Verify(r.Context(), text, apikey.ClassData, clientAddr(r))
			if err != nil {
				var ve *apikey.VerifyError
				var id apikey.ID
				if errors.As(err, &ve) {
					id = ve.ID
				}
				if !apikey.IsCredentialError(err) {
					logger.ErrorContext(r.Context(), "verify key", logKeyID, id, logErr, err)
					writeError(w, http.StatusServiceUnavailable, "unavailable", "api_error", "the gateway cannot check keys right now")
					return
				}
				logger.InfoContext(r.Context(), "denied", logKeyID, id, logReason, apikey.Reason(err), logPath, r.URL.Path, logRemote, r.RemoteAddr)
				writeError(w, http.StatusUnauthorized, apikey.Reason(err), "authentication_error", publicMessage(err))
				return
			}
			used.Mark(vk.Key.ID, now())
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verifiedKey{}, vk)))
		})
	}
}

// credential returns the one credential of r. Two headers, repeated
// headers, or a non-Bearer Authorization are refused: a request must not
// be authenticated by one credential and attributed to another.
func credential(r *http.Request) (string, error) {
	auth, apiKey := r.Header.Values("Authorization"), r.Header.Values("X-Api-Key")
	switch {
	case len(auth)+len(apiKey) == 0:
		return "", errors.New("missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'")
	case len(auth)+len(apiKey) > 1:
		return "", errors.New("more than one credential: send exactly one of Authorization or x-api-key")
	case len(apiKey) == 1:
		return apiKey[0], nil
	}
	scheme, token, ok := cutScheme(auth[0])
	if !ok || !equalFoldASCII(scheme, "Bearer") || token == "" {
		return "", errors.New("authorization header must be 'Bearer <key>'")
	}
	return token, nil
}

func cutScheme(h string) (scheme, token string, ok bool) {
	for i := range len(h) {
		if h[i] == ' ' {
			return h[:i], h[i+1:], true
		}
	}
	return "", "", false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// publicMessage is what a client is told about a refused key. Malformed,
// unknown and wrong-secret keys all read the same.
func publicMessage(err error) string {
	switch apikey.Reason(err) {
	case "malformed_key", "invalid_key":
		return "invalid API key"
	case "wrong_key_class":
		return "admin keys (sga_) are not accepted on the data plane; use a data key (sgk_)"
	}
	return err.Error()
}

// clientAddr is the peer address. Forwarded headers are not trusted until
// the operator declares trusted proxies (a later milestone).
func clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func handleModels() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{}})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes an OpenAI-shaped error.
func writeError(w http.ResponseWriter, status int, code, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}
