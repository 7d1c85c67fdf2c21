// Package proxy is the data plane: the http.Handler every model call passes
// through.
//
// # Request path
//
//		authenticate → route → parse + canonicalize → authorize → limit → audit → forward → settle → audit
//
//	  - The target is checked first: absolute-form targets, "//", "." and
//	    ".." segments, backslashes, percent-encoded "/", "." or NUL, and keys
//	    in the query string are refused with 400 before anything else, so the
//	    path that is routed is the only reading of it.
//	  - The route table, built once from the configuration, maps method and
//	    path to the features serving it. Unknown paths are 404, other
//	    methods 405. The upstream path comes from the table, never from the
//	    client.
//	  - Authentication takes exactly one credential (Authorization: Bearer,
//	    or x-api-key), checked by apikey.Verifier through a KeyCache.
//	    Missing is 401, malformed is 400 (RFC 6750), both with
//	    WWW-Authenticate.
//	  - The body is read whole, capped, and parsed strictly by the provider
//	    package; what is authorized (the canonical body, with the model
//	    resolved through aliases) is exactly what is forwarded.
//	  - The policy package decides. Denials are 403 with the required scope,
//	    or 404 for a model or dataset no feature serves.
//	  - The Limiter reserves the worst case; the Auditor makes the allow
//	    event durable; only then is the request forwarded by
//	    httputil.ReverseProxy with Rewrite, the client's credential replaced
//	    by the upstream's. The response's usage is read as it streams, and
//	    the call is settled and a usage event written when it ends.
//
// Every refusal is recorded as a deny event and answered in the shape of
// the API the client speaks (OpenAI's or Anthropic's), so official SDKs
// show it well.
//
// # Metrics
//
// With a [Metrics] in the Config, every answered request is counted once
// (a denial when it is answered, an allowed call when it settles), with
// the gateway's own latency, the upstream's, the tokens, and the limiter's
// refusals. Labels are only bounded values: feature and endpoint names,
// reasons, statuses. The package does not import Prometheus;
// internal/metrics implements the interface.
package proxy
