// Package metricstest scrapes a /metrics handler in tests and reads the
// samples it exposed. It is kept out of the binary, like the other xxxtest
// packages.
package metricstest

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one line of the text exposition: a histogram is flattened to
// its _bucket, _sum and _count samples, as Prometheus stores them.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Scrape is what one GET /metrics returned: the text, and its samples.
type Scrape struct {
	Text    string
	Samples []Sample
	// Types are the families' types ("counter", "histogram", …) by name.
	Types map[string]string
	// Help are the families' HELP texts by name.
	Help map[string]string
}

// Get scrapes h as Prometheus does (text format) and parses the answer,
// failing tb if the status is not 200 or the text does not parse.
func Get(tb testing.TB, h http.Handler) Scrape {
	tb.Helper()
	req := httptest.NewRequestWithContext(tb.Context(), http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	return Parse(tb, rec.Body.String())
}

// Parse parses text in the Prometheus text format.
func Parse(tb testing.TB, text string) Scrape {
	tb.Helper()
	s, err := parse(text)
	if err != nil {
		tb.Fatalf("parse /metrics: %v\n%s", err, text)
	}
	return s
}

// Fetch GETs url (a running server's /metrics) and parses the answer.
func Fetch(tb testing.TB, url string) Scrape {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s = %d, %v: %s", url, resp.StatusCode, err, b)
	}
	return Parse(tb, string(b))
}

func parse(text string) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return Scrape{}, err
	}
	s := Scrape{Text: text, Types: map[string]string{}, Help: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(families)) {
		f := families[name]
		s.Types[name] = typeName(f.GetType())
		s.Help[name] = f.GetHelp()
		for _, m := range f.GetMetric() {
			s.Samples = append(s.Samples, flatten(name, f.GetType(), m)...)
		}
	}
	return s, nil
}

func typeName(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	case dto.MetricType_HISTOGRAM:
		return "histogram"
	case dto.MetricType_SUMMARY:
		return "summary"
	}
	return "untyped"
}

func flatten(name string, t dto.MetricType, m *dto.Metric) []Sample {
	labels := map[string]string{}
	for _, lp := range m.GetLabel() {
		labels[lp.GetName()] = lp.GetValue()
	}
	with := func(k, v string) map[string]string {
		out := maps.Clone(labels)
		out[k] = v
		return out
	}
	switch t {
	case dto.MetricType_COUNTER:
		return []Sample{{name, labels, m.GetCounter().GetValue()}}
	case dto.MetricType_GAUGE:
		return []Sample{{name, labels, m.GetGauge().GetValue()}}
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		out := []Sample{
			{name + "_count", labels, float64(h.GetSampleCount())},
			{name + "_sum", labels, h.GetSampleSum()},
		}
		for _, b := range h.GetBucket() {
			out = append(out, Sample{name + "_bucket", with("le", formatLE(b.GetUpperBound())), float64(b.GetCumulativeCount())})
		}
		return append(out, Sample{name + "_bucket", with("le", "+Inf"), float64(h.GetSampleCount())})
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		return []Sample{{name + "_count", labels, float64(s.GetSampleCount())}, {name + "_sum", labels, s.GetSampleSum()}}
	}
	return []Sample{{name, labels, m.GetUntyped().GetValue()}}
}

func formatLE(f float64) string {
	if math.IsInf(f, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Sum returns the sum of the samples called name whose labels include
// every pair of labels ("feature", "chat", "decision", "allow", …): 0 if
// there is none.
func (s Scrape) Sum(name string, labels ...string) float64 {
	var sum float64
	for _, x := range s.Find(name, labels...) {
		sum += x.Value
	}
	return sum
}

// Find returns the samples called name whose labels include every pair of
// labels.
func (s Scrape) Find(name string, labels ...string) []Sample {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("metricstest: odd label list %q", labels))
	}
	var out []Sample
outer:
	for _, x := range s.Samples {
		if x.Name != name {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			if x.Labels[labels[i]] != labels[i+1] {
				continue outer
			}
		}
		out = append(out, x)
	}
	return out
}

// Has reports whether the scrape has a family called name.
func (s Scrape) Has(name string) bool {
	_, ok := s.Types[name]
	return ok
}
