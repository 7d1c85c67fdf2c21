package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/metrics/metricstest"
)

// Slow and broken peers (issue 8) through the real listener: clients that
// stall, never read or go away, and upstreams that hang, stall, never
// stop, send garbage, redirect or fail. After each, the goroutines and
// file descriptors the gateway used must be given back.

// peerUpstream is a fake OpenAI upstream whose behaviour the test sets
// before each call, and which tells when a call it served was cancelled.
type peerUpstream struct {
	*httptest.Server
	mode      atomic.Value // string
	calls     atomic.Int64
	cancelled chan struct{}
	release   chan struct{} // closed at cleanup: hanging handlers return
	redirect  string
}

func newPeerUpstream(t *testing.T, redirect string) *peerUpstream {
	t.Helper()
	u := &peerUpstream{cancelled: make(chan struct{}, 16), release: make(chan struct{}), redirect: redirect}
	u.mode.Store("ok")
	u.Server = httptest.NewServer(http.HandlerFunc(u.serveHTTP))
	t.Cleanup(func() { close(u.release); u.Close() })
	return u
}

func (u *peerUpstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	io.Copy(io.Discard, r.Body)
	ctx := r.Context()
	// hang waits for the call to be cancelled, and reports it.
	hang := func() {
		select {
		case <-ctx.Done():
			u.cancelled <- struct{}{}
		case <-u.release:
		}
	}
	sse := func() {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
	}
	event := `data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"tok "}}]}` + "\n\n"
	switch u.mode.Load().(string) {
	case "hang":
		hang()
	case "stall":
		sse()
		io.WriteString(w, event)
		w.(http.Flusher).Flush()
		hang()
	case "endless":
		sse()
		for {
			if _, err := io.WriteString(w, event); err != nil {
				u.cancelled <- struct{}{}
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-ctx.Done():
				u.cancelled <- struct{}{}
				return
			case <-u.release:
				return
			case <-time.After(time.Millisecond):
			}
		}
	case "large":
		w.Header().Set("Content-Type", "application/json")
		chunk := strings.Repeat("x", 64<<10)
		for range 1024 { // 64 MiB
			if _, err := io.WriteString(w, chunk); err != nil {
				u.cancelled <- struct{}{}
				return
			}
		}
	case "malformed":
		sse()
		io.WriteString(w, "data: {not json\n\ndata: \xff\xfe\n\n:\n\nevent: x\ndata: {\"usage\":{\"prompt_tokens\":\"many\"}}\n\ndata: [DONE]\n\n")
	case "redirect":
		w.Header().Set("Location", u.redirect)
		w.WriteHeader(http.StatusFound)
	case "5xx":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"boom at `+u.URL+`","type":"server_error"}}`)
	default:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}
}

// waitCancelled waits for the upstream to see its call cancelled.
func (u *peerUpstream) waitCancelled(t *testing.T) {
	t.Helper()
	select {
	case <-u.cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the upstream call was not cancelled")
	}
}

// resources is a count of the process's goroutines and open files.
type resources struct{ goroutines, fds int }

func countResources(t *testing.T) resources {
	t.Helper()
	r := resources{goroutines: runtime.NumGoroutine(), fds: -1}
	if runtime.GOOS == "linux" {
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
			r.fds = len(ents)
		}
	}
	return r
}

// checkNoLeak waits up to a few seconds for the goroutines and open files
// to come back to base, with a small tolerance for the runtime's and the
// test's own.
func checkNoLeak(t *testing.T, base resources) {
	t.Helper()
	const tolerance = 6
	var now resources
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		now = countResources(t)
		if now.goroutines <= base.goroutines+tolerance && now.fds <= base.fds+tolerance {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Errorf("leak: %d goroutines and %d open files, base %d and %d\n%s", now.goroutines, now.fds, base.goroutines, base.fds, buf)
}

// peerGateway is a gateway whose feature chat goes to a peerUpstream,
// with short timeouts.
type peerGateway struct {
	*hostileGateway
	peer     *peerUpstream
	internal *ledgerUpstream // what a redirect points at; must see nothing
}

func startPeers(t *testing.T) *peerGateway {
	t.Helper()
	internal := newLedgerUpstream(t)
	peer := newPeerUpstream(t, internal.URL+"/v1/chat/completions")
	cfg := fmt.Sprintf(`upstreams:
  fake: {kind: openai, base_url: %q, timeout: 500ms}
features:
  chat:
    audience: external
    upstream: fake
    endpoints: [chat.completions]
    models: [gpt-4o-mini]
proxy: {body_timeout: 500ms, response_idle_timeout: 700ms}
`, peer.URL+"/v1")
	g := startServeHooks(t, cfg, nil, func(h *testHooks) { h.headerTimeout = 500 * time.Millisecond })
	h := &hostileGateway{gateway: g, dataKey: createChatKey(g, g.info.AdminKey)}
	return &peerGateway{hostileGateway: h, peer: peer, internal: internal}
}

// request is a chat completion as written on the wire, streamed or not.
func (p *peerGateway) request(stream bool) string {
	body := chatBody
	if stream {
		body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hello"}]}`
	}
	return fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		p.dataKey, len(body), body)
}

// closedWithin checks that the server closes conn within d.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %s (received %.300q)", d, b)
	}
	return b
}

func TestSlowAndBrokenPeers(t *testing.T) {
	p := startPeers(t)
	// Warm up: the first call opens pools and starts the gateway's
	// background work, which is not a leak.
	for range 3 {
		resp, _ := sendRaw(t, p.info.DataAddr, p.request(false))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("warm-up call = %d", resp.StatusCode)
		}
	}
	base := countResources(t)
	idleTimeouts := &metricCounter{url: "http://" + p.info.AdminAddr + "/metrics", name: "scopegate_requests_total", label: "reason", value: "idle_timeout"}

	dial := func(t *testing.T) net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", p.info.DataAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	tests := []struct {
		name string
		mode string
		run  func(t *testing.T)
	}{
		{"SlowHeaders", "ok", func(t *testing.T) {
			conn := dial(t)
			io.WriteString(conn, "POST /v1/chat/comp")
			closedWithin(t, conn, 3*time.Second)
		}},
		{"SlowHeaderLines", "ok", func(t *testing.T) {
			conn := dial(t)
			io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
			for range 3 {
				time.Sleep(200 * time.Millisecond)
				if _, err := io.WriteString(conn, "X-Slow: 1\r\n"); err != nil {
					return // closed already
				}
			}
			closedWithin(t, conn, 3*time.Second)
		}},
		{"SlowBody", "ok", func(t *testing.T) {
			conn := dial(t)
			req := p.request(false)
			io.WriteString(conn, req[:len(req)-10])
			b := closedWithin(t, conn, 3*time.Second)
			if !strings.HasPrefix(string(b), "HTTP/1.1 408 ") || !strings.Contains(string(b), "request_timeout") {
				t.Errorf("answer = %.200q, want 408 request_timeout", b)
			}
		}},
		{"ClientNeverReads", "large", func(t *testing.T) {
			conn := dial(t)
			io.WriteString(conn, p.request(false))
			time.Sleep(300 * time.Millisecond) // the buffers fill; nothing is read
			conn.Close()                       // and the client goes, before the idle timeout
			p.peer.waitCancelled(t)
		}},
		// A client that stops reading but keeps its connection open: the
		// buffers fill, the gateway's write blocks, and the response idle
		// timeout ends the call.
		{"ClientStopsReading", "large", func(t *testing.T) {
			conn := dial(t)
			io.WriteString(conn, p.request(false))
			p.peer.waitCancelled(t)
			idleTimeouts.expect(t, 1)
		}},
		// An upstream that sends one event and then nothing while the
		// client waits: the gateway ends the stream after the idle
		// timeout, having passed on what came.
		{"UpstreamStallsClientWaits", "stall", func(t *testing.T) {
			conn := dial(t)
			start := time.Now()
			io.WriteString(conn, p.request(true))
			b := closedWithin(t, conn, 4*time.Second)
			if !strings.HasPrefix(string(b), "HTTP/1.1 200 ") || !strings.Contains(string(b), "tok ") {
				t.Errorf("answer = %.300q, want the first event passed on", b)
			}
			if d := time.Since(start); d < 600*time.Millisecond {
				t.Errorf("the stream ended after %s, before the 700ms idle timeout", d)
			}
			p.peer.waitCancelled(t)
			idleTimeouts.expect(t, 1)
		}},
		{"ClientAbortsMidStream", "endless", func(t *testing.T) {
			conn := dial(t)
			io.WriteString(conn, p.request(true))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			for range 5 {
				if _, err := resp.Body.Read(make([]byte, 512)); err != nil {
					t.Fatal(err)
				}
			}
			conn.Close()
			p.peer.waitCancelled(t)
		}},
		{"UpstreamHangsBeforeHeaders", "hang", func(t *testing.T) {
			start := time.Now()
			resp, body := sendRaw(t, p.info.DataAddr, p.request(false))
			if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"timeout"`) {
				t.Errorf("answer = %d %s, want 504 timeout", resp.StatusCode, body)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("answered after %s; the upstream timeout is 500ms", d)
			}
			p.peer.waitCancelled(t)
		}},
		{"UpstreamStallsMidStream", "stall", func(t *testing.T) {
			conn := dial(t)
			io.WriteString(conn, p.request(true))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := resp.Body.Read(make([]byte, 512)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // stalled; the client gives up
			conn.Close()
			p.peer.waitCancelled(t)
		}},
		{"UpstreamMalformedStream", "malformed", func(t *testing.T) {
			resp, body := sendRaw(t, p.info.DataAddr, p.request(true))
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "{not json") {
				t.Errorf("answer = %d %q, want 200 passing the stream on", resp.StatusCode, body)
			}
		}},
		{"UpstreamRedirectsInternal", "redirect", func(t *testing.T) {
			resp, body := sendRaw(t, p.info.DataAddr, p.request(false))
			if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Location") != "" || strings.Contains(string(body), p.internal.URL) {
				t.Errorf("answer = %d %v %s, want 502 without the location", resp.StatusCode, resp.Header, body)
			}
			if n, _ := p.internal.received(); n != 0 {
				t.Errorf("the redirect was followed: the internal address received %d requests", n)
			}
		}},
		{"Upstream5xx", "5xx", func(t *testing.T) {
			resp, body := sendRaw(t, p.info.DataAddr, p.request(false))
			if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), p.peer.URL) {
				t.Errorf("answer = %d %s, want 500 without the upstream's address", resp.StatusCode, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.peer.mode.Store(tt.mode)
			tt.run(t)
			p.peer.mode.Store("ok")
			p.alive(t)
			// The gateway keeps idle pooled connections to the upstream;
			// they are not leaks.
			p.peer.CloseClientConnections()
			checkNoLeak(t, base)
		})
	}
	p.verifyAudit(t)
}

// metricCounter is the sum of a counter's series with one label value,
// read from /metrics; expect checks how much it grew since the last check.
type metricCounter struct {
	url                string
	name, label, value string
	last               float64
}

// expect waits up to a few seconds for the counter to have grown by n.
func (m *metricCounter) expect(t *testing.T, n float64) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = metricstest.Fetch(t, m.url).Sum(m.name, m.label, m.value) - m.last; got >= n {
			break
		}
	}
	if got != n {
		t.Errorf("%s{%s=%q} grew by %v, want %v", m.name, m.label, m.value, got, n)
	}
	m.last += got
}
