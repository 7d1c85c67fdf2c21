package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ObserveAppend observes how long one audit append waited for its record
// to be durable; it implements audit.Observer.
func (m *Metrics) ObserveAppend(d time.Duration) { m.auditAppend.Observe(d.Seconds()) }

// ObserveBatch observes the number of records of one audit group commit;
// it implements audit.Observer.
func (m *Metrics) ObserveBatch(records int) { m.auditBatch.Observe(float64(records)) }

// KeyCache is what the key cache metrics read; *proxy.KeyCache is one.
type KeyCache interface {
	// Stats returns the lookups the cache answered and those it passed to
	// the store, since it was made.
	Stats() (hits, misses uint64)
}

// WatchKeyCache registers scopegate_key_cache_hits_total and
// scopegate_key_cache_misses_total, read from c at each scrape. It fails
// if a key cache is already watched.
func (m *Metrics) WatchKeyCache(c KeyCache) error {
	hits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "scopegate_key_cache_hits_total",
		Help: "Key and principal lookups answered from the in-memory key cache.",
	}, func() float64 { h, _ := c.Stats(); return float64(h) })
	misses := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "scopegate_key_cache_misses_total",
		Help: "Key and principal lookups that went to the store: not cached, expired, or the cache is disabled.",
	}, func() float64 { _, mi := c.Stats(); return float64(mi) })
	if err := m.reg.Register(hits); err != nil {
		return err
	}
	if err := m.reg.Register(misses); err != nil {
		m.reg.Unregister(hits)
		return err
	}
	return nil
}

// AuditLog is what the audit log gauges read; *audit.Log is one.
type AuditLog interface {
	// Size returns how many records are durable.
	Size() uint64
	// LastCheckpoint returns the size of the latest signed checkpoint and
	// when it was signed, and false before the first one.
	LastCheckpoint() (size uint64, at time.Time, ok bool)
}

// WatchAuditLog registers the audit log gauges, read from l at each
// scrape; checkpoint ages are measured on now, the log's clock (nil:
// time.Now). It fails if an audit log is already watched.
func (m *Metrics) WatchAuditLog(l AuditLog, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	return m.reg.Register(&auditCollector{log: l, now: now})
}

var (
	auditRecordsDesc = prometheus.NewDesc("scopegate_audit_log_records",
		"Records durable in the audit log.", nil, nil)
	checkpointRecordsDesc = prometheus.NewDesc("scopegate_audit_checkpoint_records",
		"Records covered by the latest signed checkpoint; absent before the first one.", nil, nil)
	checkpointAgeDesc = prometheus.NewDesc("scopegate_audit_checkpoint_age_seconds",
		"Seconds since the latest checkpoint was signed; absent before the first one. A checkpoint is signed only when the log grew, so an idle log's age grows with nothing wrong: alert on age while scopegate_audit_log_records > scopegate_audit_checkpoint_records.", nil, nil)
)

// auditCollector reads the audit log gauges at scrape time.
type auditCollector struct {
	log AuditLog
	now func() time.Time
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- auditRecordsDesc
	ch <- checkpointRecordsDesc
	ch <- checkpointAgeDesc
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(auditRecordsDesc, prometheus.GaugeValue, float64(c.log.Size()))
	size, at, ok := c.log.LastCheckpoint()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(checkpointRecordsDesc, prometheus.GaugeValue, float64(size))
	if !at.IsZero() {
		ch <- prometheus.MustNewConstMetric(checkpointAgeDesc, prometheus.GaugeValue, max(c.now().Sub(at).Seconds(), 0))
	}
}

// SetInstance registers scopegate_instance_info{instance_id=id}, always 1,
// so dashboards can tell replicas apart and join on the id the logs carry.
// The label is instance_id, not instance, which Prometheus sets on every
// scraped series to the target's address. Call it once; it fails if
// called twice with the same id.
func (m *Metrics) SetInstance(id string) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "scopegate_instance_info",
		Help:        "Always 1; its label is this replica's instance id (instance_id in the config, or generated in the data directory).",
		ConstLabels: prometheus.Labels{"instance_id": id},
	})
	g.Set(1)
	return m.reg.Register(g)
}

// WatchCounter registers a counter named name whose value fn reads at each
// scrape: for counts another part keeps itself (the anomaly feed's skipped
// records, the webhook's deliveries). fn must never decrease. name must
// start with "scopegate_" and end with "_total".
func (m *Metrics) WatchCounter(name, help string, fn func() float64) error {
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}
