package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Tool is the summary's "tool" field.
const Tool = "scopegate bench"

// Summary is the result of a run, as "scopegate bench --json" writes it.
// Counts and latencies cover the measured phase only (after the warmup):
// requests intended in it, answered whenever. Latencies are in
// microseconds and include only the answers with the expected status.
type Summary struct {
	Tool     string `json:"tool"`
	Version  string `json:"version"`
	Scenario string `json:"scenario"`
	// URL is the full URL requests were sent to.
	URL string `json:"url"`
	// Mode is "open" (fixed rate) or "closed" (back to back).
	Mode string `json:"mode"`
	// Rate is the requested rate per second, 0 in closed loop.
	Rate        float64 `json:"rate"`
	Concurrency int     `json:"concurrency"`
	MaxInFlight int     `json:"max_in_flight"`
	// DurationS and WarmupS are the configured phases in seconds.
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	// Started is when the measured phase began.
	Started time.Time `json:"started"`
	// Requests is OK + Errors: the requests sent and answered (or failed).
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	Errors   int64 `json:"errors"`
	// ErrorsByKind counts errors as "status_NNN" for an unexpected status,
	// or one of the Kind constants.
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	// Dropped counts open-loop requests not sent because MaxInFlight
	// requests were in flight.
	Dropped int64 `json:"dropped"`
	// AchievedRate is Requests per second of the measured phase.
	AchievedRate float64 `json:"achieved_rate"`
	// PeakInFlight is the most requests that were in flight at once.
	PeakInFlight int64 `json:"peak_in_flight"`
	// Latency is from the intended send time (open loop) or the send
	// (closed loop) to the end of the answer.
	Latency Latency `json:"latency_us"`
	// TTFB, for streams only, is from the same start to the first byte of
	// the response body.
	TTFB *Latency `json:"ttfb_us,omitempty"`
	// GoVersion, GOMAXPROCS and CPUs record where the client ran: CPUs is
	// the list of CPUs the process was allowed on (Linux's
	// Cpus_allowed_list), empty where unknown.
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUs       string `json:"cpus_allowed"`
}

// summary returns the summary of a measured phase that ended at endAt.
func (r *runner) summary(endAt time.Time) *Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &Summary{
		Tool: Tool, Version: r.cfg.Version, Scenario: string(r.cfg.Target.Scenario), URL: r.cfg.Target.URL.String(),
		Mode: r.cfg.Mode(), Rate: r.cfg.Rate, Concurrency: r.cfg.Concurrency, MaxInFlight: r.cfg.MaxInFlight,
		DurationS: r.cfg.Duration.Seconds(), WarmupS: r.cfg.Warmup.Seconds(), Started: r.measureAt.UTC(),
		Requests: r.requests, OK: r.ok, Errors: r.errs, ErrorsByKind: maps.Clone(r.errKinds), Dropped: r.mDrops,
		PeakInFlight: r.peakInFlight.Load(), Latency: r.latency.Summary(),
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), CPUs: AllowedCPUs(),
	}
	if r.cfg.Rate == 0 {
		s.MaxInFlight = 0
	} else {
		s.Concurrency = 0
	}
	if d := endAt.Sub(r.measureAt); d > 0 {
		s.AchievedRate = float64(s.Requests) / d.Seconds()
	}
	if r.cfg.Target.Stream {
		t := r.ttfb.Summary()
		s.TTFB = &t
	}
	return s
}

// earlier returns the earlier of two times.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// AllowedCPUs returns the CPUs this process may run on, as Linux's
// /proc/self/status gives them ("0-1"), or "" where that is unknown. A
// benchmark pinned with taskset or cgroups records its placement with it.
func AllowedCPUs() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// WriteJSON writes s as indented JSON and a newline.
func (s *Summary) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes s for people.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s → %s\n", Tool, s.Scenario, s.URL)
	if s.Mode == "open" {
		fmt.Fprintf(&b, "open loop at %g/s (max in flight %d)", s.Rate, s.MaxInFlight)
	} else {
		fmt.Fprintf(&b, "closed loop, concurrency %d", s.Concurrency)
	}
	fmt.Fprintf(&b, ", %gs measured after %gs warmup; GOMAXPROCS %d, CPUs %s\n", s.DurationS, s.WarmupS, s.GOMAXPROCS, orNone(s.CPUs))
	fmt.Fprintf(&b, "requests %d  ok %d  errors %d  dropped %d  achieved %.1f/s  peak in flight %d\n",
		s.Requests, s.OK, s.Errors, s.Dropped, s.AchievedRate, s.PeakInFlight)
	for _, k := range slices.Sorted(maps.Keys(s.ErrorsByKind)) {
		fmt.Fprintf(&b, "  %-20s %d\n", k, s.ErrorsByKind[k])
	}
	writeLatency(&b, "latency", s.Latency)
	if s.TTFB != nil {
		writeLatency(&b, "ttfb", *s.TTFB)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeLatency(b *strings.Builder, name string, l Latency) {
	us := func(v float64) string { return FormatDuration(time.Duration(v * float64(time.Microsecond))) }
	fmt.Fprintf(b, "%-8s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s  (n=%d)\n",
		name, us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), us(l.Mean), l.Count)
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
