package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/config"
)

// upstream is a provider the gateway forwards to, with its credential and
// its own reverse proxy and connection pool.
type upstream struct {
	name       string
	kind       string
	base       *url.URL
	apiKey     config.Secret
	authHeader string
	query      string // fixed, from config; never the client's
	testKeys   bool
	proxy      *httputil.ReverseProxy
	// auth is the header that carries the upstream's credential, made
	// once; nil when the upstream has none.
	auth *authHeader
}

// authHeader is an upstream's credential header, name and value. The
// upstream holds it behind a pointer so that fmt, printing an upstream,
// shows an address rather than the credential (as apikey.Secret does).
type authHeader struct {
	name  string
	value []string
}

// setAuth makes the credential header of u.
func (u *upstream) setAuth() {
	key := u.apiKey.Reveal()
	switch {
	case key == "":
	case u.authHeader == "x-api-key":
		u.auth = &authHeader{name: "X-Api-Key", value: []string{key}}
	case u.authHeader == "api-key":
		u.auth = &authHeader{name: "Api-Key", value: []string{key}}
	default:
		u.auth = &authHeader{name: "Authorization", value: []string{"Bearer " + key}}
	}
}

// buildUpstreams makes an upstream for each configured one. A mock
// upstream without a base URL is served by the in-process mock at mockURL.
func buildUpstreams(cfg *config.Config, mockURL string, transport http.RoundTripper, g *Gateway) (map[string]*upstream, error) {
	out := map[string]*upstream{}
	for _, name := range sortedNames(cfg.Upstreams) {
		c := cfg.Upstreams[name]
		base := c.BaseURL
		if base == "" && c.Kind == config.KindMock {
			base = mockURL
		}
		if base == "" {
			return nil, fmt.Errorf("upstream %s: no base_url (and no in-process mock)", name)
		}
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", name, err)
		}
		q := url.Values{}
		for k, v := range c.Query {
			q.Set(k, v)
		}
		up := &upstream{name: name, kind: c.Kind, base: u, apiKey: c.APIKey, authHeader: c.AuthHeader,
			query: q.Encode(), testKeys: c.TestKeys}
		up.setAuth()
		rt := transport
		if rt == nil {
			rt = newTransport(time.Duration(c.Timeout))
		}
		up.proxy = &httputil.ReverseProxy{
			Rewrite:        g.rewrite(up),
			Transport:      rt,
			ModifyResponse: g.modifyResponse(up),
			ErrorHandler:   g.proxyError,
			ErrorLog:       slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
			// Streams (text/event-stream, or a body of unknown length)
			// are flushed at every write by ReverseProxy itself, whatever
			// this says: SSE events reach the client as they come. Other
			// answers are flushed once, when the body ends and before the
			// usage event is written (meteredBody.Close), so a small
			// answer still reaches the client first. A negative interval
			// would flush every answer at every write, at the price of a
			// timer, its goroutine and four allocations per request.
			FlushInterval: 0,
			// Without a pool ReverseProxy allocates a 32 KiB copy buffer
			// per request: most of the bytes the request path allocates.
			BufferPool: g.copyBuffers,
		}
		out[name] = up
	}
	return out, nil
}

// newTransport returns the connection pool for one upstream. It uses no
// proxy from the environment (the upstream is what the config says, not
// what a stray HTTPS_PROXY says), never follows redirects (ReverseProxy
// does not), and bounds the wait for response headers.
func newTransport(headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// HTTP/2 when the provider offers it over TLS (OpenAI and
		// Anthropic do): one connection carries many calls, so a burst
		// does not open (and TLS-handshake) a connection per call. Plain
		// http:// upstreams stay on HTTP/1.1.
		ForceAttemptHTTP2: true,
		// Idle connections kept for reuse. Model calls last seconds to
		// minutes, so under load many are open to one host at once; with
		// the default of 2 per host, every call beyond two that ends would
		// close its connection and the next would dial (and handshake)
		// again. 1024 per host matches the default proxy.max_in_flight, so
		// a full gateway's connections can all be reused; 2048 in all
		// covers a second busy upstream.
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		// 16 KiB buffers (default 4 KiB): request bodies with long
		// prompts are written, and responses read, in fewer system calls.
		// They are per connection, not per request: 32 KiB for each of up
		// to 1024 pooled connections is 32 MiB at most.
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
		// The gateway reads usage from every response body, so it must
		// see bodies as they are: rewrite removes the client's
		// Accept-Encoding, and the transport then asks for gzip and
		// decompresses transparently (DisableCompression stays false).
		// Turning it on would make upstreams send identity, at the cost
		// of bandwidth, for no saving here: the gateway must decompress
		// to meter either way.
	}
}

// copyBuffers is a pool of ReverseProxy's copy buffers (httputil.BufferPool).
// It holds pointers to arrays, so that neither Get nor Put allocates.
type copyBuffers struct{ pool sync.Pool }

// copyBufferSize is ReverseProxy's own default.
const copyBufferSize = 32 << 10

func (p *copyBuffers) Get() []byte {
	if b, ok := p.pool.Get().(*[copyBufferSize]byte); ok {
		return b[:]
	}
	return new([copyBufferSize]byte)[:]
}

func (p *copyBuffers) Put(b []byte) {
	if cap(b) == copyBufferSize {
		p.pool.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
}
