package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// readyTimeout bounds one readiness check, so a hung store makes /readyz
// answer 503 instead of piling up probes.
const readyTimeout = 5 * time.Second

// handleHealthz serves GET /healthz: 200 whenever the process serves HTTP
// at all. It checks nothing else, so an orchestrator restarts the process
// only when it is truly stuck, not when a dependency is down.
func handleHealthz(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, r, logger, http.StatusOK, Health{Status: "ok"})
	})
}

// handleMetrics serves GET /metrics with h, the Prometheus handler, or
// answers 404 as for any unknown path when there is none. Like the probes
// it needs no credential: scrapers usually hold none, the admin listener is
// on loopback by default, and no metric carries a secret or an identifier.
func handleMetrics(logger *slog.Logger, h http.Handler) http.Handler {
	if h == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, r, logger, errNoRoute)
		})
	}
	return h
}

// handleReadyz serves GET /readyz: 200 when ready reports no error, else
// 503 with the reason, so that a load balancer stops sending traffic while
// the store is unavailable. The route needs no credential, so ready must
// return errors whose text is safe to show anyone. A nil ready is always
// ready.
func handleReadyz(logger *slog.Logger, ready func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			err := ready(ctx)
			cancel()
			if err != nil {
				writeError(w, r, logger, &unavailableError{message: "not ready: " + err.Error(), err: err})
				return
			}
		}
		encode(w, r, logger, http.StatusOK, Health{Status: "ready"})
	})
}
