package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hostile input through the real listener of "scopegate serve" (issue 8):
// every request is written byte for byte on a TCP connection, so request
// lines and headers that Go's client would normalize or refuse reach the
// server as an attacker would send them. internal/proxy/hostile_test.go
// covers the gateway's own refusals in depth; this suite checks that the
// server in front of it, with its real settings, answers the same way.

// hostileRequest is one request sent as written, and what must happen.
type hostileRequest struct {
	name string
	// raw, if set, is sent as is; otherwise the request is built from
	// method (default POST), target (default /v1/chat/completions),
	// header lines and body, with Host and, unless a header frames the
	// body, Content-Length.
	raw    string
	method string
	target string
	header []string
	body   string
	admin  bool // send to the admin listener

	status int
	// code is the JSON error's code; "" when the answer is not the
	// gateway's JSON (Go's server refused the request itself).
	code string
	// forwarded is how many requests the upstream must receive: 1 only
	// for requests that are legitimate.
	forwarded int
}

// build returns the request's bytes.
func (h hostileRequest) build() string {
	if h.raw != "" {
		return h.raw
	}
	method, target := h.method, h.target
	if method == "" {
		method = http.MethodPost
	}
	if target == "" {
		target = "/v1/chat/completions"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gateway\r\n", method, target)
	framed := false
	for _, l := range h.header {
		b.WriteString(l + "\r\n")
		name, _, _ := strings.Cut(l, ":")
		framed = framed || strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding")
	}
	if !framed {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(h.body))
	}
	b.WriteString("Connection: close\r\n\r\n" + h.body)
	return b.String()
}

// sendRaw writes req on a new connection to addr and reads one response.
func sendRaw(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The server may answer before the whole request is sent (a
	// declared body over the cap) and close: write while reading.
	wrote := make(chan error, 1)
	go func() { _, err := io.WriteString(conn, req); wrote <- err }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v (write: %v)", err, <-wrote)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// hostileGateway is a gateway in front of a ledger upstream that counts
// what reaches it, with a data key for feature chat and a limited one.
type hostileGateway struct {
	*gateway
	up               *ledgerUpstream
	dataKey, limited string
}

func startHostile(t *testing.T, extra string) *hostileGateway {
	t.Helper()
	up := newLedgerUpstream(t)
	g := startServe(t, ledgerFeatures(up.URL)+extra, nil)
	h := &hostileGateway{gateway: g, up: up, dataKey: createChatKey(g, g.info.AdminKey)}
	h.limited = g.createKey(g.info.AdminKey, map[string]any{"principal": "app", "scopes": []string{"chat"},
		"limits": map[string]any{"tokens_per_minute": 1000}}).Key
	return h
}

// alive checks that serve is still running and answers /healthz.
func (h *hostileGateway) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err
		t.Fatalf("serve exited: %v\n%s", err, h.logs)
	default:
	}
	resp, _ := sendRaw(t, h.info.AdminAddr, "GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
}

// verifyAudit stops the gateway and runs "scopegate audit verify" on its
// data directory.
func (h *hostileGateway) verifyAudit(t *testing.T) {
	t.Helper()
	h.stop()
	var out, errOut bytes.Buffer
	vkey := filepath.Join(h.dataDir, "audit", "verifier.key")
	err := run(t.Context(), []string{"scopegate", "audit", "verify", "--vkey", "@" + vkey, h.dataDir},
		func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if err != nil || !strings.HasPrefix(out.String(), "ok: ") {
		t.Errorf("scopegate audit verify = %v\n%s%s", err, out.String(), errOut.String())
	}
}

func gzipped(t *testing.T, s string, n int) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	zw.Write(make([]byte, n))
	zw.Close()
	return b.String()
}

func TestHostileListener(t *testing.T) {
	h := startHostile(t, "proxy: {body_timeout: 1s}\n")
	key, admin := h.dataKey, h.info.AdminKey
	bearer := "Authorization: Bearer " + key
	other := h.createKey(admin, map[string]any{"principal": "app", "scopes": []string{"chat"}}).Key
	const ok = chatBody
	chunk := func(s string) string { return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(s), s) }
	inputs := `{"model":"gpt-4o-mini","messages":[` + strings.Repeat(`{"role":"user","content":"x"},`, 200_000) + `{"role":"user","content":"x"}]}`

	tests := []hostileRequest{
		{name: "OK", header: []string{bearer}, body: ok, status: 200, forwarded: 1},

		// Credentials.
		{name: "MissingKey", body: ok, status: 401, code: "missing_key"},
		{name: "EmptyBearer", header: []string{"Authorization: Bearer "}, body: ok, status: 400, code: "invalid_request"},
		{name: "EmptyAuthorization", header: []string{"Authorization:"}, body: ok, status: 400, code: "invalid_request"},
		{name: "EmptyXApiKey", header: []string{"X-Api-Key:"}, body: ok, status: 400, code: "invalid_request"},
		{name: "Duplicated", header: []string{bearer, bearer}, body: ok, status: 400, code: "invalid_request"},
		{name: "DuplicatedXApiKey", header: []string{"X-Api-Key: " + key, "X-Api-Key: " + key}, body: ok, status: 400, code: "invalid_request"},
		{name: "Conflicting", header: []string{bearer, "X-Api-Key: " + other}, body: ok, status: 400, code: "invalid_request"},
		{name: "ConflictingBearers", header: []string{bearer, "Authorization: Bearer " + other}, body: ok, status: 400, code: "invalid_request"},
		{name: "Oversized", header: []string{"Authorization: Bearer " + key + strings.Repeat("A", 8<<10)}, body: ok, status: 401, code: "malformed_key"},
		{name: "OverMaxHeaderBytes", header: []string{"Authorization: Bearer " + strings.Repeat("A", 70<<10)}, body: ok, status: 431},
		{name: "InQueryString", target: "/v1/chat/completions?api_key=" + key, body: ok, status: 400, code: "invalid_request"},
		{name: "InQueryStringWithHeader", target: "/v1/chat/completions?api_key=" + other, header: []string{bearer}, body: ok, status: 400, code: "invalid_request"},
		{name: "ControlCharacter", header: []string{"Authorization: Bearer " + key[:10] + "\x01" + key[10:]}, body: ok, status: 400},
		{name: "NULInKey", header: []string{"Authorization: Bearer " + key + "\x00"}, body: ok, status: 400},
		{name: "TabPadded", header: []string{"Authorization: Bearer \t" + key}, body: ok, status: 400, code: "invalid_request"},
		{name: "AdminKeyOnDataPlane", header: []string{"Authorization: Bearer " + admin}, body: ok, status: 401, code: "wrong_key_class"},
		{name: "DataKeyOnAdminAPI", admin: true, method: "GET", target: "/admin/v1/keys", header: []string{bearer}, status: 401},

		// Request smuggling and header tricks.
		{name: "ContentLengthAndChunked", header: []string{bearer, "Content-Length: 4", "Transfer-Encoding: chunked"},
			body: chunk(ok), status: 200, forwarded: 1},
		{name: "ContentLengthTwice", header: []string{bearer, "Content-Length: 10", fmt.Sprintf("Content-Length: %d", len(ok))}, body: ok, status: 400},
		{name: "ContentLengthList", header: []string{bearer, fmt.Sprintf("Content-Length: %d, %d", len(ok), len(ok))}, body: ok, status: 400},
		{name: "BareLFInChunkSize", header: []string{bearer, "Transfer-Encoding: chunked"},
			body: fmt.Sprintf("%x\n%s\r\n0\r\n\r\n", len(ok), ok), status: 400, code: "invalid_request"},
		{name: "ChunkedTwice", header: []string{bearer, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}, body: chunk(ok), status: 501},
		{name: "AbsoluteForm", target: "http://169.254.169.254/v1/chat/completions", header: []string{bearer}, body: ok, status: 400, code: "invalid_path"},
		{name: "ConnectionNamesAuthorization", header: []string{bearer, "X-Api-Key: " + other, "Connection: X-Api-Key"}, body: ok, status: 400, code: "invalid_request"},
		{name: "UpgradeH2C", header: []string{bearer, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"}, body: ok,
			status: 400, code: "invalid_request"},
		{name: "H2CPriorKnowledge", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 400, code: "invalid_path"},
		{name: "SpoofedHostAndForwarded", header: []string{bearer, "X-Forwarded-For: 10.0.0.1", "X-Forwarded-Host: internal", "X-Forwarded-Proto: https",
			"Forwarded: for=10.0.0.1;host=internal", "X-Real-Ip: 10.0.0.1"}, body: ok, status: 200, forwarded: 1},
		{name: "SpoofedHost", raw: fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: 169.254.169.254\r\n%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", bearer, len(ok), ok),
			status: 200, forwarded: 1},
		{name: "HostTwice", raw: fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nHost: 169.254.169.254\r\n%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", bearer, len(ok), ok),
			status: 400},
		{name: "MethodOverride", method: "GET", header: []string{bearer, "X-HTTP-Method-Override: POST"}, status: 405, code: "method_not_allowed"},
		{name: "MethodOverrideOnPost", header: []string{bearer, "X-HTTP-Method-Override: DELETE", "X-Method-Override: DELETE"}, body: ok, status: 200, forwarded: 1},

		// Bodies.
		{name: "OversizedBody", header: []string{bearer}, body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", 11<<20) + `"}]}`,
			status: 413, code: "request_too_large"},
		{name: "OversizedDeclared", header: []string{bearer, "Content-Length: 1073741824"}, body: ok, status: 413, code: "request_too_large"},
		{name: "GzipBomb", header: []string{bearer, "Content-Encoding: gzip"}, body: gzipped(t, ok, 64<<20), status: 415, code: "unsupported_media_type"},
		{name: "GzipHeaderPlainBody", header: []string{bearer, "Content-Encoding: gzip"}, body: ok, status: 415, code: "unsupported_media_type"},
		{name: "DeeplyNested", header: []string{bearer}, body: `{"model":"gpt-4o-mini","x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`,
			status: 400, code: "invalid_request"},
		{name: "Truncated", header: []string{bearer, fmt.Sprintf("Content-Length: %d", len(ok)+10)}, body: ok, status: 408, code: "request_timeout"},
		{name: "TruncatedJSON", header: []string{bearer}, body: ok[:len(ok)-3], status: 400, code: "invalid_request"},
		{name: "InvalidUTF8", header: []string{bearer}, body: "{\"model\":\"gpt-4o-mini\",\"user\":\"\xff\"}", status: 400, code: "invalid_request"},
		{name: "ModelNumber", header: []string{bearer}, body: `{"model":4}`, status: 400, code: "invalid_request"},
		{name: "ModelObject", header: []string{bearer}, body: `{"model":{"id":"gpt-4o-mini"}}`, status: 400, code: "invalid_request"},
		{name: "HugeInputArray", header: []string{"Authorization: Bearer " + h.limited}, body: inputs, status: 429, code: "rate_limited"},
		{name: "MaxTokensAboveLimit", header: []string{"Authorization: Bearer " + h.limited}, body: `{"model":"gpt-4o-mini","max_tokens":100000,"messages":[]}`,
			status: 429, code: "rate_limited"},
		{name: "ChoicesAboveLimit", header: []string{"Authorization: Bearer " + h.limited}, body: `{"model":"gpt-4o-mini","n":100,"max_tokens":100,"messages":[]}`,
			status: 429, code: "rate_limited"},
		{name: "MaxTokensNegative", header: []string{bearer}, body: `{"model":"gpt-4o-mini","max_tokens":-1,"messages":[]}`, status: 400, code: "invalid_request"},
		{name: "MaxTokensHuge", header: []string{bearer}, body: `{"model":"gpt-4o-mini","max_tokens":1e300,"messages":[]}`, status: 400, code: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := h.up.received()
			addr := h.info.DataAddr
			if tt.admin {
				addr = h.info.AdminAddr
			}
			resp, body := sendRaw(t, addr, tt.build())
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d (body %.300s)", resp.StatusCode, tt.status, body)
			}
			if tt.code != "" {
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code {
					t.Errorf("error code = %q (%v), want %q (body %.300s)", e.Error.Code, err, tt.code, body)
				}
			}
			if strings.Contains(string(body), key[9:]) || strings.Contains(string(body), admin[9:]) {
				t.Errorf("the answer repeats a key's secret: %.300s", body)
			}
			after, _ := h.up.received()
			if n := after - before; n != tt.forwarded {
				t.Errorf("the upstream received %d requests, want %d", n, tt.forwarded)
			}
			h.alive(t)
		})
	}
	h.verifyAudit(t)
}
