package proxy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/leak"
)

// The leak-response paths of the data plane (docs/leaks.md). They are
// served before the route table: a custom route cannot take them.
const (
	PathVerifyLeak     = "/v1/keys/verify-leak"
	PathRevokeLeaked   = "/v1/keys/revoke-leaked"
	PathGitHubScanning = "/v1/keys/github-secret-scanning"
)

// Leak-endpoint limits. A report or a scanner's check is small; the rates
// keep the endpoints from being used to test keys at speed.
const (
	leakMaxBody = 64 << 10
	// verifyRate and verifyBurst bound POST /v1/keys/verify-leak for all
	// callers together.
	verifyRate, verifyBurst = 10, 20
	// reportRate and reportBurst bound POST /v1/keys/revoke-leaked per
	// client address.
	reportRate, reportBurst = 1, 10
	// githubRate and githubBurst bound the GitHub endpoint before its
	// signature is checked.
	githubRate, githubBurst = 10, 50
	// githubMaxBatch caps the tokens of one GitHub report.
	githubMaxBatch = 1000
)

// LeakResponder answers leak reports; *leak.Responder is one.
type LeakResponder interface {
	Live(ctx context.Context, text string) (bool, error)
	Report(ctx context.Context, text string, rep apikey.Report) (leak.Outcome, error)
}

// LeakConfig holds the leak endpoints' dependencies.
type LeakConfig struct {
	Logger    *slog.Logger
	Responder LeakResponder
	// VerifyToken is the bearer token of POST /v1/keys/verify-leak; empty
	// turns that endpoint off.
	VerifyToken string
	// GitHub holds GitHub's signing keys; nil or empty turns the GitHub
	// endpoint off.
	GitHub *leak.GitHubKeys
	// Privacy says how the reporter's address is recorded.
	Privacy audit.Privacy
	// Next serves every other request: the Gateway.
	Next http.Handler
	// Now is the rate limits' clock (default time.Now).
	Now func() time.Time
}

// LeakHandler serves the leak-response endpoints and passes every other
// request on.
type LeakHandler struct {
	cfg     LeakConfig
	logger  *slog.Logger
	verify  *leak.Bucket
	reports *leak.Buckets
	github  *leak.Bucket
}

// NewLeakHandler returns the leak endpoints in front of cfg.Next (the
// Gateway).
func NewLeakHandler(cfg LeakConfig) *LeakHandler {
	h := &LeakHandler{cfg: cfg, logger: cfg.Logger, verify: leak.NewBucket(verifyRate, verifyBurst, cfg.Now),
		reports: leak.NewBuckets(reportRate, reportBurst, cfg.Now), github: leak.NewBucket(githubRate, githubBurst, cfg.Now)}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	return h
}

// ServeHTTP implements http.Handler. Only the exact leak paths are
// served here; everything else, unclean paths included, goes to the
// gateway, which refuses what it must.
func (h *LeakHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve http.HandlerFunc
	switch {
	case r.URL.Path == PathRevokeLeaked:
		serve = h.revokeLeaked
	case r.URL.Path == PathVerifyLeak && h.cfg.VerifyToken != "":
		serve = h.verifyLeak
	case r.URL.Path == PathGitHubScanning && h.cfg.GitHub != nil && h.cfg.GitHub.Len() > 0:
		serve = h.githubReport
	default:
		h.cfg.Next.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		leakRefusal(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	serve(w, r)
}

// tooManyLeakCalls answers a leak endpoint's rate limit: 429, try again
// in a second.
func tooManyLeakCalls(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	leakRefusal(w, http.StatusTooManyRequests, msg)
}

func writeLeakJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func leakRefusal(w http.ResponseWriter, status int, msg string) {
	writeLeakJSON(w, status, map[string]string{"error": msg})
}

// readLeakBody reads a capped body; ok is false if it was answered.
func readLeakBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, leakMaxBody))
	if err != nil {
		leakRefusal(w, http.StatusRequestEntityTooLarge, "body too large or unreadable")
		return nil, false
	}
	return b, true
}

// keyText finds the key in a body: {"key": "..."}, TruffleHog's
// {"<detector>": {"<regex>": ["..."]}}, or the key as plain text.
func keyText(body []byte) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return strings.TrimSpace(string(body))
	}
	var s string
	if json.Unmarshal(obj["key"], &s) == nil {
		return s
	}
	for _, v := range obj {
		var groups map[string][]string
		if json.Unmarshal(v, &groups) != nil {
			continue
		}
		for _, ms := range groups {
			for _, m := range ms {
				if strings.HasPrefix(m, string(apikey.ClassData)+"_") || strings.HasPrefix(m, string(apikey.ClassAdmin)+"_") {
					return m
				}
			}
		}
	}
	return ""
}

// verifyLeak answers a secret scanner: 200 {"live": true} for a key that
// would be accepted now, 404 {"live": false} for anything else (TruffleHog
// counts only a 200 as verified). It never says why.
func (h *LeakHandler) verifyLeak(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.VerifyToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scopegate-leaks"`)
		leakRefusal(w, http.StatusUnauthorized, "a verify token is required")
		return
	}
	if !h.verify.Allow() {
		tooManyLeakCalls(w, "too many checks")
		return
	}
	body, ok := readLeakBody(w, r)
	if !ok {
		return
	}
	live, err := h.cfg.Responder.Live(r.Context(), keyText(body))
	if err != nil {
		h.logger.ErrorContext(r.Context(), "leak check failed", logErr, err)
		leakRefusal(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	status := http.StatusOK
	if !live {
		status = http.StatusNotFound
	}
	writeLeakJSON(w, status, map[string]bool{"live": live})
}

// revokeLeaked takes a key anyone found and kills it. It answers 202 with
// the same body whatever the key's state, before doing the work, so
// neither the answer nor its timing says whether the key was live.
func (h *LeakHandler) revokeLeaked(w http.ResponseWriter, r *http.Request) {
	client := clientAddr(r)
	if !h.reports.Allow(client.String()) {
		tooManyLeakCalls(w, "too many reports from this address")
		return
	}
	body, ok := readLeakBody(w, r)
	if !ok {
		return
	}
	text := keyText(body)
	writeLeakJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	ctx := context.WithoutCancel(r.Context())
	rep := apikey.Report{From: h.cfg.Privacy.ClientIP(client), Via: "revoke-leaked"}
	if _, err := h.cfg.Responder.Report(ctx, text, rep); err != nil {
		h.logger.ErrorContext(ctx, "leak report not handled", logRemote, client.String(), logErr, err)
	}
}

// githubToken is one entry of a GitHub secret-scanning report.
type githubToken struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// githubLabel is one entry of the answer GitHub expects.
type githubLabel struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// githubReport takes a signed batch of tokens GitHub found in public
// content, revokes each live one and labels each: true_positive for a
// key of ours (revoked now or before), false_positive for anything else.
func (h *LeakHandler) githubReport(w http.ResponseWriter, r *http.Request) {
	if !h.github.Allow() {
		tooManyLeakCalls(w, "too many reports")
		return
	}
	body, ok := readLeakBody(w, r)
	if !ok {
		return
	}
	err := h.cfg.GitHub.Verify(r.Header.Get("Github-Public-Key-Identifier"), r.Header.Get("Github-Public-Key-Signature"), body)
	if err != nil {
		leakRefusal(w, http.StatusUnauthorized, "signature does not verify")
		return
	}
	var batch []githubToken
	if err := json.Unmarshal(body, &batch); err != nil || len(batch) > githubMaxBatch {
		leakRefusal(w, http.StatusBadRequest, "body is not a JSON array of at most 1000 tokens")
		return
	}
	ctx := r.Context()
	from := h.cfg.Privacy.ClientIP(clientAddr(r))
	out := make([]githubLabel, 0, len(batch))
	for _, t := range batch {
		rep := apikey.Report{From: from, Via: "github-secret-scanning", URL: t.URL}
		o, err := h.cfg.Responder.Report(ctx, t.Token, rep)
		if err != nil {
			h.logger.ErrorContext(ctx, "github leak report failed", logErr, err)
			leakRefusal(w, http.StatusServiceUnavailable, "try again later")
			return
		}
		label := "false_positive"
		if o != leak.NotAKey {
			label = "true_positive"
		}
		out = append(out, githubLabel{TokenHash: leak.TokenHash(t.Token), TokenType: t.Type, Label: label})
	}
	writeLeakJSON(w, http.StatusOK, out)
}

var _ LeakResponder = (*leak.Responder)(nil)
