package proxy_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/metrics"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// BenchmarkHandler measures the gateway's own work on a request, in
// process: no sockets, no server, no client. One pre-built request is
// served over and over by the Gateway's ServeHTTP, into a ResponseWriter
// that is reset between calls, with an upstream RoundTripper that answers
// at once from memory and an audit log that keeps nothing. What is left is
// authentication, routing, parsing, policy, limits, audit event building,
// ReverseProxy and the response's metering and settling.
//
// The baselines, measured in the same run, are "direct" (the canned
// round trip and copying its answer to the writer: what any forwarder
// pays) and "reverseproxy" (a bare httputil.ReverseProxy over the same
// round trip, with a buffer pool: the floor DESIGN's choice of
// ReverseProxy sets).
func BenchmarkHandler(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		rt := cannedTransport{}
		out, err := http.NewRequest(http.MethodPost, "http://upstream.invalid/v1/chat/completions", nil)
		if err != nil {
			b.Fatal(err)
		}
		body := []byte(benchBody)
		br := bytes.NewReader(body)
		out.Body, out.ContentLength = io.NopCloser(br), int64(len(body))
		w := newBenchWriter()
		runHandler(b, w, func() {
			br.Reset(body)
			resp, err := rt.RoundTrip(out)
			if err != nil {
				b.Fatal(err)
			}
			maps.Copy(w.Header(), resp.Header)
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
			resp.Body.Close()
		})
	})
	b.Run("reverseproxy", func(b *testing.B) {
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "upstream.invalid"
			},
			Transport:  cannedTransport{},
			BufferPool: &benchBuffers{},
		}
		req, w := benchRequest(b, "Bearer "+openAISecret)
		runHandler(b, w, func() { rp.ServeHTTP(w, req()) })
	})
	b.Run("gateway", func(b *testing.B) {
		e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true, transport: cannedTransport{}})
		req, w := benchRequest(b, "Bearer "+e.key(b, "chat:gpt-4o-mini"))
		runHandler(b, w, func() { e.gw.ServeHTTP(w, req()) })
	})
	b.Run("gateway+metrics", func(b *testing.B) {
		e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true, transport: cannedTransport{}, metrics: metrics.New()})
		req, w := benchRequest(b, "Bearer "+e.key(b, "chat:gpt-4o-mini"))
		runHandler(b, w, func() { e.gw.ServeHTTP(w, req()) })
	})
	// The in-memory limiter with a key and a principal that have every
	// kind of limit (none reached), and metrics on.
	b.Run("gateway+limits+metrics", func(b *testing.B) {
		lim := proxy.NewStoreLimiter(proxy.LimiterConfig{Store: ratelimit.NewMemory(time.Now), DefaultOutput: 4096,
			Prices: map[string]proxy.Price{"*": {InputPerMillion: 1_000_000, OutputPerMillion: 2_000_000}}})
		e := newTestEnv(b, envOptions{auditor: discardAuditor{}, quiet: true, transport: cannedTransport{},
			limiter: lim, metrics: metrics.New()})
		req, w := benchRequest(b, "Bearer "+limitedKey(b, e))
		runHandler(b, w, func() { e.gw.ServeHTTP(w, req()) })
	})
}

// runHandler calls serve, which answers into w, once per iteration and
// checks that every answer is a 200 with the canned body.
func runHandler(b *testing.B, w *benchWriter, serve func()) {
	b.Helper()
	check := func() {
		if w.status != http.StatusOK || w.n != len(chatCompletion) {
			b.Fatalf("status %d, %d bytes of body; want 200 and %d bytes", w.status, w.n, len(chatCompletion))
		}
	}
	for range 10 { // fill the key cache and the metrics' label children
		w.reset()
		serve()
		check()
	}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		serve()
		check()
	}
}

// benchRequest returns a function that readies one pre-built POST of
// benchBody to /v1/chat/completions with auth for another call, and the
// writer to serve it into.
func benchRequest(b *testing.B, auth string) (func() *http.Request, *benchWriter) {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	ctx, cancel := context.WithCancel(b.Context()) // as a server's request context, which can end
	b.Cleanup(cancel)
	r = r.WithContext(ctx)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", auth)
	r.Header.Set("Content-Type", "application/json")
	body := []byte(benchBody)
	br := bytes.NewReader(body)
	r.Body, r.ContentLength = io.NopCloser(br), int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return func() *http.Request {
		br.Reset(body)
		return r
	}, newBenchWriter()
}

// benchWriter is a ResponseWriter that keeps the status and counts the
// body, and can be reset for the next call.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func newBenchWriter() *benchWriter { return &benchWriter{h: http.Header{}} }

func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// Flush implements http.Flusher, as a server's writer does.
func (w *benchWriter) Flush() {}

// SetReadDeadline and SetWriteDeadline succeed, as a server's writer's
// do, so http.ResponseController finds them.
func (w *benchWriter) SetReadDeadline(time.Time) error { return nil }

func (w *benchWriter) SetWriteDeadline(time.Time) error { return nil }

// cannedTransport is an upstream in process: it reads the request body, as
// a transport sends it, and answers with chatCompletion, with usage.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(chatCompletion)),
		ContentLength: int64(len(chatCompletion)),
		Request:       r,
	}, nil
}

// benchBuffers is a ReverseProxy buffer pool for the bare reverse proxy.
type benchBuffers struct{ pool sync.Pool }

func (p *benchBuffers) Get() []byte {
	if b, ok := p.pool.Get().(*[32 << 10]byte); ok {
		return b[:]
	}
	return new([32 << 10]byte)[:]
}

func (p *benchBuffers) Put(b []byte) { p.pool.Put((*[32 << 10]byte)(b)) }
