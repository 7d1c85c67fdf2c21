package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/metrics"
	"github.com/scopegate/scopegate/internal/metrics/metricstest"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var (
	metricName = regexp.MustCompile(`\b(?:scopegate|go|process)_[a-z0-9_]+`)
	// selector is a metric name with its label matchers.
	selector = regexp.MustCompile(`\b((?:scopegate|go|process)_[a-z0-9_]+)\{([^}]*)\}`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	byClause = regexp.MustCompile(`\bby \(([^)]*)\)`)
)

// allFamilies returns a scrape of a Metrics whose every metric has been
// used, so that each family and label is present.
func allFamilies(t *testing.T) metricstest.Scrape {
	t.Helper()
	m := metrics.New()
	m.Request("chat", "chat.completions", "allow", "ok", 200)
	m.Latency("chat", "allow", time.Millisecond, time.Second, 2*time.Second)
	m.Tokens("chat", 1, 1)
	m.LimitRefused("requests_per_minute", "key", "rate_limited")
	m.ObserveAppend(time.Millisecond)
	m.ObserveBatch(1)
	m.Alert("probing")
	if err := m.WatchKeyCache(fakeCache{hits: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchAuditLog(&fakeLog{size: 2, signed: 1, at: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	return metricstest.Get(t, m.Handler())
}

// TestDashboard checks deploy/grafana/scopegate.json: it parses, every
// panel queries the ${DS_PROMETHEUS} data source, every metric its
// queries name exists in the registry with the labels they match or group
// by, and the panels the operator needs are there.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "scopegate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("scopegate.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q, uid %q: want both", d.Title, d.UID)
	}
	hasDS := slices.ContainsFunc(d.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query any    `json:"query"`
	}) bool {
		return v.Name == "DS_PROMETHEUS" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasDS {
		t.Error("no datasource template variable DS_PROMETHEUS of type prometheus")
	}

	s := allFamilies(t)
	labels := map[string]map[string]bool{} // family or sample name → label names
	for _, x := range s.Samples {
		if labels[x.Name] == nil {
			labels[x.Name] = map[string]bool{"instance": true, "job": true} // added by the scraper
		}
		for k := range x.Labels {
			labels[x.Name][k] = true
		}
	}
	used := map[string]bool{}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: data source %+v, want prometheus ${DS_PROMETHEUS}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkExpr(t, p.Title, tg.Expr, labels, used)
		}
	}
	for _, name := range []string{"scopegate_requests_total", "scopegate_added_latency_seconds_bucket",
		"scopegate_upstream_latency_seconds_bucket", "scopegate_tokens_total", "scopegate_limiter_refusals_total",
		"scopegate_key_cache_hits_total", "scopegate_key_cache_misses_total", "scopegate_audit_append_seconds_bucket",
		"scopegate_audit_checkpoint_age_seconds", "scopegate_alerts_total"} {
		if !used[name] {
			t.Errorf("no panel queries %s", name)
		}
	}
	for _, title := range []string{"Request rate by decision", "Denials by reason", "Gateway-added latency (p50, p99)",
		"Upstream latency p99 by feature", "Tokens per second by feature", "Limiter refusals", "Key cache hit ratio",
		"Audit append latency (p50, p99)", "Checkpoint age", "Alerts by rule"} {
		if !titles[title] {
			t.Errorf("no panel %q", title)
		}
	}
}

// checkExpr checks the metric names and label names of one query.
func checkExpr(t *testing.T, title, expr string, labels map[string]map[string]bool, used map[string]bool) {
	t.Helper()
	names := metricName.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("panel %q: query %q names no metric", title, expr)
	}
	for _, name := range names {
		used[name] = true
		if labels[name] == nil {
			t.Errorf("panel %q: %s is not in the registry", title, name)
		}
	}
	for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
		for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
			if labels[sel[1]] != nil && !labels[sel[1]][m[1]] {
				t.Errorf("panel %q: %s has no label %q", title, sel[1], m[1])
			}
		}
	}
	// A "by" clause groups the metrics inside it: each label must be one
	// of every metric the query names (le only of histogram buckets).
	for _, by := range byClause.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(by[1], ",") {
			l = strings.TrimSpace(l)
			for _, name := range names {
				if labels[name] != nil && !labels[name][l] {
					t.Errorf("panel %q: grouped by %q, which %s does not have", title, l, name)
				}
			}
		}
	}
}
