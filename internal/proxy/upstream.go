package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
			// Flush every write: SSE events reach the client as they come,
			// and a small answer reaches it before the usage event is
			// written when the body ends, not after.
			FlushInterval: -1,
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
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
