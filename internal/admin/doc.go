// Package admin is the admin REST API: principals and keys under
// /admin/v1/, explanations of data-plane decisions, an OpenAPI document,
// and the /healthz and /readyz probes. It
// is served on its own listener (default 127.0.0.1:8081), apart from the
// data plane, by the http.Handler that [NewHandler] returns.
//
// The package is an adapter: it turns HTTP requests into calls on an
// [apikey.Issuer], which owns every business rule (ceilings, lifetimes,
// roles and reach, rotation, idempotency), and turns the results back into
// the JSON shapes of wire.go. It decides nothing about keys itself.
//
// # Routes
//
// Every route is one line of the table in routes.go, which both the
// ServeMux and the test that compares the routes with openapi.json read.
// The OpenAPI 3 document is served at GET /admin/v1/openapi.json without
// authentication: it describes the API, not any data in it.
//
// # Authentication
//
// Every /admin/v1/ route except the OpenAPI document needs exactly one
// credential, "Authorization: Bearer sga_…", an admin key. Data-plane keys
// (sgk_) are refused with their own message; an unknown key id and a wrong
// secret get the same answer. The key's roles, intersected with its
// principal's ceiling, become the [apikey.Actor] the Issuer checks. The
// presented credential never appears in an answer or a log line; the key id
// does appear in logs, as everywhere else in scopegate.
//
// # Errors
//
// Every error answer is {"error":{"type","message","field"}} ([ErrorBody]),
// built by writeError in errors.go, the one place that maps errors to
// statuses:
//
//	400 invalid_request  bad JSON, unknown field, bad value (field names it)
//	401 unauthorized     missing, malformed, unknown or unusable admin key
//	403 forbidden        the caller's roles do not allow the operation
//	404 not_found        no such object, or one outside the caller's reach;
//	                     an audit record, checkpoint or proof not held yet
//	405 invalid_request  the path exists but not for this method
//	409 conflict         duplicate id, revoked key, key already rotated,
//	                     Idempotency-Key reused for another request
//	413 invalid_request  body larger than 1 MiB
//	415 invalid_request  body without Content-Type: application/json
//	500 internal         anything else; details only in the log
//	501 not_implemented  explain on a server built without an [Explainer],
//	                     the audit routes without an [AuditReader], usage
//	                     without a [UsageReader]
//	503 unavailable      the key store could not be asked (fail closed), or
//	                     /readyz is not ready
//
// Objects outside the caller's reach are 404, never 403, so that ids do not
// leak; 403 is kept for operations the caller's roles never allow, such as a
// keys:team admin creating a principal.
//
// # Request bodies
//
// Bodies are decoded strictly: Content-Type application/json, at most
// 1 MiB, exactly one JSON object, no unknown fields. Durations ("ttl",
// "grace") are Go durations ("720h", "20m", "0s") and may also start with a
// whole number of days: "90d", "1d12h".
//
// # Lists
//
// GET /admin/v1/principals and GET /admin/v1/keys take the query
// parameters principal (keys only), team, status, after and limit (1 to
// 500, default 500), and answer {"items":[…],"next":"…"}. Pass next as
// after to get the following page; it is empty on the last page. Unknown
// parameters are refused, so a typo does not silently widen a list.
//
// # Logging
//
// Each request leaves one Info line on the logger given to [NewHandler]
// ("admin request": method, route, path, status, bytes, duration, client,
// key_id, principal, error_type, reason), never with a body, a query string
// or a header. Server errors add an Error line with the cause; a 503 adds a
// Warn line.
//
// # Rotation
//
// POST /admin/v1/keys/{id}/rotate with an Idempotency-Key header may be
// retried safely: a retry answers 201 with the same key record and the same
// key text, exactly as the first answer, and creates no second key. The
// same header value sent for a different key is a 409.
//
// # Explain
//
// POST /admin/v1/explain takes a key (by id, or whole) and a data-plane
// request, and answers 200 with the decision the gateway would make, allow
// or deny, from the [Explainer] the proxy provides: the same code decides
// both. The key must be within the caller's reach, as for GET
// /admin/v1/keys/{id}. Nothing is forwarded and no audit record is written:
// an explanation reads, it changes nothing.
//
// # Audit
//
// GET /admin/v1/audit/events (filtered, paginated by position),
// /audit/events/{idx} (a record and its inclusion proof),
// /audit/checkpoint, /audit/consistency, /audit/stream (server-sent events)
// and /audit/pseudonym read the audit log through an [AuditReader], for the
// admin role only: the log spans every tenant. Records, proofs and
// checkpoints are passed through exactly as the log holds them, so that a
// client can verify them offline. A server built without an AuditReader
// answers 501.
//
// # Usage
//
// GET /admin/v1/usage answers requests, tokens and cost over a range of
// whole UTC hours, grouped by key, principal, team, feature, model, day or
// hour and filtered by the same, from a [UsageReader]: the usage store,
// which every replica adds to, so the report spans the cluster. It is
// scoped like the key lists: an admin sees every tenant, a keys:team admin
// the rows recorded for its team, a keys:self admin its own principal's. A
// server built without a UsageReader answers 501.
package admin
