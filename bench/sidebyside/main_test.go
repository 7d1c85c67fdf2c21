package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRun writes one bench summary as bench/side-by-side.sh names it.
func writeRun(t *testing.T, dir, target, scenario, mode string, run int, p50, p99, rate float64, ttfb *latency, cpu ...float64) {
	t.Helper()
	s := summary{Scenario: scenario, Requests: 100, OK: 100, AchievedRate: rate,
		Latency: latency{Count: 100, P50: p50, P99: p99}, TTFB: ttfb}
	if len(cpu) > 0 {
		s.ServerCPUus = cpu[0] * float64(s.Requests)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%s-%s-%d.json", target, scenario, mode, run)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCombine(t *testing.T) {
	dir := t.TempDir()
	// Three rounds; the direct call drifts, and the gateway with it.
	for i, d := range []float64{100, 200, 150} {
		run := i + 1
		writeRun(t, dir, "direct", "chat", "c1", run, d, 2*d, 1000, nil)
		writeRun(t, dir, "scopegate-shm", "chat", "c1", run, d+40+float64(i), 2*d+100, 900, nil)
		writeRun(t, dir, "direct", "chat", "c64", run, 1, 2, 20000, nil, 30+float64(i))
		writeRun(t, dir, "nginx", "chat", "c64", run, 1, 2, 10000+float64(run), nil, 50+float64(i))
		writeRun(t, dir, "scopegate-shm", "chat", "c64", run, 1, 2, 5000+float64(run), nil, 70+2*float64(i))
		writeRun(t, dir, "direct", "stream", "c1", run, 300, 400, 10, &latency{Count: 10, P50: 50, P99: 60})
		writeRun(t, dir, "scopegate-shm", "stream", "c1", run, 500, 600, 10, &latency{Count: 10, P50: 80 + float64(i), P99: 90})
	}
	runs, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := combine(runs, "direct", "nginx", []string{"direct", "nginx", "scopegate-shm"})
	got := map[string]Result{}
	for _, r := range c.Results {
		got[r.Target+" "+r.Scenario+" "+r.Mode] = r
	}
	gw := got["scopegate-shm chat c1"]
	if gw.Runs != 3 || gw.P50 != 192 { // median of 140, 241, 192
		t.Errorf("gateway p50 over %d runs = %v, want 192 over 3", gw.Runs, gw.P50)
	}
	if gw.AddedP50 == nil || *gw.AddedP50 != 41 { // differences 40, 41, 42
		t.Errorf("added p50 = %v, want 41", gw.AddedP50)
	}
	if gw.AddedP99 == nil || *gw.AddedP99 != 100 {
		t.Errorf("added p99 = %v, want 100", gw.AddedP99)
	}
	if gw.RateVsReference != nil {
		t.Error("one request at a time has no throughput ratio")
	}
	top := got["scopegate-shm chat c64"]
	if top.RateVsReference == nil || *top.RateVsReference != 0.5 {
		t.Errorf("throughput ratio = %v, want 0.5", top.RateVsReference)
	}
	// CPU per request: 70, 72, 74 against direct's 30, 31, 32.
	if top.CPUPerRequest == nil || *top.CPUPerRequest != 72 || top.AddedCPU == nil || *top.AddedCPU != 41 {
		t.Errorf("cpu per request = %v, added %v; want 72 and 41", top.CPUPerRequest, top.AddedCPU)
	}
	if gw.CPUPerRequest != nil {
		t.Error("one request at a time has no CPU per request")
	}
	st := got["scopegate-shm stream c1"]
	if st.TTFBP50 == nil || *st.TTFBP50 != 81 || st.AddedTTFBP50 == nil || *st.AddedTTFBP50 != 31 {
		t.Errorf("stream ttfb p50 %v added %v, want 81 and 31", st.TTFBP50, st.AddedTTFBP50)
	}
	if d := got["direct chat c1"]; d.AddedP50 != nil {
		t.Error("the baseline has no added latency over itself")
	}
	if c.Results[0].Target != "direct" || c.Results[len(c.Results)-1].Target != "scopegate-shm" {
		t.Errorf("order: first %s, last %s", c.Results[0].Target, c.Results[len(c.Results)-1].Target)
	}

	out := filepath.Join(t.TempDir(), "combined.json")
	var table strings.Builder
	if err := run([]string{"-raw", dir, "-out", out, "-info", "runs=3", "-skip", "portkey=not installed"}, &table); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var back Combined
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("combined JSON does not parse: %v\n%s", err, b)
	}
	if len(back.Results) != len(c.Results) || back.Info["runs"] != "3" || back.Skipped["portkey"] == "" {
		t.Errorf("combined JSON lost data: %d results, info %v, skipped %v", len(back.Results), back.Info, back.Skipped)
	}
	for _, want := range []string{"| scopegate-shm | chat | 1 at a time | 192 µs |", "+41 µs", "| 0.50 |", "stream (ttfb)", "- portkey: not installed"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestLoadRejectsBadNames(t *testing.T) {
	for _, name := range []string{"direct-chat-1.json", "direct-chat-x1-1.json", "direct-chat-c1-one.json"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := load(dir); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{87.4, "87 µs"}, {1250, "1.25 ms"}, {12500, "12.5 ms"}, {125000, "125 ms"}} {
		if got := us(c.v); got != c.want {
			t.Errorf("us(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	neg := -3.0
	if got := signed(&neg); got != "−3 µs" {
		t.Errorf("signed(-3) = %q", got)
	}
}
