package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Explanation is the decision the gateway would make for a request, and
// why, without forwarding it.
type Explanation struct {
	Allow bool
	// Stage is where the request stopped or "authorize" when allowed:
	// "authenticate", "route", "parse", "authorize".
	Stage  string
	Status int
	Reason string
	// Message is what the client would be told.
	Message       string
	Feature       string
	Scope         string
	RequiredScope string
	Resource      string
	Upstream      string
	UpstreamPath  string
}

// Explain runs the request path for key k of principal p up to the
// decision, without limits, audit or forwarding: what an operator needs
// to debug a denial. It uses the same functions as ServeHTTP, so what it
// says is what the gateway does. client may be the zero Addr, which skips
// the network check.
func (g *Gateway) Explain(ctx context.Context, k apikey.Key, p apikey.Principal, method, path string, body []byte, client netip.Addr) Explanation {
	stop := func(stage string, e *gateError) Explanation {
		return Explanation{Stage: stage, Status: e.status, Reason: e.reason, Message: e.msg, RequiredScope: e.requiredScope}
	}
	// The stages run in ServeHTTP's order (the target and route before the
	// key), so a request both misrouted and sent with a bad key is
	// explained by the refusal the gateway gives it.
	r, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return stop("route", refuse(http.StatusBadRequest, "invalid_path", "the method or path is not valid: "+err.Error()))
	}
	r.RequestURI = path
	if e := checkTarget(r); e != nil {
		return stop("route", e)
	}
	rt, e := g.match(r)
	if e != nil {
		return stop("route", e)
	}
	if e := g.checkKey(&k, &p, client); e != nil {
		return stop("authenticate", e)
	}
	if method == http.MethodGet {
		body = nil // ServeHTTP does not read GET bodies
	}
	if rt == nil {
		return Explanation{Allow: true, Stage: "authorize", Status: http.StatusOK, Reason: "allowed", Message: "GET /v1/models lists the models this key may use"}
	}
	if int64(len(body)) > g.maxBody {
		return stop("parse", refuse(http.StatusRequestEntityTooLarge, "request_too_large", "the request body is larger than the gateway's limit"))
	}
	parsed, e := g.parse(rt, body, r.PathValue)
	if e != nil {
		return stop("parse", e)
	}
	req := &request{verified: apikey.Verified{Key: k, Principal: p}}
	d, e := g.authorize(req, rt, parsed)
	if e != nil {
		x := stop("authorize", e)
		x.Feature, x.Resource = d.Feature, d.Resource
		return x
	}
	up := rt.upstreams[d.Feature]
	target := rt.upstreamURL(up, r.PathValue)
	return Explanation{Allow: true, Stage: "authorize", Status: http.StatusOK, Reason: string(d.Reason), Message: d.Message(),
		Feature: d.Feature, Scope: d.Scope.String(), Resource: d.Resource, Upstream: up.name, UpstreamPath: target.Path}
}

// checkKey repeats the state checks Verify makes on a key already found,
// for explain, which looks keys up by id and has no secret to check.
func (g *Gateway) checkKey(k *apikey.Key, p *apikey.Principal, client netip.Addr) *gateError {
	// Wrapped as Verify wraps them, so the messages are the data plane's.
	fail := func(err error) *gateError { return authError(&apikey.VerifyError{ID: k.ID, Err: err}) }
	if k.Class != apikey.ClassData {
		return fail(apikey.ErrWrongClass)
	}
	if err := k.Usable(g.now()); err != nil {
		return fail(err)
	}
	if client.IsValid() && !k.AllowsClient(client) {
		return fail(apikey.ErrClientNotAllowed)
	}
	if p.Status != apikey.PrincipalActive {
		return fail(apikey.ErrPrincipalDisabled)
	}
	return nil
}
