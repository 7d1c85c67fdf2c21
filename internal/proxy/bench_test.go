package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/proxy"
)

// benchBody is the request of every benchmark call: a small allowed chat
// completion, not streamed.
const benchBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi."}],"max_tokens":16}`

// BenchmarkAddedLatency measures, in one process, what the gateway adds to
// a call: the same small non-streamed chat completion sent one at a time
// on a keep-alive connection to the fake upstream directly, through the
// gateway with an audit log that keeps nothing and no limiter, and through
// the gateway with the real audit.Log (group commit; one fsync per lone
// request) in a
// temporary directory. Each reports ns/op and the p50 and p99 of the
// per-request times; the added latency is gateway minus direct.
func BenchmarkAddedLatency(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true})
		runLatency(b, e.up.srv.URL+"/openai/v1/chat/completions", "Bearer "+openAISecret)
	})
	b.Run("gateway", func(b *testing.B) {
		e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true})
		runLatency(b, e.url("/v1/chat/completions"), "Bearer "+e.key(b, "chat:gpt-4o-mini"))
	})
	b.Run("gateway+audit", func(b *testing.B) {
		l, err := audit.OpenLog(filepath.Join(b.TempDir(), "audit"), audit.LogOptions{})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Run(context.Background()) }()
		b.Cleanup(func() { l.Close(); <-done })
		e := newTestEnv(b, envOptions{auditor: l, quiet: true})
		runLatency(b, e.url("/v1/chat/completions"), "Bearer "+e.key(b, "chat:gpt-4o-mini"))
	})
}

// runLatency sends benchBody to url one request at a time and reports the
// median and 99th percentile of the request times.
func runLatency(b *testing.B, url, auth string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	call := func() {
		req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, bytes.NewReader([]byte(benchBody)))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("POST %s: status %d, %v", url, resp.StatusCode, err)
		}
	}
	for range 50 { // open the connections, fill the key cache
		call()
	}
	times := make([]time.Duration, 0, 1<<14)
	for b.Loop() {
		start := time.Now()
		call()
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2]), "p50-ns")
	b.ReportMetric(float64(times[len(times)*99/100]), "p99-ns")
}

// discardAuditor is an Auditor that keeps nothing.
type discardAuditor struct{}

func (discardAuditor) Authz(context.Context, audit.Authz) error { return nil }

func (discardAuditor) Usage(context.Context, audit.Usage) error { return nil }

var _ proxy.Auditor = discardAuditor{}
