package metrics_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scopegate/scopegate/internal/metrics"
	"github.com/scopegate/scopegate/internal/metrics/metricstest"
)

// TestOwnRegistry checks that New registers nothing globally, so two can
// live in one process, and that its registry has the Go and process
// collectors and the scopegate_ metrics, each with a HELP text and a unit
// in its name.
func TestOwnRegistry(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.Request("chat", "chat.completions", "allow", "ok", 200)
	b.Alert("probing")
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "scopegate_") {
			t.Errorf("the default registry has %s", f.GetName())
		}
	}
	s := metricstest.Get(t, a.Handler())
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "scopegate_requests_total"} {
		if !s.Has(name) {
			t.Errorf("scrape has no %s", name)
		}
	}
	for name, help := range s.Help {
		if !strings.HasPrefix(name, "scopegate_") {
			continue
		}
		if len(help) < 20 {
			t.Errorf("%s has HELP %q, want a sentence", name, help)
		}
		unit := false
		for _, suffix := range []string{"_total", "_seconds", "_records"} {
			unit = unit || strings.HasSuffix(name, suffix)
		}
		if !unit {
			t.Errorf("%s names no unit", name)
		}
	}
	if got := s.Sum("scopegate_alerts_total"); got != 0 {
		t.Errorf("a's scopegate_alerts_total = %v, want 0: b's alert counted on a", got)
	}
}

// want is one sample a test expects: its name, a subset of its labels,
// and its value.
type want struct {
	name   string
	labels []string
	value  float64
}

func TestDataPlane(t *testing.T) {
	tests := []struct {
		name string
		do   func(m *metrics.Metrics)
		want []want
	}{
		{
			name: "Requests",
			do: func(m *metrics.Metrics) {
				m.Request("chat", "chat.completions", "allow", "ok", 200)
				m.Request("chat", "chat.completions", "allow", "ok", 200)
				m.Request("chat", "chat.completions", "deny", "missing_scope", 403)
				m.Request("", "", "deny", "not_found", 404)
			},
			want: []want{
				{"scopegate_requests_total", []string{"feature", "chat", "endpoint", "chat.completions", "decision", "allow", "reason", "ok", "status", "200"}, 2},
				{"scopegate_requests_total", []string{"feature", "chat", "decision", "deny", "reason", "missing_scope", "status", "403"}, 1},
				{"scopegate_requests_total", []string{"feature", "none", "endpoint", "unknown", "decision", "deny", "reason", "not_found", "status", "404"}, 1},
				{"scopegate_requests_total", nil, 4},
			},
		},
		{
			name: "Latency",
			do: func(m *metrics.Metrics) {
				m.Latency("chat", "allow", 300*time.Microsecond, 2*time.Second, 3*time.Second)
				m.Latency("chat", "allow", 700*time.Microsecond, 0, 10*time.Millisecond) // no headers came
				m.Latency("", "deny", 50*time.Microsecond, 0, 0)
			},
			want: []want{
				{"scopegate_added_latency_seconds_count", []string{"feature", "chat", "decision", "allow"}, 2},
				{"scopegate_added_latency_seconds_sum", []string{"feature", "chat", "decision", "allow"}, 0.001},
				{"scopegate_added_latency_seconds_bucket", []string{"feature", "chat", "decision", "allow", "le", "0.0005"}, 1},
				{"scopegate_added_latency_seconds_count", []string{"feature", "none", "decision", "deny"}, 1},
				{"scopegate_upstream_latency_seconds_count", []string{"feature", "chat"}, 1},
				{"scopegate_upstream_latency_seconds_sum", []string{"feature", "chat"}, 2},
				{"scopegate_upstream_duration_seconds_count", []string{"feature", "chat"}, 2},
				{"scopegate_upstream_duration_seconds_sum", []string{"feature", "chat"}, 3.01},
				{"scopegate_upstream_latency_seconds_count", []string{"feature", "none"}, 0},
			},
		},
		{
			name: "Tokens",
			do: func(m *metrics.Metrics) {
				m.Tokens("chat", 11, 7)
				m.Tokens("chat", 4, 0)
				m.Tokens("code", 0, 0)
			},
			want: []want{
				{"scopegate_tokens_total", []string{"feature", "chat", "direction", "in"}, 15},
				{"scopegate_tokens_total", []string{"feature", "chat", "direction", "out"}, 7},
				{"scopegate_tokens_total", []string{"feature", "code"}, 0},
			},
		},
		{
			name: "LimitRefused",
			do: func(m *metrics.Metrics) {
				m.LimitRefused("requests_per_minute", "key", "rate_limited")
				m.LimitRefused("requests_per_minute", "key", "rate_limited")
				m.LimitRefused("tokens_per_day", "principal", "budget_exceeded")
				m.LimitRefused("none", "none", "limiter_unavailable")
			},
			want: []want{
				{"scopegate_limiter_refusals_total", []string{"kind", "requests_per_minute", "scope_type", "key", "reason", "rate_limited"}, 2},
				{"scopegate_limiter_refusals_total", []string{"kind", "tokens_per_day", "scope_type", "principal", "reason", "budget_exceeded"}, 1},
				{"scopegate_limiter_refusals_total", []string{"kind", "none", "scope_type", "none", "reason", "limiter_unavailable"}, 1},
			},
		},
		{
			name: "Audit",
			do: func(m *metrics.Metrics) {
				m.ObserveAppend(2 * time.Millisecond)
				m.ObserveAppend(4 * time.Millisecond)
				m.ObserveBatch(1)
				m.ObserveBatch(12)
			},
			want: []want{
				{"scopegate_audit_append_seconds_count", nil, 2},
				{"scopegate_audit_append_seconds_sum", nil, 0.006},
				{"scopegate_audit_batch_records_count", nil, 2},
				{"scopegate_audit_batch_records_sum", nil, 13},
				{"scopegate_audit_batch_records_bucket", []string{"le", "8"}, 1},
				{"scopegate_audit_batch_records_bucket", []string{"le", "16"}, 2},
			},
		},
		{
			name: "Alerts",
			do: func(m *metrics.Metrics) {
				m.Alert("probing")
				m.Alert("probing")
				m.Alert("new_network")
			},
			want: []want{
				{"scopegate_alerts_total", []string{"rule", "probing"}, 2},
				{"scopegate_alerts_total", []string{"rule", "new_network"}, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			tt.do(m)
			s := metricstest.Get(t, m.Handler())
			for _, w := range tt.want {
				if got := s.Sum(w.name, w.labels...); !near(got, w.value) {
					t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
				}
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestMaxSeries checks that a vector stops growing at MaxSeries label
// combinations and counts the rest under "other".
func TestMaxSeries(t *testing.T) {
	m := metrics.New()
	const extra = 25
	for i := range metrics.MaxSeries + extra {
		m.Request(fmt.Sprintf("feature-%d", i), "chat.completions", "allow", "ok", 200)
	}
	s := metricstest.Get(t, m.Handler())
	if n := len(s.Find("scopegate_requests_total")); n != metrics.MaxSeries+1 {
		t.Errorf("scopegate_requests_total has %d series, want %d", n, metrics.MaxSeries+1)
	}
	other := []string{"feature", "other", "endpoint", "other", "decision", "other", "reason", "other", "status", "other"}
	if got := s.Sum("scopegate_requests_total", other...); got != extra {
		t.Errorf("scopegate_requests_total{all other} = %v, want %d", got, extra)
	}
	if got := s.Sum("scopegate_requests_total"); got != metrics.MaxSeries+extra {
		t.Errorf("sum of scopegate_requests_total = %v, want %d: a request was lost", got, metrics.MaxSeries+extra)
	}
}

// TestNoAllocations checks that the request path's calls allocate nothing
// once their label combination was seen.
func TestNoAllocations(t *testing.T) {
	m := metrics.New()
	call := func() {
		m.Request("chat", "chat.completions", "allow", "ok", 200)
		m.Request("", "", "deny", "not_found", 404)
		m.Latency("chat", "allow", time.Millisecond, time.Second, 2*time.Second)
		m.Tokens("chat", 10, 20)
		m.LimitRefused("concurrent", "key_feature", "rate_limited")
		m.ObserveAppend(time.Millisecond)
		m.ObserveBatch(3)
	}
	call()
	if n := testing.AllocsPerRun(1000, call); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

type fakeCache struct{ hits, misses uint64 }

func (c fakeCache) Stats() (uint64, uint64) { return c.hits, c.misses }

type fakeLog struct {
	size, signed uint64
	at           time.Time
}

func (l *fakeLog) Size() uint64 { return l.size }

func (l *fakeLog) LastCheckpoint() (uint64, time.Time, bool) {
	return l.signed, l.at, l.signed > 0
}

func TestWatch(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := metrics.New()
	clock := func() time.Time { return now }
	log := &fakeLog{size: 5}
	if err := m.WatchKeyCache(fakeCache{hits: 7, misses: 3}); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchAuditLog(log, clock); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchKeyCache(fakeCache{}); err == nil {
		t.Error("a second WatchKeyCache succeeded")
	}
	if err := m.WatchAuditLog(log, clock); err == nil {
		t.Error("a second WatchAuditLog succeeded")
	}

	s := metricstest.Get(t, m.Handler())
	for _, w := range []want{
		{"scopegate_key_cache_hits_total", nil, 7},
		{"scopegate_key_cache_misses_total", nil, 3},
		{"scopegate_audit_log_records", nil, 5},
	} {
		if got := s.Sum(w.name); got != w.value {
			t.Errorf("%s = %v, want %v", w.name, got, w.value)
		}
	}
	for _, name := range []string{"scopegate_audit_checkpoint_records", "scopegate_audit_checkpoint_age_seconds"} {
		if s.Has(name) {
			t.Errorf("%s before the first checkpoint: want it absent", name)
		}
	}

	log.size, log.signed, log.at = 9, 8, now.Add(-90*time.Second)
	s = metricstest.Get(t, m.Handler())
	for _, w := range []want{
		{"scopegate_audit_log_records", nil, 9},
		{"scopegate_audit_checkpoint_records", nil, 8},
		{"scopegate_audit_checkpoint_age_seconds", nil, 90},
	} {
		if got := s.Sum(w.name); got != w.value {
			t.Errorf("%s = %v, want %v", w.name, got, w.value)
		}
	}
	if got := s.Types["scopegate_key_cache_hits_total"]; got != "counter" {
		t.Errorf("scopegate_key_cache_hits_total is a %s, want a counter", got)
	}
}

func BenchmarkRequest(b *testing.B) {
	m := metrics.New()
	for b.Loop() {
		m.Request("chat", "chat.completions", "allow", "ok", 200)
		m.Latency("chat", "allow", time.Millisecond, time.Second, 2*time.Second)
		m.Tokens("chat", 10, 20)
	}
}

func TestSetInstance(t *testing.T) {
	m := metrics.New()
	if err := m.SetInstance("sg-abcdefghij"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetInstance("sg-abcdefghij"); err == nil {
		t.Error("a second SetInstance succeeded")
	}
	s := metricstest.Get(t, m.Handler())
	if got := s.Sum("scopegate_instance_info", "instance_id", "sg-abcdefghij"); got != 1 {
		t.Errorf(`scopegate_instance_info{instance_id="sg-abcdefghij"} = %v, want 1`, got)
	}
}

// TestWatchCounter checks that a watched counter reads its source at each
// scrape, and that a name can be registered once only.
func TestWatchCounter(t *testing.T) {
	m := metrics.New()
	var n float64
	if err := m.WatchCounter("scopegate_test_things_total", "Things.", func() float64 { return n }); err != nil {
		t.Fatal(err)
	}
	n = 7
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() == "scopegate_test_things_total" {
			found = true
			if got := f.GetMetric()[0].GetCounter().GetValue(); got != 7 {
				t.Errorf("scraped %v, want 7", got)
			}
		}
	}
	if !found {
		t.Error("the watched counter is not scraped")
	}
	if err := m.WatchCounter("scopegate_test_things_total", "Again.", func() float64 { return 0 }); err == nil {
		t.Error("registering the same counter twice succeeded")
	}
}
