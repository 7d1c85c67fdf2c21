package admin

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Attribute keys of the admin API's log lines. Dashboards and alerts match
// on them, so they change only with a note in the changelog.
const (
	logKeyMethod    = "method"
	logKeyRoute     = "route"
	logKeyPath      = "path"
	logKeyStatus    = "status"
	logKeyBytes     = "bytes"
	logKeyDuration  = "duration"
	logKeyClient    = "client"
	logKeyKeyID     = "key_id"
	logKeyPrincipal = "principal"
	logKeyErrorType = "error_type"
	logKeyReason    = "reason"
	logKeyErr       = "err"
	logKeyPanic     = "panic"
	logKeyStack     = "stack"
)

// requestInfo collects what the access line reports about a request as it
// passes through the handlers: who it was (once authenticated, or the key
// id that failed) and how it failed. Handlers fill it in through the
// request's context; logAccess writes it out.
type requestInfo struct {
	keyID     apikey.ID
	principal apikey.PrincipalID
	errType   string
	reason    string
}

type requestInfoKey struct{}

// infoFrom returns the request's info, or a throwaway one when the handler
// runs without logAccess (as in a unit test of a single handler).
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// logAccess writes one Info line per request: method, route, path, status,
// size, duration, client, and the key id and principal when known. It
// never logs bodies, query strings or headers, so no credential or secret
// can reach the log through it.
func logAccess(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)

		attrs := []slog.Attr{
			slog.String(logKeyMethod, r.Method),
			slog.String(logKeyRoute, r.Pattern),
			slog.String(logKeyPath, redactPath(r.URL.Path)),
			slog.Int(logKeyStatus, sw.statusCode()),
			slog.Int64(logKeyBytes, sw.bytes),
			slog.Duration(logKeyDuration, time.Since(start)),
			slog.String(logKeyClient, r.RemoteAddr),
		}
		if info.keyID != "" {
			attrs = append(attrs, slog.String(logKeyKeyID, string(info.keyID)))
		}
		if info.principal != "" {
			attrs = append(attrs, slog.String(logKeyPrincipal, string(info.principal)))
		}
		if info.errType != "" {
			attrs = append(attrs, slog.String(logKeyErrorType, info.errType))
		}
		if info.reason != "" {
			attrs = append(attrs, slog.String(logKeyReason, info.reason))
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "admin request", attrs...)
	})
}

// redactPath hides path segments that look like a key, in case someone
// pastes a whole key where its id belongs (GET /admin/v1/keys/sgk_live_…):
// the path is logged, the key must not be.
func redactPath(p string) string {
	if !strings.Contains(p, "sgk_") && !strings.Contains(p, "sga_") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.Contains(s, "sgk_") || strings.Contains(s, "sga_") {
			segs[i] = "[REDACTED]"
		}
	}
	return strings.Join(segs, "/")
}

// statusWriter remembers the status and size of an answer for the access
// line.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
