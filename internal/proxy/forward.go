package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/usage"
)

// call is one authorized request on its way through the reverse proxy: what
// Rewrite forwards and what the response is settled against.
type call struct {
	requestID string
	key       *apikey.Key
	rt        *route
	feature   string
	target    *urlTarget
	// body is the canonical body: exactly what was authorized.
	body  []byte
	start time.Time
	// began, sent and headers are, on the monotonic clock, when the
	// request arrived, when it was handed to the upstream, and when the
	// upstream's response headers came (zero if they did not): the
	// metrics' latencies. Only the request's goroutine sets and reads
	// them.
	began, sent, headers time.Time
	res                  Reservation
	// principal, team and model are what the usage record is filed under.
	principal *apikey.Principal
	model     string
	// inputEstimate is the request's estimated input tokens, charged for
	// a stream that ended before the upstream reported its usage.
	inputEstimate int64
	// stripUsage is set when the gateway asked an OpenAI stream for usage
	// the client did not ask for: the usage chunk is removed on the way.
	stripUsage bool
	// out is where the response goes, flushed before the call is
	// settled.
	out http.ResponseWriter
	// idle ends the response if it stops moving
	// (proxy.response_idle_timeout); its zero value, unused, when that is
	// off. idleWriter is the client writer it watches.
	idle       idleWatch
	idleWriter idleWriter

	once sync.Once
}

type urlTarget struct {
	scheme, host, path string
}

// jsonContentType is the Content-Type of every forwarded body.
var jsonContentType = []string{"application/json"}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// Headers a client may send that never reach an upstream: credentials (the
// upstream's own is injected), cookies, and forwarding headers the client
// could forge. Hop-by-hop headers, and those named in Connection, are
// removed by ReverseProxy itself. The names are in canonical form
// (TestStrippedHeadersCanonical).
var strippedRequestHeaders = []string{
	"Authorization", "X-Api-Key", "Api-Key", "Proxy-Authorization", "Cookie",
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
}

// rewrite builds the outbound request: the route table's URL, the
// canonical body from memory (never the inbound body: the whole body was
// read to parse it, and passing the inbound stream on cut SSE streams,
// golang/go#40747), and the upstream's credential.
func (g *Gateway) rewrite(u *upstream) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		c := callFrom(pr.In.Context())
		c.sent = time.Now()
		out := pr.Out
		out.URL.Scheme, out.URL.Host, out.URL.Path, out.URL.RawPath = c.target.scheme, c.target.host, c.target.path, ""
		out.URL.RawQuery = u.query
		out.Host = ""
		for _, h := range strippedRequestHeaders {
			delete(out.Header, h) // the names are canonical: Del would canonicalize them again
		}
		if u.kind != config.KindMock {
			for h := range out.Header {
				if strings.HasPrefix(h, "X-Mock-") { // test controls are for the mock only
					out.Header.Del(h)
				}
			}
		}
		out.Header.Del("Accept-Encoding") // let the transport negotiate, so usage can be read
		// The upstream learns the gateway's request id, so its logs and the
		// audit log can be joined.
		out.Header.Set("X-Scopegate-Request-Id", c.requestID)
		// A body net/http knows to be in memory (io.NopCloser over a
		// bytes.Reader) is written with its headers in one write; any
		// other reader type has its headers flushed first, which costs a
		// second write per request.
		out.Body = io.NopCloser(bytes.NewReader(c.body))
		out.ContentLength = int64(len(c.body))
		out.TransferEncoding = nil
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c.body)), nil }
		if len(c.body) > 0 {
			// Header values the gateway always sends are made once and
			// shared: nothing writes into a request's header values.
			out.Header["Content-Type"] = jsonContentType
			out.Header.Set("Content-Length", strconv.Itoa(len(c.body)))
		}
		if u.auth != nil {
			out.Header[u.auth.name] = u.auth.value
		}
		if u.kind == config.KindAnthropic && out.Header.Get("Anthropic-Version") == "" {
			out.Header.Set("Anthropic-Version", "2023-06-01")
		}
	}
}

// modifyResponse checks the upstream's answer and meters its body: usage
// is read as the body passes (streamed or not), then the call is settled
// and a usage event recorded when the body ends or the client goes.
func (g *Gateway) modifyResponse(u *upstream) func(*http.Response) error {
	return func(resp *http.Response) error {
		c := callFrom(resp.Request.Context())
		c.headers = time.Now()
		c.idle.start()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			// Redirects are never followed nor passed on: the Location
			// would name the upstream.
			resp.Body.Close()
			return errUpstreamRedirect
		}
		for _, h := range []string{"Set-Cookie", "Location", "Content-Location", "Alt-Svc"} {
			resp.Header.Del(h)
		}
		// The client gets the gateway's request id; the upstream's is kept
		// under another name for support tickets with the provider.
		if id := resp.Header.Get("X-Request-Id"); id != "" {
			resp.Header.Del("X-Request-Id")
			resp.Header.Set("X-Upstream-Request-Id", id)
		}
		if resp.StatusCode >= 400 {
			scrubErrorBody(resp, u)
		}
		stripUpstreamLimitHeaders(resp.Header)
		setLimitHeaders(resp.Header, c.rt.api, c.res.Quotas(), g.now())
		streamed := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
		m := &meteredBody{ReadCloser: resp.Body, g: g, c: c, status: resp.StatusCode, knownLength: resp.ContentLength >= 0,
			streamed: streamed}
		if streamed {
			m.meter = provider.NewStreamMeter(c.rt.api, c.rt.endpoint)
		}
		if streamed && g.cutStreams {
			m.cutAfter = c.res.OutputTokens()
		}
		resp.Body = m
		if streamed && c.stripUsage {
			// The meter sees the usage chunk; the client does not.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{provider.NewUsageChunkFilter(m), m}
		}
		return nil
	}
}

var errUpstreamRedirect = errors.New("upstream answered with a redirect")

// maxScrubbed is how much of an upstream error body is read to scrub; a
// longer one is cut, since no provider error needs more.
const maxScrubbed = 64 << 10

// scrubErrorBody removes the upstream's URL and credential from an error
// body before it is passed on, in case the upstream echoes them.
func scrubErrorBody(resp *http.Response, u *upstream) {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxScrubbed))
	resp.Body.Close()
	replace := []string{u.base.String(), "[upstream]", u.base.Host, "[upstream]"}
	if k := u.apiKey.Reveal(); k != "" {
		replace = append([]string{k, "[REDACTED]"}, replace...)
	}
	b = []byte(strings.NewReplacer(replace...).Replace(string(b)))
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("Content-Encoding")
}

// meteredBody passes the upstream's body through and reads usage from it.
type meteredBody struct {
	io.ReadCloser
	g        *Gateway
	c        *call
	status   int
	streamed bool
	// knownLength is set when the upstream's answer declared its length.
	knownLength bool
	meter       *provider.StreamMeter // of a stream; nil otherwise
	buf         *bytes.Buffer         // a whole non-streamed body, capped; from meterBuffers
	eof         bool
	// cutAfter, when positive, is the output (in content events) past
	// which the stream is cut (limits.cut_streams).
	cutAfter int64
	cut      bool
	tail     []byte // the rest of the cut's error event, still to be read
	// endedLine reports that the last byte metered ended a line, so a
	// line break at the start of the next read is a blank line.
	endedLine bool
}

// maxMetered caps how much of a non-streamed body is kept to read its
// usage; embeddings answers can be large and usage is then unknown.
const maxMetered = 4 << 20

func (m *meteredBody) Read(p []byte) (int, error) {
	if m.cut {
		if len(m.tail) == 0 {
			return 0, io.EOF
		}
		n := copy(p, m.tail)
		m.tail = m.tail[n:]
		return n, nil
	}
	n, err := m.ReadCloser.Read(p)
	if n > 0 {
		switch {
		case m.streamed && m.cutAfter > 0:
			if kept, cut := m.meterUntilCut(p[:n]); cut {
				return kept, nil
			}
		case m.streamed:
			m.meter.Write(p[:n])
		default:
			m.keep(p[:n])
		}
	}
	if err == io.EOF {
		m.eof = true
	}
	return n, err
}

// meterBuffers holds the buffers non-streamed bodies are kept in until
// their usage is read.
var meterBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledMeterBuffer is the largest buffer put back in meterBuffers;
// larger ones (embeddings) are left to the collector.
const maxPooledMeterBuffer = 64 << 10

// keep adds b to the body kept to read its usage, up to maxMetered.
func (m *meteredBody) keep(b []byte) {
	if m.buf == nil {
		m.buf = meterBuffers.Get().(*bytes.Buffer)
		m.buf.Reset()
	}
	if m.buf.Len() < maxMetered {
		m.buf.Write(b)
	}
}

// kept returns the body kept so far.
func (m *meteredBody) kept() []byte {
	if m.buf == nil {
		return nil
	}
	return m.buf.Bytes()
}

// releaseBuf gives the kept body's buffer back once its usage is read.
func (m *meteredBody) releaseBuf() {
	if m.buf != nil && m.buf.Cap() <= maxPooledMeterBuffer {
		m.buf.Reset()
		meterBuffers.Put(m.buf)
	}
	m.buf = nil
}

// meterUntilCut meters b one event at a time and, at the first event whose
// content passes the reservation, cuts the stream: that event is the last
// passed on, the rest of b is dropped, and the cut's error event follows.
// It returns how much of b to pass on and whether the stream was cut.
func (m *meteredBody) meterUntilCut(b []byte) (int, bool) {
	for off := 0; off < len(b); {
		end := off + nextEventEnd(b[off:])
		if off == 0 && m.endedLine {
			// A line break first ends an event whose last line ended in
			// the previous read.
			switch {
			case b[0] == '\n':
				end = 1
			case b[0] == '\r' && len(b) > 1 && b[1] == '\n':
				end = 2
			}
		}
		m.meter.Write(b[off:end])
		m.endedLine = b[end-1] == '\n'
		off = end
		if m.meter.Deltas() > m.cutAfter {
			m.cut = true
			m.tail = provider.StreamCutEvent(m.c.rt.api, fmt.Sprintf(
				"the stream was ended by the gateway: its output passed the %d tokens reserved for it under the key's limits", m.cutAfter))
			return off, true
		}
	}
	return len(b), false
}

// nextEventEnd returns the length of b up to and including the blank line
// that ends its first server-sent event ("\n\n" or "\n\r\n"), or len(b)
// if no event ends in b.
func nextEventEnd(b []byte) int {
	for i := 1; i < len(b); i++ {
		if b[i] == '\n' && (b[i-1] == '\n' || (b[i-1] == '\r' && i >= 2 && b[i-2] == '\n')) {
			return i + 1
		}
	}
	return len(b)
}

// Close settles the call. ReverseProxy closes the body when the copy ends,
// whether it ended because the body did or because the client went away.
func (m *meteredBody) Close() error {
	err := m.ReadCloser.Close()
	var u provider.Usage
	if m.streamed {
		u = m.meter.Usage()
	} else if m.eof {
		u = provider.ResponseUsage(m.c.rt.api, m.c.rt.endpoint, m.kept())
	}
	m.releaseBuf()
	outcome := "ok"
	switch {
	case m.status >= 400:
		outcome = "upstream_error"
	case m.cut:
		outcome = "stream_cut"
	case m.c.idle.expired():
		outcome = "idle_timeout"
	case !m.eof && !(m.streamed && m.meter.Ended()):
		outcome = "client_abort"
	}
	if outcome == "idle_timeout" {
		m.g.logger.Warn("response ended: nothing reached the client within proxy.response_idle_timeout",
			logRequestID, m.c.requestID, logUpstream, m.c.target.host)
	}
	charged := u
	if m.streamed && endedEarly(outcome) {
		charged = deliveredUsage(u, m.meter.Deltas(), m.c.inputEstimate)
	}
	// The answer reaches the client before the call is settled (a
	// round trip to Redis with shared limits). Only when its length is
	// known: flushing an answer of unknown length would make it chunked,
	// a second write for its last chunk, while unflushed a small one goes
	// out in one write with a Content-Length when the handler returns.
	if m.knownLength {
		m.c.flushOut()
	}
	m.g.settle(m.c, m.status, charged, outcome)
	return err
}

// flushOut sends what the client's writer holds.
func (c *call) flushOut() {
	if f, ok := c.out.(http.Flusher); ok {
		f.Flush()
		return
	}
	if c.out != nil {
		http.NewResponseController(c.out).Flush()
	}
}

// endedEarly reports whether a call's outcome means its answer stopped
// before its end: what was delivered is then charged, and its tokens are
// the gateway's count, not the upstream's.
func endedEarly(outcome string) bool {
	return outcome == "client_abort" || outcome == "stream_cut" || outcome == "idle_timeout"
}

// deliveredUsage is what a stream that ended early is charged: its input
// (the upstream's count if it sent one, else the estimate) and one output
// token per content event delivered, or the upstream's output count if it
// is larger. Providers stream about one token per event.
func deliveredUsage(u provider.Usage, deltas, inputEstimate int64) provider.Usage {
	in := inputEstimate
	if u.Known {
		in = u.InputTokens
	}
	return provider.Usage{InputTokens: in, OutputTokens: max(u.OutputTokens, deltas), Known: true}
}

// proxyError answers a failed upstream call: no connection, a timeout
// waiting for headers, a refused redirect. The upstream's address is never
// in the answer.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	c := callFrom(r.Context())
	status, outcome, msg := http.StatusBadGateway, "upstream_error", "the upstream could not be reached"
	switch {
	case errors.Is(err, context.Canceled) || r.Context().Err() != nil:
		status, outcome, msg = 499, "client_abort", "the client went away"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		status, outcome, msg = http.StatusGatewayTimeout, "timeout", "the upstream did not answer in time"
	case errors.Is(err, errUpstreamRedirect):
		msg = "the upstream answered with a redirect, which is not followed"
	}
	g.logger.WarnContext(r.Context(), "upstream call failed", logRequestID, c.requestID, logUpstream, c.target.host, logErr, err)
	if status != 499 {
		setLimitHeaders(w.Header(), c.rt.api, c.res.Quotas(), g.now())
		writeError(w, c.rt.api, &gateError{status: status, reason: outcome, msg: msg})
	}
	g.settle(c, status, provider.Usage{}, outcome)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// settle ends a call once: the reservation is settled with the real usage
// (or, for a stream that ended early, what it delivered), the usage
// event recorded, and the usage counted for reports.
func (g *Gateway) settle(c *call, status int, u provider.Usage, outcome string) {
	c.once.Do(func() {
		ctx := context.Background()
		c.res.Settle(ctx, u)
		g.countUsage(c, u)
		// Tokens of a stream that ended early are the gateway's count of
		// what it delivered, not the upstream's: recorded as not known.
		known := u.Known && !endedEarly(outcome)
		e := audit.Usage{RequestID: c.requestID, KeyID: string(c.key.ID), Status: status,
			InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, UsageKnown: known,
			Latency: g.now().Sub(c.start), Outcome: outcome}
		g.countCall(c, status, u, outcome)
		if err := g.auditor.Usage(ctx, e); err != nil {
			g.logger.Error("record usage event", logRequestID, c.requestID, logErr, err)
		}
	})
}

// countCall counts a finished call in the metrics.
func (g *Gateway) countCall(c *call, status int, u provider.Usage, outcome string) {
	done := time.Now()
	sent := c.sent
	if sent.IsZero() { // never handed to the upstream
		sent = done
	}
	g.metrics.Request(c.feature, c.rt.endpoint, decisionAllow, outcome, status)
	g.metrics.Latency(c.feature, decisionAllow, sent.Sub(c.began), sinceOrZero(c.headers, sent), done.Sub(sent))
	if u.Known {
		g.metrics.Tokens(c.feature, u.InputTokens, u.OutputTokens)
	}
}

// countUsage adds a finished call to the usage reports: one request, and
// its tokens and cost when they are known.
func (g *Gateway) countUsage(c *call, u provider.Usage) {
	if g.usage == nil {
		return
	}
	rec := usage.Record{Hour: g.now(), Key: c.key.ID, Principal: c.principal.ID, Team: c.principal.Team,
		Feature: c.feature, Model: c.model, Requests: 1}
	if u.Known {
		rec.InputTokens, rec.OutputTokens = u.InputTokens, u.OutputTokens
		if p, ok := g.price(c.model); ok {
			rec.Cost = p.Cost(u.InputTokens, u.OutputTokens)
		}
	}
	g.usage.Add(rec)
}
