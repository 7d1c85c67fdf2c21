package proxy

import (
	"errors"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/ratelimit"
)

// Metrics counts what the data plane does; *metrics.Metrics is one. Its
// methods are called on the request path, once or twice a request: they
// must not block, and should not allocate.
//
// Every label value the gateway passes is bounded: feature names from the
// configuration ("" when no feature decided), endpoint names (the named
// endpoints, "models.list", a custom route's configured "METHOD path", or
// "" when no route matched), reasons and outcomes the gateway defines, and
// HTTP status codes. Never a key id, principal, client address, model or
// request path.
type Metrics interface {
	// Request counts one answered request. For a denial, reason is the
	// deny reason and status the refusal's; for an allowed call, reason is
	// how the call ended ("ok", "upstream_error", "timeout",
	// "client_abort", "stream_cut", "idle_timeout") and status the one the client got.
	Request(feature, endpoint, decision, reason string, status int)
	// Latency observes one request's times: added, the gateway's own
	// (until the call was handed to the upstream, or for a denial until
	// it was answered); upstream, the time from sending to the response
	// headers; body, from sending until the body ended. A zero upstream or
	// body means there was none.
	Latency(feature, decision string, added, upstream, body time.Duration)
	// Tokens counts the tokens of a finished call, when they are known.
	Tokens(feature string, in, out int64)
	// LimitRefused counts a refusal by the limiter: the refusing limit's
	// kind and scope type ("key", "key_feature", "principal"), "none"
	// for both when no single limit refused, and the reason.
	LimitRefused(kind, scopeType, reason string)
}

// noMetrics is the Metrics used when none is configured.
type noMetrics struct{}

func (noMetrics) Request(string, string, string, string, int)                         {}
func (noMetrics) Latency(string, string, time.Duration, time.Duration, time.Duration) {}
func (noMetrics) Tokens(string, int64, int64)                                         {}
func (noMetrics) LimitRefused(string, string, string)                                 {}

// Decisions, as the audit log and the metrics name them.
const (
	decisionAllow = "allow"
	decisionDeny  = "deny"
)

// countRefusal counts a limiter's refusal, err, answered with reason,
// under the refusing limit's kind and scope type.
func (g *Gateway) countRefusal(err error, reason string) {
	kind, scope := "none", "none"
	if ee, ok := errors.AsType[*ratelimit.ExceededError](err); ok {
		kind, scope = string(ee.Limit.Kind), scopeType(ee.Limit.Scope)
	}
	g.metrics.LimitRefused(kind, scope, reason)
}

// sinceOrZero returns t - from, or zero if either is unset.
func sinceOrZero(t, from time.Time) time.Duration {
	if t.IsZero() || from.IsZero() {
		return 0
	}
	return t.Sub(from)
}

// scopeType returns what kind of scope a limit's scope is, without its
// id: "key", "key_feature" (a feature's limits on one key, see
// FeatureScope) or "principal".
func scopeType(s string) string {
	switch {
	case strings.HasPrefix(s, "principal:"):
		return "principal"
	case strings.Contains(s, "/feature:"):
		return "key_feature"
	case strings.HasPrefix(s, "key:"):
		return "key"
	}
	return "none"
}
