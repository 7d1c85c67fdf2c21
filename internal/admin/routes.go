package admin

import (
	"net/http"
	"time"
)

// route is one line of the API: a method, a ServeMux path pattern, and the
// handler with its middleware.
type route struct {
	method  string
	path    string
	handler http.Handler
}

// routes returns every route of the admin API. It is the only list: the
// ServeMux is built from it, and the OpenAPI test checks openapi.json
// against it, so a route cannot be served without being documented. Making
// the handlers touches none of the dependencies, so the test can call it
// with nil ones. cfg.Logger must not be nil.
func routes(cfg Config) []route {
	logger, issuer, now := cfg.Logger, cfg.Issuer, cfg.Now
	if now == nil {
		now = time.Now
	}
	authed := authenticate(logger, cfg.Verifier)
	return []route{
		// Probes and the API description answer without a credential: load
		// balancers and tools must reach them without holding a key.
		{"GET", "/healthz", handleHealthz(logger)},
		{"GET", "/readyz", handleReadyz(logger, cfg.Ready)},
		{"GET", "/admin/v1/openapi.json", handleOpenAPI()},
		// Prometheus scrapers hold no credential either; the metrics carry
		// no secret and no unbounded label (see docs/metrics.md).
		{"GET", "/metrics", handleMetrics(logger, cfg.Metrics)},

		{"POST", "/admin/v1/principals", authed(handlePrincipalCreate(logger, issuer))},
		{"GET", "/admin/v1/principals", authed(handlePrincipalList(logger, issuer))},
		{"GET", "/admin/v1/principals/{id}", authed(handlePrincipalGet(logger, issuer))},
		{"PATCH", "/admin/v1/principals/{id}", authed(handlePrincipalUpdate(logger, issuer))},
		{"POST", "/admin/v1/principals/{id}/disable", authed(handlePrincipalOp(logger, issuer.DisablePrincipal))},
		{"POST", "/admin/v1/principals/{id}/enable", authed(handlePrincipalOp(logger, issuer.EnablePrincipal))},

		{"POST", "/admin/v1/keys", authed(handleKeyCreate(logger, issuer))},
		{"GET", "/admin/v1/keys", authed(handleKeyList(logger, issuer))},
		{"GET", "/admin/v1/keys/{id}", authed(handleKeyGet(logger, issuer))},
		{"PATCH", "/admin/v1/keys/{id}", authed(handleKeyUpdate(logger, issuer))},
		{"POST", "/admin/v1/keys/{id}/suspend", authed(handleKeyOp(logger, issuer.SuspendKey))},
		{"POST", "/admin/v1/keys/{id}/resume", authed(handleKeyOp(logger, issuer.ResumeKey))},
		{"POST", "/admin/v1/keys/{id}/revoke", authed(handleKeyOp(logger, issuer.RevokeKey))},
		{"POST", "/admin/v1/keys/{id}/rotate", authed(handleKeyRotate(logger, issuer))},

		{"POST", "/admin/v1/explain", authed(handleExplain(logger, issuer, cfg.Explainer))},

		// Usage is scoped like the key lists: each role sees its reach.
		{"GET", "/admin/v1/usage", authed(handleUsage(logger, cfg.Usage, now))},
		// Key hygiene reads the key lists and the usage, with their reach.
		{"GET", "/admin/v1/hygiene", authed(handleHygiene(logger, issuer, cfg.Usage, now))},

		// Alerts are scoped like the key lists, by the principal they are
		// about; alerts about no principal (a network) are for admins.
		{"GET", "/admin/v1/alerts", authed(handleAlertList(logger, cfg.Alerts))},
		{"POST", "/admin/v1/alerts/{id}/ack", authed(handleAlertAck(logger, cfg.Alerts))},

		// The audit log spans every tenant: admin role only.
		{"GET", "/admin/v1/audit/events", authed(handleAuditEvents(logger, cfg.Audit))},
		{"GET", "/admin/v1/audit/events/{idx}", authed(handleAuditEvent(logger, cfg.Audit))},
		{"GET", "/admin/v1/audit/checkpoint", authed(handleAuditCheckpoint(logger, cfg.Audit))},
		{"GET", "/admin/v1/audit/consistency", authed(handleAuditConsistency(logger, cfg.Audit))},
		{"GET", "/admin/v1/audit/stream", authed(handleAuditStream(logger, cfg.Audit))},
		{"GET", "/admin/v1/audit/pseudonym", authed(handleAuditPseudonym(logger, cfg.Audit))},
	}
}
