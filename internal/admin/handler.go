package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Config holds the dependencies of the admin API.
type Config struct {
	// Logger receives one access line per request and the details of
	// server errors; nil discards.
	Logger *slog.Logger
	// Issuer does every change and read for the authenticated caller.
	Issuer *apikey.Issuer
	// Verifier checks the admin key each request presents.
	Verifier *apikey.Verifier
	// Ready reports whether the process can serve (the store answers, the
	// audit log is writable) and drives /readyz; nil is always ready.
	Ready func(context.Context) error
	// Explainer answers POST /admin/v1/explain; with none, the route
	// answers 501.
	Explainer Explainer
	// Audit answers the /admin/v1/audit/ routes; with none, they answer
	// 501.
	Audit AuditReader
	// Usage answers GET /admin/v1/usage; with none, it answers 501.
	Usage UsageReader
	// Alerts answers GET /admin/v1/alerts and POST
	// /admin/v1/alerts/{id}/ack; with none, they answer 501.
	Alerts AlertInbox
	// Now is the clock of defaults that depend on the time, such as the
	// range of a usage report; nil is time.Now.
	Now func() time.Time
	// Metrics serves GET /metrics (Prometheus) without a credential; with
	// none, the route answers 404.
	Metrics http.Handler
}

// NewHandler returns the admin API and the /healthz and /readyz probes as
// one http.Handler, to be served on the admin listener.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	logger := cfg.Logger
	mux := http.NewServeMux()
	for _, rt := range routes(cfg) {
		mux.Handle(rt.method+" "+rt.path, rt.handler)
	}
	var h http.Handler = jsonFallback(logger, mux)
	h = recoverPanics(logger, h)
	return logAccess(logger, h)
}

// jsonFallback answers requests that match no route with the API's JSON
// error shape instead of ServeMux's plain-text 404 and 405, so clients need
// to parse only one kind of error. Redirects and matched routes go to the
// mux as they are.
func jsonFallback(logger *slog.Logger, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 (and compute Allow), but
		// keep its plain-text body.
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeError(w, r, logger, &requestError{status: http.StatusMethodNotAllowed,
				message: fmt.Sprintf("method %s is not allowed here; allowed: %s", r.Method, probe.header.Get("Allow"))})
			return
		}
		writeError(w, r, logger, errNoRoute)
	})
}

// errNoRoute is the answer to a path that is not part of the API.
var errNoRoute = errors.New("no such endpoint; the API is described at /admin/v1/openapi.json")

// headerProbe is a ResponseWriter that keeps the status and headers and
// drops the body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) WriteHeader(status int)      { p.status = status }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }

// recoverPanics turns a panicking handler into a 500 for the client and an
// error log line with the stack, instead of a dropped connection.
// http.ErrAbortHandler is re-raised: it is how a handler asks to abort.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			logger.LogAttrs(r.Context(), slog.LevelError, "admin handler panicked",
				slog.String(logKeyMethod, r.Method), slog.String(logKeyRoute, r.Pattern),
				slog.Any(logKeyPanic, v), slog.String(logKeyStack, string(debug.Stack())))
			writeError(w, r, logger, errors.New("handler panicked"))
		}()
		next.ServeHTTP(w, r)
	})
}
