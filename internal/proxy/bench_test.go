package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/metrics"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
	"github.com/scopegate/scopegate/internal/scope"
	"github.com/scopegate/scopegate/internal/store/redis"
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
	// Metrics on: the same gateway counting every request in Prometheus
	// metrics (internal/metrics), the label children already made.
	b.Run("gateway+metrics", func(b *testing.B) {
		e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true, metrics: metrics.New()})
		runLatency(b, e.url("/v1/chat/completions"), "Bearer "+e.key(b, "chat:gpt-4o-mini"))
	})
	// Limits on versus off: the same gateway with a key that has every
	// kind of limit (none of them reached), on the in-memory store and, when
	// SCOPEGATE_TEST_REDIS_ADDR is set, on Redis.
	b.Run("gateway+limits", func(b *testing.B) {
		lim := proxy.NewStoreLimiter(proxy.LimiterConfig{Store: ratelimit.NewMemory(time.Now), DefaultOutput: 4096,
			Prices: map[string]proxy.Price{"*": {InputPerMillion: 1_000_000, OutputPerMillion: 2_000_000}}})
		e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true, limiter: lim})
		runLatency(b, e.url("/v1/chat/completions"), "Bearer "+limitedKey(b, e))
	})
	if addr := os.Getenv("SCOPEGATE_TEST_REDIS_ADDR"); addr != "" {
		b.Run("gateway+limits-redis", func(b *testing.B) {
			client := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
			b.Cleanup(func() { client.Close() })
			store := redis.New(client, redis.Options{Prefix: "bench:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"})
			lim := proxy.NewStoreLimiter(proxy.LimiterConfig{Store: store, DefaultOutput: 4096,
				Prices: map[string]proxy.Price{"*": {InputPerMillion: 1_000_000, OutputPerMillion: 2_000_000}}})
			e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true, limiter: lim})
			runLatency(b, e.url("/v1/chat/completions"), "Bearer "+limitedKey(b, e))
		})
	}
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

// limitedKey mints a key with every kind of limit, each far from being
// reached, under a principal with limits too: fourteen counters per call.
func limitedKey(b *testing.B, e *testEnv) string {
	const big = 1 << 40
	all := apikey.Limits{RequestsPerMinute: big, TokensPerMinute: big, Concurrent: big, TokensPerDay: big,
		TokensPerMonth: big, CostPerDay: big, CostPerMonth: big}
	const id apikey.PrincipalID = "bench@example.com"
	e.keys.addPrincipal(apikey.Principal{ID: id, Kind: apikey.KindService, Audience: apikey.AudienceInternal,
		Status: apikey.PrincipalActive, Ceiling: scope.MustParseSet("chat"), Limits: all})
	key, _, _ := e.mintKey(b, keySpec{principal: id, scopes: []string{"chat:gpt-4o-mini"}, edit: func(k *apikey.Key) { k.Limits = all }})
	return key
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
