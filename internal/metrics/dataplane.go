package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// requestLabels is one combination of scopegate_requests_total's labels.
type requestLabels struct {
	feature, endpoint, decision, reason string
	status                              int
}

func (k requestLabels) statusText() string {
	if k.status == 0 {
		return Other
	}
	return strconv.Itoa(k.status)
}

type upstreamObservers struct{ headers, body prometheus.Observer }

type tokenCounters struct{ in, out prometheus.Counter }

// Request counts one answered data-plane request. feature is "" when no
// feature decided it (NoFeature), endpoint "" when no route matched
// (UnknownEndpoint). For allowed calls reason is how the call ended
// ("ok", "upstream_error", …) and status the status the client got.
func (m *Metrics) Request(feature, endpoint, decision, reason string, status int) {
	if endpoint == "" {
		endpoint = UnknownEndpoint
	}
	m.requestChildren.get(requestLabels{orNone(feature), endpoint, decision, orNone(reason), status}).Inc()
}

// Latency observes one request's times: added, the gateway's own time
// (scopegate_added_latency_seconds); for a forwarded call, upstream, the
// time to the upstream's response headers, and body, the time until its
// body ended. A zero upstream or body is not observed: no headers came, or
// the call was not forwarded.
func (m *Metrics) Latency(feature, decision string, added, upstream, body time.Duration) {
	feature = orNone(feature)
	m.addedChildren.get([2]string{feature, decision}).Observe(added.Seconds())
	if upstream <= 0 && body <= 0 {
		return
	}
	o := m.upstreamChildren.get(feature)
	if upstream > 0 {
		o.headers.Observe(upstream.Seconds())
	}
	if body > 0 {
		o.body.Observe(body.Seconds())
	}
}

// Tokens counts the input and output tokens of a finished call to feature.
func (m *Metrics) Tokens(feature string, in, out int64) {
	if in <= 0 && out <= 0 {
		return
	}
	c := m.tokenChildren.get(orNone(feature))
	if in > 0 {
		c.in.Add(float64(in))
	}
	if out > 0 {
		c.out.Add(float64(out))
	}
}

// LimitRefused counts a request the limiter refused: the kind of the limit
// that refused ("requests_per_minute", …), its scope type ("key",
// "key_feature", "principal"), and the reason. kind and scopeType are
// "none" when no single limit refused (the limiter could not be reached).
func (m *Metrics) LimitRefused(kind, scopeType, reason string) {
	m.refusalChildren.get([3]string{orNone(kind), orNone(scopeType), orNone(reason)}).Inc()
}
