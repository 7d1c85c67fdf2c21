package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values used when the caller has none to give.
const (
	// NoFeature labels what no feature decided: a request refused before
	// authorization, or GET /v1/models.
	NoFeature = "none"
	// UnknownEndpoint labels a request that matched no route.
	UnknownEndpoint = "unknown"
	// Other replaces every label of an observation past MaxSeries.
	Other = "other"
)

// MaxSeries is the most label combinations one vector keeps; see the
// package documentation.
const MaxSeries = 2000

// Buckets, in seconds or records.
var (
	// addedBuckets span the gateway's own work: tens of microseconds in
	// memory, milliseconds with an fsync, up to the 5s audit timeout.
	addedBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	// upstreamBuckets span model calls: a cached embedding to a long
	// reasoning stream.
	upstreamBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}
	// appendBuckets span one group commit: a write and an fsync.
	appendBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}
	// batchBuckets are records per group commit.
	batchBuckets = prometheus.ExponentialBuckets(1, 2, 12) // 1 … 2048
)

// Metrics holds every metric of the gateway, on its own registry. Its
// methods are safe for concurrent use and do not block; the zero value is
// not usable, use [New].
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	added        *prometheus.HistogramVec
	upstream     *prometheus.HistogramVec
	upstreamBody *prometheus.HistogramVec
	tokens       *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	auditAppend  prometheus.Histogram
	auditBatch   prometheus.Histogram
	alerts       *prometheus.CounterVec

	requestChildren  *children[requestLabels, prometheus.Counter]
	addedChildren    *children[[2]string, prometheus.Observer]
	upstreamChildren *children[string, upstreamObservers]
	tokenChildren    *children[string, tokenCounters]
	refusalChildren  *children[[3]string, prometheus.Counter]
	alertChildren    *children[string, prometheus.Counter]
}

// New returns the gateway's metrics on a new registry, with the Go runtime
// and process collectors registered on it.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scopegate_requests_total",
		Help: "Data-plane requests answered, by feature, endpoint, decision (allow or deny), reason (the deny reason, or for allowed calls how they ended: ok, upstream_error, timeout, client_abort, stream_cut, idle_timeout) and HTTP status.",
	}, []string{"feature", "endpoint", "decision", "reason", "status"})
	m.added = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scopegate_added_latency_seconds",
		Help:    "Time the gateway itself spends on a request: for allowed calls from arrival until the request is handed to the upstream (authentication, parsing, policy, limits, the durable authz event); for denials until the refusal is answered.",
		Buckets: addedBuckets,
	}, []string{"feature", "decision"})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scopegate_upstream_latency_seconds",
		Help:    "Time from sending a call to the upstream until its response headers arrive (time to first byte of a stream).",
		Buckets: upstreamBuckets,
	}, []string{"feature"})
	m.upstreamBody = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scopegate_upstream_duration_seconds",
		Help:    "Time from sending a call to the upstream until its response body ended, was cut, or failed: the whole stream for streamed calls.",
		Buckets: upstreamBuckets,
	}, []string{"feature"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scopegate_tokens_total",
		Help: "Tokens of finished calls, by feature and direction (in: prompt, out: completion), as reported by the upstream or, for a stream that ended early, as delivered.",
	}, []string{"feature", "direction"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scopegate_limiter_refusals_total",
		Help: "Requests the limiter refused, by limit kind, scope type (key, key_feature, principal; none when no single limit refused) and reason (rate_limited, budget_exceeded, limit_unpriced, limiter_unavailable).",
	}, []string{"kind", "scope_type", "reason"})
	m.auditAppend = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "scopegate_audit_append_seconds",
		Help:    "Time an audit append waits until its record is durable (written and fsynced with its batch), or fails.",
		Buckets: appendBuckets,
	})
	m.auditBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "scopegate_audit_batch_records",
		Help:    "Records written per audit group commit (one write and one fsync each).",
		Buckets: batchBuckets,
	})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scopegate_alerts_total",
		Help: "Alerts raised, by rule.",
	}, []string{"rule"})
	m.reg.MustRegister(m.requests, m.added, m.upstream, m.upstreamBody, m.tokens, m.refusals,
		m.auditAppend, m.auditBatch, m.alerts,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.requestChildren = newChildren(requestLabels{Other, Other, Other, Other, 0}, func(k requestLabels) prometheus.Counter {
		return m.requests.WithLabelValues(k.feature, k.endpoint, k.decision, k.reason, k.statusText())
	})
	m.addedChildren = newChildren([2]string{Other, Other}, func(k [2]string) prometheus.Observer {
		return m.added.WithLabelValues(k[0], k[1])
	})
	m.upstreamChildren = newChildren(Other, func(f string) upstreamObservers {
		return upstreamObservers{headers: m.upstream.WithLabelValues(f), body: m.upstreamBody.WithLabelValues(f)}
	})
	m.tokenChildren = newChildren(Other, func(f string) tokenCounters {
		return tokenCounters{in: m.tokens.WithLabelValues(f, "in"), out: m.tokens.WithLabelValues(f, "out")}
	})
	m.refusalChildren = newChildren([3]string{Other, Other, Other}, func(k [3]string) prometheus.Counter {
		return m.refusals.WithLabelValues(k[0], k[1], k[2])
	})
	m.alertChildren = newChildren(Other, func(rule string) prometheus.Counter {
		return m.alerts.WithLabelValues(rule)
	})
	return m
}

// Handler returns the /metrics handler: the registry in the Prometheus
// text or OpenMetrics format, as the scraper asks.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		// Scrapes are cheap, but a flood of them should not pile up.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Registry returns the registry the metrics are on, for collectors of
// other packages and for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Alert counts one alert raised by rule. The alert dispatcher calls it
// through its own interface{ Alert(rule string) }; rule is one of the
// anomaly package's rule names.
func (m *Metrics) Alert(rule string) {
	m.alertChildren.get(orNone(rule)).Inc()
}

// orNone returns v, or NoFeature ("none") when v is empty: an empty label
// value reads as a missing label in PromQL.
func orNone(v string) string {
	if v == "" {
		return NoFeature
	}
	return v
}
