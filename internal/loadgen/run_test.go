package loadgen

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeUpstream answers chat completions like the mock upstream: JSON, or
// an SSE stream that ends with [DONE] unless the request says "cut".
func fakeUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch {
		case r.Header.Get("Authorization") == "Bearer denied":
			http.Error(w, `{"error":{"code":"missing_scope"}}`, http.StatusForbidden)
		case r.Header.Get("X-Block") != "":
			<-r.Context().Done()
		case bytes.Contains(b, []byte(`"stream":true`)):
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"choices\":[]}\n\n")
			w.(http.Flusher).Flush()
			if r.Header.Get("X-Cut") == "" {
				io.WriteString(w, "data: [DONE]\n\n")
			}
		default:
			io.WriteString(w, `{"choices":[{"message":{"content":"hi"}}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRun(t *testing.T) {
	srv := fakeUpstream(t)
	tests := []struct {
		name     string
		scenario Scenario
		opts     ScenarioOptions
		cfg      Config
		wantKind string // the only error kind allowed, "" for none
		wantOK   bool   // answers expected to be ok
	}{
		{"ChatClosedLoop", ScenarioChat, ScenarioOptions{Key: "k"}, Config{Concurrency: 2}, "", true},
		{"ChatOpenLoop", ScenarioChat, ScenarioOptions{Key: "k"}, Config{Rate: 500}, "", true},
		{"Stream", ScenarioStream, ScenarioOptions{Key: "k"}, Config{Concurrency: 1}, "", true},
		{"StreamCut", ScenarioStream, ScenarioOptions{Key: "k", Header: http.Header{"X-Cut": {"1"}}}, Config{Concurrency: 1}, KindIncompleteStream, false},
		{"Denied", ScenarioDenied, ScenarioOptions{Key: "denied"}, Config{Concurrency: 1}, "", true},
		{"DeniedButAllowed", ScenarioDenied, ScenarioOptions{Key: "k"}, Config{Concurrency: 1}, "status_200", false},
		{"Mix", ScenarioMix, ScenarioOptions{Keys: []string{"a", "b", "c"}}, Config{Concurrency: 2}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.BaseURL, tt.opts.Model, tt.opts.DeniedModel = srv.URL, "mock-small", "mock-large"
			target, err := NewTarget(tt.scenario, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			cfg := tt.cfg
			cfg.Target, cfg.Duration, cfg.Warmup = target, 200*time.Millisecond, 50*time.Millisecond
			s, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests == 0 || s.Requests != s.OK+s.Errors {
				t.Fatalf("requests %d, ok %d, errors %d", s.Requests, s.OK, s.Errors)
			}
			if tt.wantOK && s.Errors != 0 || !tt.wantOK && s.OK != 0 {
				t.Errorf("ok %d, errors %v", s.OK, s.ErrorsByKind)
			}
			for kind := range s.ErrorsByKind {
				if kind != tt.wantKind {
					t.Errorf("error kind %q, want only %q", kind, tt.wantKind)
				}
			}
			if s.Latency.Count != s.OK {
				t.Errorf("latency count %d, want ok %d", s.Latency.Count, s.OK)
			}
			if (s.TTFB != nil) != (tt.scenario == ScenarioStream) {
				t.Errorf("ttfb %v for scenario %s", s.TTFB, tt.scenario)
			}
		})
	}
}

// TestRunDropped: with one request in flight allowed and a target that
// holds it until it times out, every other due request is dropped and
// counted as such.
func TestRunDropped(t *testing.T) {
	srv := fakeUpstream(t)
	target, err := NewTarget(ScenarioChat, ScenarioOptions{BaseURL: srv.URL, Model: "m", Header: http.Header{"X-Block": {"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Run(t.Context(), Config{Target: target, Rate: 1000, MaxInFlight: 1, Duration: 100 * time.Millisecond,
		Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 1 || s.ErrorsByKind[KindTimeout] != 1 || s.Dropped < 90 || s.PeakInFlight != 1 {
		t.Errorf("requests %d, errors %v, dropped %d, peak in flight %d; want 1 request that timed out, ~99 dropped",
			s.Requests, s.ErrorsByKind, s.Dropped, s.PeakInFlight)
	}
}

func TestSummaryJSON(t *testing.T) {
	srv := fakeUpstream(t)
	for _, sc := range []Scenario{ScenarioChat, ScenarioStream} {
		t.Run(string(sc), func(t *testing.T) {
			target, err := NewTarget(sc, ScenarioOptions{BaseURL: srv.URL, Model: "m", Key: "k"})
			if err != nil {
				t.Fatal(err)
			}
			s, err := Run(t.Context(), Config{Target: target, Concurrency: 1, Duration: 100 * time.Millisecond, Version: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := s.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatalf("summary is not JSON: %v\n%s", err, buf.Bytes())
			}
			want := []string{"tool", "version", "scenario", "url", "mode", "rate", "concurrency", "max_in_flight",
				"duration_s", "warmup_s", "started", "requests", "ok", "errors", "errors_by_kind", "dropped",
				"achieved_rate", "peak_in_flight", "latency_us", "go_version", "gomaxprocs", "cpus_allowed"}
			if sc == ScenarioStream {
				want = append(want, "ttfb_us")
			}
			slices.Sort(want)
			var got []string
			for k := range m {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("summary fields:\n got %v\nwant %v", got, want)
			}
			if m["tool"] != Tool || m["version"] != "v1" || m["scenario"] != string(sc) || m["mode"] != "closed" ||
				!strings.HasSuffix(m["url"].(string), "/v1/chat/completions") {
				t.Errorf("summary = %s", buf.Bytes())
			}
			for _, hist := range []string{"latency_us", "ttfb_us"} {
				l, ok := m[hist].(map[string]any)
				if !ok {
					continue
				}
				prev := 0.0
				for _, p := range []string{"p50", "p90", "p99", "p999", "max"} {
					v, _ := l[p].(float64)
					if v <= 0 || v < prev {
						t.Errorf("%s.%s = %v after %v: want positive and ordered", hist, p, v, prev)
					}
					prev = v
				}
			}
			var text bytes.Buffer
			if err := s.WriteText(&text); err != nil || !strings.Contains(text.String(), "p99.9") {
				t.Errorf("WriteText = %v:\n%s", err, text.String())
			}
		})
	}
}

func TestNewTarget(t *testing.T) {
	tests := []struct {
		name     string
		scenario Scenario
		opts     ScenarioOptions
		wantErr  string
		check    func(t *testing.T, tg *Target)
	}{
		{"ChatHeaders", ScenarioChat, ScenarioOptions{Key: "k", Header: http.Header{"x-portkey-provider": {"openai"}}}, "",
			func(t *testing.T, tg *Target) {
				if tg.Header.Get("Authorization") != "Bearer k" || tg.Header.Get("X-Portkey-Provider") != "openai" || tg.Expect != 200 {
					t.Errorf("header %v, expect %d", tg.Header, tg.Expect)
				}
				if !bytes.Contains(tg.Body, []byte(`"max_tokens":16`)) || bytes.Contains(tg.Body, []byte("stream")) {
					t.Errorf("body %s", tg.Body)
				}
			}},
		{"StreamBody", ScenarioStream, ScenarioOptions{}, "", func(t *testing.T, tg *Target) {
			if !tg.Stream || !bytes.Contains(tg.Body, []byte(`"stream":true`)) {
				t.Errorf("stream %v, body %s", tg.Stream, tg.Body)
			}
		}},
		{"DeniedModel", ScenarioDenied, ScenarioOptions{}, "", func(t *testing.T, tg *Target) {
			if tg.Expect != 403 || !bytes.Contains(tg.Body, []byte(`"model":"mock-large"`)) {
				t.Errorf("expect %d, body %s", tg.Expect, tg.Body)
			}
		}},
		{"PathOverride", ScenarioChat, ScenarioOptions{Path: "/v1/chat/completions", BaseURL: "http://127.0.0.1:9090/"}, "", func(t *testing.T, tg *Target) {
			if tg.URL.String() != "http://127.0.0.1:9090/v1/chat/completions" {
				t.Errorf("url %s", tg.URL)
			}
		}},
		{"AdminKeys", ScenarioAdminKeys, ScenarioOptions{AdminKey: "a", Principal: "p", Scopes: []string{"chat"}, Key: "k"}, "", func(t *testing.T, tg *Target) {
			if tg.Expect != 201 || tg.URL.Path != "/admin/v1/keys" || tg.Header.Get("Authorization") != "Bearer a" ||
				string(tg.Body) != `{"principal":"p","name":"bench","scopes":["chat"]}` {
				t.Errorf("expect %d, url %s, header %v, body %s", tg.Expect, tg.URL, tg.Header, tg.Body)
			}
		}},
		{"ExpectStatus", ScenarioDenied, ScenarioOptions{ExpectStatus: 404}, "", func(t *testing.T, tg *Target) {
			if tg.Expect != 404 {
				t.Errorf("expect %d", tg.Expect)
			}
		}},
		{"MixWithoutKeys", ScenarioMix, ScenarioOptions{}, "needs keys", nil},
		{"AdminKeysWithoutPrincipal", ScenarioAdminKeys, ScenarioOptions{AdminKey: "a", Scopes: []string{"chat"}}, "needs", nil},
		{"Unknown", "nope", ScenarioOptions{}, "unknown scenario", nil},
		{"BadURL", ScenarioChat, ScenarioOptions{BaseURL: "127.0.0.1:8080"}, "target url", nil},
		{"NotHTTP", ScenarioChat, ScenarioOptions{BaseURL: "ftp://h"}, "want http", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if o.BaseURL == "" {
				o.BaseURL = "http://127.0.0.1:8080"
			}
			o.Model, o.DeniedModel, o.MaxTokens = "mock-small", "mock-large", 16
			tg, err := NewTarget(tt.scenario, o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewTarget = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tg)
		})
	}
}
