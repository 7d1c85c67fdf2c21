// Command sidebyside combines the JSON summaries of "scopegate bench" runs
// made by bench/side-by-side.sh into one small JSON file and a markdown
// table.
//
// It reads every file named <target>-<scenario>-<mode>-<run>.json in -raw,
// where mode is c<N> (closed loop, N workers) or r<N> (open loop at N
// requests per second) and run counts from 1. Targets may contain dashes;
// scenarios, modes and runs may not.
//
// For each target, scenario and mode it reports the median over the runs
// of p50, p99, the achieved rate and, for streams, the time to first byte,
// with every run's values kept in the JSON. "added" figures compare a
// target with the -baseline target (the upstream called directly) in the
// same scenario and mode: the difference is taken run by run (run i of the
// target minus run i of the baseline, measured minutes apart in the same
// round) and the median of those differences is reported. Closed-loop
// modes with more than one worker are throughput runs: their achieved rate
// is also given as a ratio to the -reference target's (nginx) median rate
// in the same scenario. Medians of runs and ratios to a baseline measured
// in the same run are what stays comparable on a machine whose absolute
// speed drifts.
//
// Usage:
//
//	sidebyside -raw DIR -out FILE [-baseline direct] [-reference nginx]
//	    [-order t1,t2,...] [-info key=value ...] [-skip target=reason ...]
//
// The table goes to stdout.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/loadgen"
)

// latency is the latency summary of "scopegate bench --json", in
// microseconds.
type latency = loadgen.Latency

// summary is the part of a "scopegate bench --json" summary used here.
type summary struct {
	Scenario     string           `json:"scenario"`
	Mode         string           `json:"mode"`
	Rate         float64          `json:"rate"`
	Concurrency  int              `json:"concurrency"`
	Requests     int64            `json:"requests"`
	OK           int64            `json:"ok"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Dropped      int64            `json:"dropped"`
	AchievedRate float64          `json:"achieved_rate"`
	Latency      latency          `json:"latency_us"`
	TTFB         *latency         `json:"ttfb_us"`
	CPUs         string           `json:"cpus_allowed"`
	// ServerCPUus is added by bench/side-by-side.sh: the CPU time, in
	// microseconds, that the servers it started (the target and the mock
	// upstream) used during the measured phase; 0 when not measured.
	ServerCPUus float64 `json:"server_cpu_us"`
}

// cpuPerRequest is the servers' CPU per answered request, in
// microseconds, or 0 when unknown.
func (s summary) cpuPerRequest() float64 {
	if s.ServerCPUus <= 0 || s.Requests == 0 {
		return 0
	}
	return s.ServerCPUus / float64(s.Requests)
}

// key names one measurement: a target, a scenario and a mode.
type key struct{ target, scenario, mode string }

// mode is a parsed mode name.
type mode struct {
	closed bool
	n      int // workers (closed) or requests per second (open)
}

func parseMode(s string) (mode, error) {
	if len(s) < 2 || (s[0] != 'c' && s[0] != 'r') {
		return mode{}, fmt.Errorf("mode %q: want c<workers> or r<rate>", s)
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil || n < 1 {
		return mode{}, fmt.Errorf("mode %q: want c<workers> or r<rate>", s)
	}
	return mode{closed: s[0] == 'c', n: n}, nil
}

func (m mode) String() string {
	if m.closed {
		if m.n == 1 {
			return "1 at a time"
		}
		return fmt.Sprintf("max, %d conns", m.n)
	}
	return fmt.Sprintf("open %d/s", m.n)
}

// throughput reports whether the mode measures the maximum rate.
func (m mode) throughput() bool { return m.closed && m.n > 1 }

// PerRun holds one value per run, in run order.
type PerRun struct {
	P50     []float64 `json:"p50_us"`
	P99     []float64 `json:"p99_us"`
	TTFBP50 []float64 `json:"ttfb_p50_us,omitempty"`
	TTFBP99 []float64 `json:"ttfb_p99_us,omitempty"`
	Rate    []float64 `json:"rate"`
	Errors  []int64   `json:"errors"`
	// CPU is the servers' CPU per request, in µs (see Result.CPUPerRequest).
	CPU []float64 `json:"cpu_us_per_request,omitempty"`
}

// Result is one target, scenario and mode in the combined JSON. Latencies
// are medians over the runs, in microseconds; Added* are medians of the
// run-by-run differences with the baseline; counts are totals over the runs.
type Result struct {
	Target      string  `json:"target"`
	Scenario    string  `json:"scenario"`
	Mode        string  `json:"mode"`
	Loop        string  `json:"loop"`
	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  int     `json:"target_rate,omitempty"`
	Runs        int     `json:"runs"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
	// TTFBP50 and TTFBP99 are given for streams only.
	TTFBP50 *float64 `json:"ttfb_p50_us,omitempty"`
	TTFBP99 *float64 `json:"ttfb_p99_us,omitempty"`
	// AddedP50 and AddedP99 are over the baseline in the same scenario and
	// mode; absent for the baseline itself and when it has no such run.
	AddedP50     *float64 `json:"added_p50_us,omitempty"`
	AddedP99     *float64 `json:"added_p99_us,omitempty"`
	AddedTTFBP50 *float64 `json:"added_ttfb_p50_us,omitempty"`
	AddedTTFBP99 *float64 `json:"added_ttfb_p99_us,omitempty"`
	AchievedRate float64  `json:"achieved_rate"`
	// RateVsReference is the achieved rate over the reference target's in
	// the same scenario and mode, for throughput modes only.
	RateVsReference *float64 `json:"rate_vs_reference,omitempty"`
	// CPUPerRequest is the median CPU per request, in µs, of the target
	// and the mock upstream together (they share a core); AddedCPU is
	// that over the baseline's in the same scenario and mode, run by
	// run: the target's own CPU per request. Given for throughput modes.
	CPUPerRequest *float64         `json:"cpu_us_per_request,omitempty"`
	AddedCPU      *float64         `json:"added_cpu_us_per_request,omitempty"`
	Requests      int64            `json:"requests"`
	Errors        int64            `json:"errors"`
	Dropped       int64            `json:"dropped"`
	ErrorsByKind  map[string]int64 `json:"errors_by_kind,omitempty"`
	ClientCPUs    string           `json:"client_cpus,omitempty"`
	PerRun        PerRun           `json:"per_run"`
}

// Combined is the file written to -out.
type Combined struct {
	Generated time.Time         `json:"generated"`
	Info      map[string]string `json:"info,omitempty"`
	Baseline  string            `json:"baseline"`
	Reference string            `json:"reference"`
	Skipped   map[string]string `json:"skipped,omitempty"`
	Results   []Result          `json:"results"`
}

// pairs collects repeated key=value flags.
type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }

func (p pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	p[k] = v
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sidebyside", flag.ContinueOnError)
	raw := fs.String("raw", "", "directory of <target>-<scenario>-<mode>-<run>.json summaries (required)")
	out := fs.String("out", "", "combined JSON file to write (required)")
	baseline := fs.String("baseline", "direct", "target that added latencies are measured against")
	reference := fs.String("reference", "nginx", "target that throughput ratios are measured against")
	order := fs.String("order", "", "comma-separated targets in table order (default: alphabetical)")
	info, skipped := pairs{}, pairs{}
	fs.Var(info, "info", "key=value copied into the JSON's info (repeatable)")
	fs.Var(skipped, "skip", "target=reason for a target that was not measured (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *raw == "" || *out == "" {
		return errors.New("-raw and -out are required")
	}
	runs, err := load(*raw)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return fmt.Errorf("no summaries in %s", *raw)
	}
	c := combine(runs, *baseline, *reference, strings.Split(*order, ","))
	c.Info, c.Skipped = info, skipped
	b, err := marshal(c)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	return writeTables(stdout, c)
}

// marshal encodes c indented, but each result on one line, so that the
// file stays short and diffs of it stay readable.
func marshal(c Combined) ([]byte, error) {
	results := c.Results
	c.Results = nil
	head, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return nil, err
	}
	// head ends with `"results": null` and the closing brace; the results
	// replace the null.
	head, ok := bytes.CutSuffix(head, []byte("null\n}"))
	if !ok {
		return nil, errors.New("unexpected encoding of the combined results")
	}
	var b bytes.Buffer
	b.Write(head)
	b.WriteString("[\n")
	for i, r := range results {
		line, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		b.WriteString("  ")
		b.Write(line)
		if i < len(results)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(" ]\n}\n")
	return b.Bytes(), nil
}

// load reads every summary in dir, by key, in run order.
func load(dir string) (map[key][]summary, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	type numbered struct {
		run int
		s   summary
	}
	byKey := map[key][]numbered{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		parts := strings.Split(name, "-")
		if len(parts) < 4 {
			return nil, fmt.Errorf("%s: want <target>-<scenario>-<mode>-<run>.json", f)
		}
		n := len(parts)
		k := key{target: strings.Join(parts[:n-3], "-"), scenario: parts[n-3], mode: parts[n-2]}
		if _, err := parseMode(k.mode); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		r, err := strconv.Atoi(parts[n-1])
		if err != nil {
			return nil, fmt.Errorf("%s: run %q is not a number", f, parts[n-1])
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var s summary
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		byKey[k] = append(byKey[k], numbered{r, s})
	}
	out := make(map[key][]summary, len(byKey))
	for k, ns := range byKey {
		slices.SortFunc(ns, func(a, b numbered) int { return cmp.Compare(a.run, b.run) })
		for _, n := range ns {
			out[k] = append(out[k], n.s)
		}
	}
	return out, nil
}

// combine computes the results, sorted by target (in order, then
// alphabetically), scenario and mode.
func combine(runs map[key][]summary, baseline, reference string, order []string) Combined {
	c := Combined{Generated: time.Now().UTC().Truncate(time.Second), Baseline: baseline, Reference: reference}
	keys := slices.Collect(maps.Keys(runs))
	rank := func(t string) int {
		if i := slices.Index(order, t); i >= 0 {
			return i
		}
		return len(order)
	}
	scenarioRank := map[string]int{"chat": 0, "stream": 1, "denied": 2}
	slices.SortFunc(keys, func(a, b key) int {
		ma, _ := parseMode(a.mode)
		mb, _ := parseMode(b.mode)
		return cmp.Or(
			cmp.Compare(rank(a.target), rank(b.target)), cmp.Compare(a.target, b.target),
			cmp.Compare(rankOr(scenarioRank, a.scenario), rankOr(scenarioRank, b.scenario)), cmp.Compare(a.scenario, b.scenario),
			modeOrder(ma, mb))
	})
	for _, k := range keys {
		c.Results = append(c.Results, result(k, runs, baseline, reference))
	}
	return c
}

func rankOr(m map[string]int, s string) int {
	if r, ok := m[s]; ok {
		return r
	}
	return len(m)
}

// modeOrder puts one at a time first, then open loop by rate, then the
// throughput modes.
func modeOrder(a, b mode) int {
	class := func(m mode) int {
		switch {
		case m.closed && m.n == 1:
			return 0
		case !m.closed:
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(class(a), class(b)), cmp.Compare(a.n, b.n))
}

func result(k key, runs map[key][]summary, baseline, reference string) Result {
	ss := runs[k]
	m, _ := parseMode(k.mode)
	r := Result{Target: k.target, Scenario: k.scenario, Mode: k.mode, Loop: "open", Runs: len(ss), ErrorsByKind: map[string]int64{}}
	if m.closed {
		r.Loop, r.Concurrency = "closed", m.n
	} else {
		r.TargetRate = m.n
	}
	stream := false
	for _, s := range ss {
		r.PerRun.P50 = append(r.PerRun.P50, s.Latency.P50)
		r.PerRun.P99 = append(r.PerRun.P99, s.Latency.P99)
		r.PerRun.Rate = append(r.PerRun.Rate, round1(s.AchievedRate))
		r.PerRun.Errors = append(r.PerRun.Errors, s.Errors)
		if c := s.cpuPerRequest(); c > 0 {
			r.PerRun.CPU = append(r.PerRun.CPU, round1(c))
		}
		if s.TTFB != nil {
			stream = true
			r.PerRun.TTFBP50 = append(r.PerRun.TTFBP50, s.TTFB.P50)
			r.PerRun.TTFBP99 = append(r.PerRun.TTFBP99, s.TTFB.P99)
		}
		r.Requests += s.Requests
		r.Errors += s.Errors
		r.Dropped += s.Dropped
		for kind, n := range s.ErrorsByKind {
			r.ErrorsByKind[kind] += n
		}
		r.ClientCPUs = s.CPUs
	}
	if len(r.ErrorsByKind) == 0 {
		r.ErrorsByKind = nil
	}
	r.P50, r.P99 = round1(median(r.PerRun.P50)), round1(median(r.PerRun.P99))
	r.AchievedRate = round1(median(r.PerRun.Rate))
	if stream && len(r.PerRun.TTFBP50) == len(ss) {
		r.TTFBP50, r.TTFBP99 = new(round1(median(r.PerRun.TTFBP50))), new(round1(median(r.PerRun.TTFBP99)))
	}
	if base, ok := runs[key{baseline, k.scenario, k.mode}]; ok && k.target != baseline {
		r.AddedP50 = addedMedian(ss, base, func(s summary) *latency { return &s.Latency }, func(l *latency) float64 { return l.P50 })
		r.AddedP99 = addedMedian(ss, base, func(s summary) *latency { return &s.Latency }, func(l *latency) float64 { return l.P99 })
		if stream {
			r.AddedTTFBP50 = addedMedian(ss, base, func(s summary) *latency { return s.TTFB }, func(l *latency) float64 { return l.P50 })
			r.AddedTTFBP99 = addedMedian(ss, base, func(s summary) *latency { return s.TTFB }, func(l *latency) float64 { return l.P99 })
		}
	}
	if m.throughput() && len(r.PerRun.CPU) == len(ss) && len(ss) > 0 {
		r.CPUPerRequest = new(round1(median(r.PerRun.CPU)))
		if base, ok := runs[key{baseline, k.scenario, k.mode}]; ok && k.target != baseline {
			var d []float64
			for i := range min(len(ss), len(base)) {
				if a, b := ss[i].cpuPerRequest(), base[i].cpuPerRequest(); a > 0 && b > 0 {
					d = append(d, a-b)
				}
			}
			if len(d) > 0 {
				r.AddedCPU = new(round1(median(d)))
			}
		}
	}
	if ref, ok := runs[key{reference, k.scenario, k.mode}]; ok && m.throughput() {
		var rates []float64
		for _, s := range ref {
			rates = append(rates, s.AchievedRate)
		}
		if mr := median(rates); mr > 0 {
			r.RateVsReference = new(math.Round(r.AchievedRate/mr*1000) / 1000)
		}
	}
	return r
}

// addedMedian pairs the runs of a target and of the baseline by run number
// and returns the median of the differences of the chosen figure, or nil if
// no run has both.
func addedMedian(ss, base []summary, pick func(summary) *latency, fig func(*latency) float64) *float64 {
	var d []float64
	for i := range min(len(ss), len(base)) {
		a, b := pick(ss[i]), pick(base[i])
		if a == nil || b == nil || a.Count == 0 || b.Count == 0 {
			continue
		}
		d = append(d, fig(a)-fig(b))
	}
	if len(d) == 0 {
		return nil
	}
	return new(round1(median(d)))
}

// median returns the median of v (the mean of the middle two for an even
// count), or 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// writeTables writes the markdown tables: every measurement, then the
// maximum throughput per target.
func writeTables(w io.Writer, c Combined) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Medians of runs; \"added\" is over %s in the same scenario and mode, run by run; stream rows give the time to first byte.\n\n", c.Baseline)
	b.WriteString("| target | scenario | mode | p50 | p99 | added p50 | added p99 | achieved/s | errors | × " + c.Reference + " |\n")
	b.WriteString("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range c.Results {
		m, _ := parseMode(r.Mode)
		scenario, p50, p99, a50, a99 := r.Scenario, r.P50, r.P99, r.AddedP50, r.AddedP99
		if r.TTFBP50 != nil {
			scenario += " (ttfb)"
			p50, p99, a50, a99 = *r.TTFBP50, *r.TTFBP99, r.AddedTTFBP50, r.AddedTTFBP99
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Target, scenario, m, us(p50), us(p99), signed(a50), signed(a99),
			strconv.FormatFloat(math.Round(r.AchievedRate), 'f', 0, 64), errs(r), ratio(r.RateVsReference))
	}
	var top []Result
	for _, r := range c.Results {
		if m, _ := parseMode(r.Mode); m.throughput() && r.Scenario == "chat" {
			top = append(top, r)
		}
	}
	if len(top) > 0 {
		b.WriteString("\nMaximum throughput, allowed chat completions:\n\n")
		b.WriteString("| target | req/s | × " + c.Reference + " | p50 | p99 | errors | server CPU/req | added CPU/req |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range top {
			cpu := "—"
			if r.CPUPerRequest != nil {
				cpu = us(*r.CPUPerRequest)
			}
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", r.Target, r.AchievedRate, ratio(r.RateVsReference), us(r.P50), us(r.P99), errs(r), cpu, signed(r.AddedCPU))
		}
	}
	if len(c.Skipped) > 0 {
		b.WriteString("\nNot measured:\n\n")
		for _, t := range slices.Sorted(maps.Keys(c.Skipped)) {
			fmt.Fprintf(&b, "- %s: %s\n", t, c.Skipped[t])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// us formats microseconds with about three significant figures: "87 µs",
// "1.25 ms", "12.5 ms", "125 ms".
func us(v float64) string {
	switch a := math.Abs(v); {
	case a < 1000:
		return fmt.Sprintf("%.0f µs", v)
	case a < 10_000:
		return fmt.Sprintf("%.2f ms", v/1000)
	case a < 100_000:
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v/1000)
}

func signed(v *float64) string {
	if v == nil {
		return "—"
	}
	s := us(*v)
	if *v >= 0 {
		return "+" + s
	}
	return "−" + strings.TrimPrefix(s, "-")
}

func ratio(v *float64) string {
	if v == nil {
		return ""
	}
	if *v < 0.1 {
		return fmt.Sprintf("%.3f", *v)
	}
	return fmt.Sprintf("%.2f", *v)
}

// errs gives the errors over all runs, with the requests dropped by the
// open-loop client (every worker busy) after a "+".
func errs(r Result) string {
	s := strconv.FormatInt(r.Errors, 10)
	if r.Dropped > 0 {
		s += fmt.Sprintf(" +%d dropped", r.Dropped)
	}
	return s
}
