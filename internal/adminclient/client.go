package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxAnswer caps how much of an answer the client reads, so a broken or
// hostile server cannot exhaust memory.
const maxAnswer = 32 << 20

// attempts is how often a retry-safe request is tried in all.
const attempts = 3

// Client calls the admin API of one scopegate server with one admin key. It
// holds no mutable state and is safe for concurrent use.
type Client struct {
	base     string // scheme://host[/prefix], no trailing slash
	loopback bool
	adminKey string
	hc       *http.Client
	// backoff is the wait before retry n (1-based); tests shorten it.
	backoff func(n int) time.Duration
}

// New returns a client for the admin API at baseURL, which is either a URL
// ("http://127.0.0.1:8081", "https://admin.example.com/prefix") or a bare
// host and port ("127.0.0.1:8081", meaning http). adminKey is the admin
// ("sga_") key to authenticate with. hc is the HTTP client to use (nil for a
// new one with a 30s timeout); the client works on a copy of it that refuses
// redirects.
func New(baseURL, adminKey string, hc *http.Client) (*Client, error) {
	base, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	adminKey = strings.TrimSpace(adminKey) // keys pasted from files often end in a newline
	if adminKey == "" {
		return nil, errors.New("no admin key given")
	}
	if strings.ContainsFunc(adminKey, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		// Don't echo it: it is a credential even when it is malformed.
		return nil, errors.New("admin key contains spaces or non-printable characters")
	}
	c := &Client{base: strings.TrimSuffix(base.String(), "/"), loopback: isLoopback(base.Hostname()),
		adminKey: adminKey, backoff: defaultBackoff}
	if hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	} else {
		copied := *hc
		c.hc = &copied
	}
	// The admin API never redirects; following one could hand the key to
	// whatever answered.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// parseBase accepts "host:port" or a http(s) URL without user info, query
// or fragment.
func parseBase(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no admin API address given")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("admin API address %q is not a URL or host:port", s)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("admin API address: scheme %q is not http or https", u.Scheme)
	case u.User != nil:
		// Not echoed: it may hold a password.
		return nil, errors.New("admin API address must not contain user info; pass the admin key separately")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("admin API address %q must not have a query or fragment", s)
	case u.Host == "":
		return nil, fmt.Errorf("admin API address %q has no host", s)
	}
	if u.Hostname() == "" {
		// ":8081", as listen addresses are written, means this machine.
		u.Host = "127.0.0.1" + u.Host
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Cleartext reports whether the admin key would travel unencrypted over the
// network: plain http to a host other than this machine. The CLI warns
// about it.
func (c *Client) Cleartext() bool {
	return strings.HasPrefix(c.base, "http://") && !c.loopback
}

// defaultBackoff waits 100ms, then 400ms: enough for a blip or a server
// restarting behind a load balancer, short enough for a person waiting.
func defaultBackoff(n int) time.Duration { return time.Duration(n*n) * 100 * time.Millisecond }

// request is one call to the API.
type request struct {
	method string
	path   string // under /admin/v1, already escaped
	query  url.Values
	body   any // encoded as JSON when not nil
	// idempotencyKey, when set, is sent as the Idempotency-Key header and
	// makes a write safe to retry.
	idempotencyKey string
	// readOnly marks a POST that changes nothing on the server, such as
	// explain: like a GET, it is safe to retry.
	readOnly bool
}

// retrySafe reports whether sending r twice has the effect of sending it
// once.
func (r *request) retrySafe() bool {
	return r.method == http.MethodGet || r.readOnly || r.idempotencyKey != ""
}

// do sends r and decodes a 2xx answer into out. Other answers become an
// *APIError.
func (c *Client) do(ctx context.Context, r request, out any) error {
	body, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", r.method, r.path, err)
	}
	return nil
}

// send sends r, retrying when that is safe, and returns the body of a 2xx
// answer.
func (c *Client) send(ctx context.Context, r request) ([]byte, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", r.method, r.path, err)
		}
	}
	for n := 1; ; n++ {
		status, body, err := c.once(ctx, r, payload)
		if n == attempts || !r.retrySafe() || !transient(status, err) || ctx.Err() != nil {
			if err != nil {
				return nil, err
			}
			if status/100 != 2 {
				return nil, c.apiError(status, body)
			}
			return body, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.backoff(n)):
		}
	}
}

// transient reports whether an attempt failed in a way that another
// attempt might not: a broken connection or an overloaded server.
func transient(status int, err error) bool {
	if err != nil {
		return true
	}
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// once makes a single attempt and returns the status and body.
func (c *Client) once(ctx context.Context, r request, payload []byte) (int, []byte, error) {
	u := c.base + "/admin/v1" + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.adminKey)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.idempotencyKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error names the method and URL; neither holds the key.
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", r.method, r.path, err)
	}
	if len(b) > maxAnswer {
		return 0, nil, fmt.Errorf("%s %s: answer larger than %d bytes", r.method, r.path, maxAnswer)
	}
	return resp.StatusCode, b, nil
}
