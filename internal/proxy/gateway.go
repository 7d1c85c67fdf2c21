package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/policy"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/usage"
)

// Log attribute keys.
const (
	logRequestID = "request_id"
	logKeyID     = "key_id"
	logReason    = "reason"
	logPath      = "path"
	logEndpoint  = "endpoint"
	logRemote    = "remote"
	logStatus    = "status"
	logUpstream  = "upstream"
	logErr       = "err"
)

// Verifier checks a presented key; *apikey.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, presented string, class apikey.Class, addr netip.Addr) (apikey.Verified, error)
}

// UsageMarker records that a key was used; *apikey.LastUsed is one.
type UsageMarker interface {
	Mark(id apikey.ID, t time.Time)
}

// Config holds the Gateway's dependencies.
type Config struct {
	Logger   *slog.Logger
	Config   *config.Config
	Verifier Verifier
	Used     UsageMarker
	Auditor  Auditor
	// Limiter may be nil: no limits.
	Limiter Limiter
	// MockURL is the base URL of the in-process mock upstream, used by
	// mock upstreams configured without a base_url.
	MockURL string
	// Transport, if set, replaces every upstream's connection pool (tests).
	Transport http.RoundTripper
	// Privacy says how client addresses and principals are recorded.
	Privacy audit.Privacy
	// AuditTimeout bounds the wait for the authz event to be durable
	// (default 5s); past it the request is refused with 503.
	AuditTimeout time.Duration
	// Usage, if set, counts every finished call for usage reports.
	Usage UsageRecorder
	// Metrics, if set, counts requests, latencies, tokens and limiter
	// refusals for monitoring.
	Metrics Metrics
	Now     func() time.Time
}

// UsageRecorder counts finished calls for reports; *usage.Recorder is one.
// Add must not block.
type UsageRecorder interface {
	Add(r usage.Record)
}

// Gateway is the data plane's http.Handler.
type Gateway struct {
	logger      *slog.Logger
	verifier    Verifier
	used        UsageMarker
	auditor     Auditor
	limiter     Limiter
	maxBody     int64
	bodyTimeout time.Duration
	// responseIdle is proxy.response_idle_timeout (see idleWatch).
	responseIdle time.Duration
	// inFlight holds a token per request being handled; nil for no cap.
	inFlight     chan struct{}
	privacy      audit.Privacy
	auditTimeout time.Duration
	usage        UsageRecorder
	metrics      Metrics
	prices       map[string]Price
	cutStreams   bool
	now          func() time.Time
	table        *table
	mux          *http.ServeMux
	upstreams    map[string]*upstream
	// copyBuffers are the reverse proxies' response copy buffers.
	copyBuffers *copyBuffers
}

// New builds the Gateway: its route table, policy features and upstreams.
func New(cfg Config) (*Gateway, error) {
	g := &Gateway{logger: cfg.Logger, verifier: cfg.Verifier, used: cfg.Used, auditor: cfg.Auditor,
		limiter: cfg.Limiter, maxBody: cfg.Config.Proxy.MaxBodyBytes, privacy: cfg.Privacy, auditTimeout: cfg.AuditTimeout,
		usage: cfg.Usage, metrics: cfg.Metrics, prices: PricesOf(cfg.Config), cutStreams: cfg.Config.Limits.CutStreams, now: cfg.Now}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	if g.limiter == nil {
		g.limiter = noLimits{}
	}
	if g.metrics == nil {
		g.metrics = noMetrics{}
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.auditTimeout == 0 {
		g.auditTimeout = 5 * time.Second
	}
	g.bodyTimeout = time.Duration(cfg.Config.Proxy.BodyTimeout)
	g.responseIdle = time.Duration(cfg.Config.Proxy.ResponseIdleTimeout)
	if n := cfg.Config.Proxy.MaxInFlight; n > 0 {
		g.inFlight = make(chan struct{}, n)
	}
	g.copyBuffers = &copyBuffers{}
	ups, err := buildUpstreams(cfg.Config, cfg.MockURL, cfg.Transport, g)
	if err != nil {
		return nil, err
	}
	g.upstreams = ups
	if g.table, err = buildTable(cfg.Config, ups); err != nil {
		return nil, err
	}
	g.mux = g.table.mux()
	return g, nil
}

// Admit wraps next, the data plane's outermost handler, in the cap on
// requests handled at once (proxy.max_in_flight): a request beyond it is
// answered 503 overloaded with Retry-After before any other work. The
// cap sits outside the leak endpoints too, which are served in front of
// the Gateway, so a flood of reports cannot pass it.
func (g *Gateway) Admit(next http.Handler) http.Handler {
	if g.inFlight == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.inFlight <- struct{}{}:
			defer func() { <-g.inFlight }()
			next.ServeHTTP(w, r)
		default:
			g.overloaded(w, r)
		}
	})
}

// CloseIdleConnections closes the idle connections of every upstream's
// pool. A server being shut down (the built-in mock) waits for connections
// that never carried a request; closing them from this side lets it stop
// at once.
func (g *Gateway) CloseIdleConnections() {
	for _, u := range g.upstreams {
		if c, ok := u.proxy.Transport.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

// Validate reports whether the data plane can be built from cfg: what
// config.Validate cannot see on its own, such as a custom route on the
// path of a named endpoint, or features sharing a route but reading its
// dataset from different places. It opens no connection.
func Validate(cfg *config.Config) error {
	_, err := New(Config{Config: cfg, MockURL: "http://127.0.0.1:0"})
	return err
}

// request is what the path learns about a request as it goes; it becomes
// the authz event.
type request struct {
	id    string
	start time.Time
	// began is when the request arrived on the monotonic clock, for the
	// metrics' latencies (start is on the gateway's clock, which tests
	// stop).
	began    time.Time
	api      provider.API
	client   netip.Addr
	path     string
	endpoint string
	keyID    apikey.ID
	verified apikey.Verified
	decision policy.Decision
}

// ServeHTTP runs the request path: authenticate, route, parse, authorize,
// limit, audit, forward. Every refusal is recorded as a deny event before
// it is answered.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{id: newRequestID(), start: g.now(), began: time.Now(), api: apiFor(r), client: clientAddr(r), path: r.URL.Path}
	w.Header().Set("X-Request-Id", req.id)
	if err := g.serve(w, r, req); err != nil {
		g.deny(r.Context(), w, req, err)
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, req *request) *gateError {
	if e := checkTarget(r); e != nil {
		return e
	}
	if e := checkUpgrade(r); e != nil {
		return e
	}
	rt, e := g.match(r)
	if e != nil {
		return e
	}
	if rt != nil {
		req.api, req.endpoint = rt.api, rt.endpoint
	}
	if e := g.authenticate(r, req); e != nil {
		return e
	}
	if rt == nil { // GET /v1/models, answered by the gateway itself
		g.listModels(w, r, req)
		return nil
	}
	body, e := g.readBody(w, r)
	if e != nil {
		return e
	}
	p, e := g.parse(rt, body, r.PathValue)
	if e != nil {
		return e
	}
	d, e := g.authorize(req, rt, p)
	if e != nil {
		return e
	}
	return g.forward(w, r, req, rt, p, d)
}

// match finds the request's route. A nil route with no error is the
// gateway's own GET /v1/models.
func (g *Gateway) match(r *http.Request) (*route, *gateError) {
	if r.URL.Path == "/v1/models" {
		if r.Method != http.MethodGet {
			return nil, methodNotAllowed(r, http.MethodGet)
		}
		return nil, nil
	}
	// ServeMux matches and sets r's path values; the hit records which
	// route matched. Unclean paths were refused before, so ServeMux has no
	// reason to redirect.
	hit := routeHits.Get().(*routeHit)
	*hit = routeHit{}
	g.mux.ServeHTTP(hit, r)
	found, rt, allow := hit.found, hit.rt, hit.allow
	routeHits.Put(hit)
	switch {
	case !found:
		return nil, refuse(http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path)
	case rt == nil:
		return nil, methodNotAllowed(r, allow)
	}
	return rt, nil
}

func methodNotAllowed(r *http.Request, allow string) *gateError {
	e := refuse(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
	e.allow = allow
	return e
}

// authenticate verifies the request's one credential.
func (g *Gateway) authenticate(r *http.Request, req *request) *gateError {
	text, e := credential(r)
	if e != nil {
		return e
	}
	v, err := g.verifier.Verify(r.Context(), text, apikey.ClassData, req.client)
	if err != nil {
		var ve *apikey.VerifyError
		if errors.As(err, &ve) {
			req.keyID = ve.ID
		}
		return authError(err)
	}
	req.keyID, req.verified = v.Key.ID, v
	g.used.Mark(v.Key.ID, req.start)
	return nil
}

// readBody reads the whole body, capped. The body is parsed as a whole and
// forwarded from memory.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *gateError) {
	if r.Body == nil || r.Method == http.MethodGet {
		return nil, nil
	}
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && (len(ce) > 1 || !strings.EqualFold(ce[0], "identity")) {
		// The body is parsed and forwarded as it arrives; a compressed one
		// would be neither parsed nor decompressed (no bombs), and a
		// plain one labelled compressed would be read one way here and
		// another upstream.
		return nil, refuse(http.StatusUnsupportedMediaType, "unsupported_media_type", "compressed request bodies (Content-Encoding) are not accepted")
	}
	if r.ContentLength > g.maxBody {
		return nil, errTooLarge() // declared: refused before waiting for it
	}
	deadline := g.bodyTimeout > 0 && setReadDeadline(w, time.Now().Add(g.bodyTimeout)) == nil
	b, err := readAll(http.MaxBytesReader(w, r.Body, g.maxBody), r.ContentLength)
	if deadline && err == nil {
		// The deadline is for the body only: the response, a stream
		// perhaps, is not bounded. Clearing it also clears the server's
		// background read, which would cancel the request when it
		// expires. After a failed read it stays, so the server's attempt
		// to drain the rest of the body cannot block.
		setReadDeadline(w, time.Time{})
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return nil, errTooLarge()
	case errors.As(err, &ne) && ne.Timeout():
		w.Header().Set("Connection", "close")
		return nil, refuse(http.StatusRequestTimeout, "request_timeout", "the request body did not arrive in time")
	case err != nil:
		return nil, refuse(http.StatusBadRequest, "invalid_request", "the request body could not be read")
	}
	return b, nil
}

func errTooLarge() *gateError {
	return refuse(http.StatusRequestEntityTooLarge, "request_too_large", "the request body is larger than the gateway's limit")
}

// setReadDeadline sets the read deadline of w's connection. It calls the
// server's writer directly when it can: http.NewResponseController
// allocates, and this runs twice a request.
func setReadDeadline(w http.ResponseWriter, t time.Time) error {
	if d, ok := w.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return http.NewResponseController(w).SetReadDeadline(t)
}

// maxBodyHint caps the buffer readAll makes before the body arrives: a
// client declaring a large Content-Length gets no large buffer until it
// sends the bytes.
const maxBodyHint = 64 << 10

// readAll is io.ReadAll with its first buffer sized for a declared body
// of n bytes (n < 0: not declared), so that a body up to maxBodyHint is
// read into one allocation of the right size rather than grown.
func readAll(r io.Reader, n int64) ([]byte, error) {
	size := 512
	if n >= 0 {
		size = int(min(n, maxBodyHint)) + 1 // +1: room for the read that finds EOF
	}
	b := make([]byte, 0, size)
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow as append does
		}
	}
}

// overloaded answers a request beyond proxy.max_in_flight. It does no
// other work, not even an audit event: shedding load must stay cheap, and
// no key was checked, so there is no decision to record.
func (g *Gateway) overloaded(w http.ResponseWriter, r *http.Request) {
	g.metrics.Request("", "", decisionDeny, "overloaded", http.StatusServiceUnavailable)
	w.Header().Set("Connection", "close")
	writeError(w, apiFor(r), &gateError{status: http.StatusServiceUnavailable, reason: "overloaded",
		msg: "the gateway is handling too many requests; try again shortly", retryAfter: time.Second})
}

// deny records a refusal and answers it.
func (g *Gateway) deny(ctx context.Context, w http.ResponseWriter, req *request, e *gateError) {
	lvl := slog.LevelInfo
	if e.status >= 500 {
		lvl = slog.LevelError
	}
	g.logger.Log(ctx, lvl, "denied", logRequestID, req.id, logKeyID, req.keyID, logReason, e.reason,
		logStatus, e.status, logPath, req.path, logEndpoint, req.endpoint, logRemote, req.client.String(), logErr, e.err)
	// A stalled disk must not hold the refusal: the deny event gets the same
	// deadline as an allow event, and the answer goes out either way.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.auditTimeout)
	defer cancel()
	if err := g.auditor.Authz(actx, g.authzEvent(req, decisionDeny, e.reason, e.status, e.requiredScope)); err != nil {
		g.logger.ErrorContext(ctx, "record deny event", logRequestID, req.id, logErr, err)
	}
	writeError(w, req.api, e)
	g.metrics.Request(req.decision.Feature, req.endpoint, decisionDeny, e.reason, e.status)
	g.metrics.Latency(req.decision.Feature, decisionDeny, time.Since(req.began), 0, 0)
}

func (g *Gateway) authzEvent(req *request, decision, reason string, status int, sc string) audit.Authz {
	p := req.verified.Principal
	if sc == "" && !req.decision.Scope.IsZero() {
		sc = req.decision.Scope.String()
	}
	return audit.Authz{RequestID: req.id, KeyID: string(req.keyID), Principal: g.privacy.Principal(string(p.ID)), Team: p.Team,
		Feature: req.decision.Feature, Scope: sc, Endpoint: req.endpoint, Resource: req.decision.Resource,
		ClientIP: g.privacy.ClientIP(req.client), Decision: decision, Reason: reason, Status: status,
	}
}

// apiFor guesses the API a client speaks before routing, so even a 404
// is shaped for its SDK: Anthropic clients send x-api-key or
// anthropic-version.
func apiFor(r *http.Request) provider.API {
	if r.URL.Path == "/v1/messages" || r.Header.Get("Anthropic-Version") != "" || r.Header.Get("X-Api-Key") != "" {
		return provider.APIAnthropic
	}
	return provider.APIOpenAI
}

// clientAddr is the peer address. Forwarded headers are not trusted until
// the operator declares trusted proxies (a later milestone).
func clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
