package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/anomaly"
)

// secretPath and secretQuery stand for the credential a webhook URL
// holds; no log line may contain them.
const (
	secretPath  = "/services/T000/B000/XXXXSECRETXXXX"
	secretQuery = "token=QUERYSECRET"
)

// hook is a webhook server that answers each POST with the next status of
// its script (the last one repeated), and keeps what it received.
type hook struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script []response
	got    []received
}

type response struct {
	status     int
	retryAfter string
	// stall makes the handler wait until the request is cancelled.
	stall bool
}

type received struct {
	contentType string
	path, query string
	body        []byte
}

func newHook(t *testing.T, script ...response) *hook {
	t.Helper()
	h := &hook{t: t, script: script}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got = append(h.got, received{r.Header.Get("Content-Type"), r.URL.Path, r.URL.RawQuery, body})
	resp := h.script[min(len(h.got), len(h.script))-1]
	h.mu.Unlock()
	if resp.stall {
		<-r.Context().Done()
		return
	}
	if resp.retryAfter != "" {
		w.Header().Set("Retry-After", resp.retryAfter)
	}
	w.WriteHeader(resp.status)
}

func (h *hook) received() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

// url is the server's URL with the secret path and query.
func (h *hook) url() string { return h.srv.URL + secretPath + "?" + secretQuery }

// logBuffer collects log lines, which the worker writes concurrently.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rig is a Webhook whose waits are recorded instead of slept, with no
// jitter.
type rig struct {
	w      *Webhook
	logs   *logBuffer
	mu     sync.Mutex
	sleeps []time.Duration
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	r := &rig{logs: &logBuffer{}}
	r.w = New(cfg, slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	r.w.sleep = func(ctx context.Context, d time.Duration) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sleeps = append(r.sleeps, d)
		return ctx.Err()
	}
	r.w.jitter = func(d time.Duration) time.Duration { return d }
	return r
}

func (r *rig) waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.sleeps...)
}

// deliverAll queues notices, closes the webhook and runs it until the
// queue is empty.
func (r *rig) deliverAll(t *testing.T, notices ...anomaly.Notice) {
	t.Helper()
	for _, n := range notices {
		r.w.Notify(t.Context(), n)
	}
	r.w.Close()
	r.w.Run(t.Context())
}

// noSecrets checks that the logs never name the URL beyond its host.
func (r *rig) noSecrets(t *testing.T) {
	t.Helper()
	logs := r.logs.String()
	for _, secret := range []string{"XXXXSECRETXXXX", "QUERYSECRET", "/services/"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

var notice = anomaly.Notice{AlertID: 42, Rule: "probing", Subject: "key:KeyA000000000000", Principal: "alice@example.com",
	Team: "red", Key: "KeyA000000000000", Figures: "denials=12 window=1m0s",
	FirstAt: time.Date(2026, 11, 28, 12, 0, 0, 0, time.FixedZone("CET", 3600)), Count: 1, Action: anomaly.ActionSuspendKey}

func TestDelivered(t *testing.T) {
	h := newHook(t, response{status: 200})
	r := newRig(t, Config{URL: h.url()})
	r.deliverAll(t, notice)
	got := h.received()
	if len(got) != 1 {
		t.Fatalf("server received %d posts, want 1", len(got))
	}
	if got[0].contentType != "application/json" || got[0].path != secretPath || got[0].query != secretQuery {
		t.Errorf("post: Content-Type %q, path %q, query %q; want application/json to the configured URL", got[0].contentType, got[0].path, got[0].query)
	}
	want := `{"text":"scopegate alert *probing* on key:KeyA000000000000 (principal alice@example.com): denials=12 window=1m0s.` +
		" Key suspended: undo with `scopegate keys resume KeyA000000000000`. Acknowledge with `scopegate alerts ack 42`.\"," +
		`"rule":"probing","subject":"key:KeyA000000000000","principal":"alice@example.com","team":"red",` +
		`"key":"KeyA000000000000","figures":"denials=12 window=1m0s","first_at":"2026-11-28T11:00:00Z","count":1,` +
		`"alert_id":42,"action":"suspend_key"}`
	if string(got[0].body) != want {
		t.Errorf("body:\n%s\nwant:\n%s", got[0].body, want)
	}
	if s := r.w.Stats(); s != (Stats{Delivered: 1}) {
		t.Errorf("Stats = %+v, want 1 delivered", s)
	}
	if w := r.waits(); len(w) != 0 {
		t.Errorf("waited %v before a first success", w)
	}
}

// TestRetried checks that 500s are retried with doubling waits until a
// success.
func TestRetried(t *testing.T) {
	h := newHook(t, response{status: 500}, response{status: 502}, response{status: 503}, response{status: 204})
	r := newRig(t, Config{URL: h.url(), Backoff: time.Second, MaxAttempts: 5})
	r.deliverAll(t, notice)
	if n := len(h.received()); n != 4 {
		t.Errorf("attempts = %d, want 4", n)
	}
	if d := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, r.waits()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	if s := r.w.Stats(); s != (Stats{Delivered: 1}) {
		t.Errorf("Stats = %+v, want 1 delivered", s)
	}
	// Every attempt posts the same body.
	got := h.received()
	for _, rc := range got[1:] {
		if !bytes.Equal(rc.body, got[0].body) {
			t.Errorf("a retry posted %s, the first attempt %s", rc.body, got[0].body)
		}
	}
	r.noSecrets(t)
}

// TestRetryAfter checks that a 429's Retry-After is waited, when longer
// than the backoff, up to MaxBackoff.
func TestRetryAfter(t *testing.T) {
	h := newHook(t, response{status: 429, retryAfter: "7"}, response{status: 429, retryAfter: "3600"},
		response{status: 503, retryAfter: "soon"}, response{status: 200})
	r := newRig(t, Config{URL: h.url(), Backoff: time.Second, MaxBackoff: 30 * time.Second})
	r.deliverAll(t, notice)
	if d := cmp.Diff([]time.Duration{7 * time.Second, 30 * time.Second, 4 * time.Second}, r.waits()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	if s := r.w.Stats(); s != (Stats{Delivered: 1}) {
		t.Errorf("Stats = %+v, want 1 delivered", s)
	}
}

// TestGivesUp checks that a server failing every time is tried
// MaxAttempts times, and the failure logged without the URL.
func TestGivesUp(t *testing.T) {
	h := newHook(t, response{status: 500})
	r := newRig(t, Config{URL: h.url(), Backoff: 100 * time.Millisecond, MaxBackoff: 250 * time.Millisecond, MaxAttempts: 4})
	r.deliverAll(t, notice)
	if n := len(h.received()); n != 4 {
		t.Errorf("attempts = %d, want MaxAttempts 4", n)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond}
	if d := cmp.Diff(want, r.waits()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	if s := r.w.Stats(); s != (Stats{Failed: 1}) {
		t.Errorf("Stats = %+v, want 1 failed", s)
	}
	logs := r.logs.String()
	host := strings.TrimPrefix(h.srv.URL, "http://")
	if !strings.Contains(logs, `"msg":"alert notice not delivered"`) || !strings.Contains(logs, `"webhook_host":"`+host+`"`) ||
		!strings.Contains(logs, `"attempts":4`) || !strings.Contains(logs, `"status":500`) {
		t.Errorf("logs do not report the failure with host, attempts and status:\n%s", logs)
	}
	r.noSecrets(t)
}

// TestNotRetried checks that other 4xx answers, and redirects, are final.
func TestNotRetried(t *testing.T) {
	for _, status := range []int{400, 403, 404, 410, 302} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHook(t, response{status: status}, response{status: 200})
			r := newRig(t, Config{URL: h.url()})
			r.deliverAll(t, notice)
			if n := len(h.received()); n != 1 {
				t.Errorf("attempts = %d, want 1", n)
			}
			if s := r.w.Stats(); s != (Stats{Failed: 1}) {
				t.Errorf("Stats = %+v, want 1 failed", s)
			}
			r.noSecrets(t)
		})
	}
}

// TestNetworkErrors checks that a server that cannot be reached, or that
// does not answer within the timeout, is retried, and that the client's
// errors, which quote the URL, are logged without it.
func TestNetworkErrors(t *testing.T) {
	t.Run("Refused", func(t *testing.T) {
		h := newHook(t, response{status: 200})
		u := h.url()
		h.srv.Close()
		r := newRig(t, Config{URL: u, MaxAttempts: 3})
		r.deliverAll(t, notice)
		if s := r.w.Stats(); s != (Stats{Failed: 1}) {
			t.Errorf("Stats = %+v, want 1 failed", s)
		}
		if n := len(r.waits()); n != 2 {
			t.Errorf("waits = %d, want 2 (3 attempts)", n)
		}
		r.noSecrets(t)
	})
	t.Run("Timeout", func(t *testing.T) {
		h := newHook(t, response{stall: true}, response{status: 200})
		r := newRig(t, Config{URL: h.url(), Timeout: 50 * time.Millisecond})
		r.deliverAll(t, notice)
		if n := len(h.received()); n != 2 {
			t.Errorf("attempts = %d, want 2", n)
		}
		if s := r.w.Stats(); s != (Stats{Delivered: 1}) {
			t.Errorf("Stats = %+v, want 1 delivered", s)
		}
		if !strings.Contains(r.logs.String(), "timed out") {
			t.Errorf("logs do not say the attempt timed out:\n%s", r.logs)
		}
		r.noSecrets(t)
	})
}

// TestQueueFull checks that Notify drops, counts and logs what does not
// fit the queue, without blocking, and that the rest is delivered.
func TestQueueFull(t *testing.T) {
	h := newHook(t, response{status: 200})
	r := newRig(t, Config{URL: h.url(), QueueSize: 2})
	for i := range 5 {
		n := notice
		n.AlertID = int64(i + 1)
		r.w.Notify(t.Context(), n) // no worker yet: must not block
	}
	if s := r.w.Stats(); s != (Stats{Dropped: 3}) {
		t.Errorf("Stats before Run = %+v, want 3 dropped", s)
	}
	if n := strings.Count(r.logs.String(), "alert notice dropped: webhook queue full"); n != 3 {
		t.Errorf("logged %d drops, want 3:\n%s", n, r.logs)
	}
	r.w.Close()
	r.w.Run(t.Context())
	var ids []int64
	for _, rc := range h.received() {
		var p Payload
		if err := json.Unmarshal(rc.body, &p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.AlertID)
	}
	if d := cmp.Diff([]int64{1, 2}, ids); d != "" {
		t.Errorf("delivered alert ids (-want +got):\n%s", d)
	}
	// After Close, notices are dropped.
	r.w.Notify(t.Context(), notice)
	if s := r.w.Stats(); s != (Stats{Delivered: 2, Dropped: 4}) {
		t.Errorf("Stats = %+v, want 2 delivered, 4 dropped", s)
	}
}

// TestRunStops checks that cancelling Run's context stops a delivery that
// is waiting to retry.
func TestRunStops(t *testing.T) {
	attempted := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { close(attempted) })
		w.WriteHeader(500)
	}))
	t.Cleanup(srv.Close)
	w := New(Config{URL: srv.URL, Backoff: time.Hour}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	w.Notify(t.Context(), notice)
	<-attempted
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if s := w.Stats(); s != (Stats{Failed: 1}) {
		t.Errorf("Stats = %+v, want 1 failed", s)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		url, err string
	}{
		{"https://hooks.slack.com/services/T/B/X", ""},
		{"http://127.0.0.1:9000/hook?token=x", ""},
		{"hooks.slack.com/services/T/B/X", "must start with https:// or http://"},
		{"ftp://x/y", "must start with https:// or http://"},
		{"https:///path", "has no host"},
		{"https://x/%zz?secret", "is not a URL"},
	} {
		c := Config{URL: tt.url}
		err := c.Validate()
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("Validate(%q) = %v, want nil", tt.url, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Validate(%q) = %v, want %q", tt.url, err, tt.err)
		case err != nil && strings.Contains(err.Error(), tt.url):
			t.Errorf("Validate(%q) = %v quotes the URL", tt.url, err)
		}
	}
}

func TestText(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    anomaly.Notice
		want string
	}{
		{"Network", anomaly.Notice{Rule: "credential_burst", Subject: "net:10.1.2.0/24", Figures: "invalid=40 window=1m0s", AlertID: 7},
			"scopegate alert *credential_burst* on net:10.1.2.0/24: invalid=40 window=1m0s. Acknowledge with `scopegate alerts ack 7`."},
		{"NotStored", anomaly.Notice{Rule: "budget", Subject: "principal:bob", Principal: "bob"},
			"scopegate alert *budget* on principal:bob (principal bob)."},
		{"Escaped", anomaly.Notice{Rule: "probing", Subject: "principal:<a&b>", Principal: "<a&b>", Figures: "x=1\ny=2"},
			"scopegate alert *probing* on principal:&lt;a&amp;b&gt; (principal &lt;a&amp;b&gt;): x=1 y=2."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := text(tt.n); got != tt.want {
				t.Errorf("text =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
