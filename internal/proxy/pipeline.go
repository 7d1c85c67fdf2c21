package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/scopegate/scopegate/internal/policy"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// forward reserves the request's limits, makes the allow event durable,
// and hands the canonical request to the granting feature's upstream.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, req *request, rt *route, p *parsed, d policy.Decision) *gateError {
	up := rt.upstreams[d.Feature]
	lr := LimitRequest{Key: &req.verified.Key, Principal: &req.verified.Principal, Feature: d.Feature, Resource: d.Resource, RequestID: req.id}
	if p.req != nil && rt.api != provider.APIHTTP {
		// Model calls report their token usage; custom routes do not, so
		// token and cost limits do not apply to them.
		lr.Metered, lr.InputTokens, lr.MaxOutputTokens, lr.Choices = true, p.req.InputTokens, p.req.MaxOutputTokens, p.req.Choices
		lr.NoOutput = rt.endpoint == "embeddings"
	}
	res, err := g.limiter.Reserve(r.Context(), lr)
	if err != nil {
		e := limitError(err, g.now())
		g.countRefusal(err, e.reason)
		return e
	}
	actx, cancel := context.WithTimeout(r.Context(), g.auditTimeout)
	err = g.auditor.Authz(actx, g.authzEvent(req, decisionAllow, string(policy.ReasonAllowed), 0, ""))
	cancel()
	if err != nil {
		res.Settle(context.WithoutCancel(r.Context()), provider.Usage{Known: true}) // never forwarded: nothing used
		return &gateError{status: http.StatusServiceUnavailable, reason: "audit_unavailable",
			msg: "the gateway cannot record this request, so it is not forwarded; try again shortly", err: err}
	}
	body := []byte(nil)
	if p.req != nil {
		// The output cap the limits reserved is forwarded, so the upstream
		// cannot produce more than was reserved.
		body = p.req.CanonicalCapped(d.Resource, res.OutputCap())
		if rt.custom && rt.dataset.name != "" {
			body = p.req.Canonical(p.req.Model) // datasets are not rewritten; the model field, if any, stays
		}
	}
	target := rt.targets[d.Feature] // made once for routes without path parameters
	if target == nil {
		pathValue := r.PathValue
		if p.datasetParam != "" {
			pathValue = func(name string) string {
				if name == p.datasetParam {
					return d.Resource
				}
				return r.PathValue(name)
			}
		}
		target = newURLTarget(rt.upstreamURL(up, pathValue))
	}
	c := &call{requestID: req.id, key: &req.verified.Key, rt: rt, feature: d.Feature, body: body,
		start: req.start, began: req.began, res: res, target: target,
		principal: &req.verified.Principal, model: d.Resource}
	if p.req != nil {
		c.inputEstimate, c.stripUsage = p.req.InputTokens, p.req.InjectsStreamUsage()
	}
	ctx, fw := context.WithValue(r.Context(), callKey{}, c), w
	if g.responseIdle > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		// The watch and its writer live in the call: no allocation of
		// their own on the hot path.
		c.idle = idleWatch{d: g.responseIdle, cancel: cancel, w: w}
		defer c.idle.stop()
		c.idleWriter = idleWriter{ResponseWriter: w, watch: &c.idle}
		fw = &c.idleWriter
	}
	c.out = fw
	up.proxy.ServeHTTP(fw, r.WithContext(ctx))
	return nil
}

// limitError maps a Limiter's error at now to its refusal: 429 for a
// limit that refused, 503 for a limit that cannot be checked (fail
// closed).
func limitError(err error, now time.Time) *gateError {
	if le, ok := errors.AsType[LimitExceeded](err); ok {
		reason, after := le.LimitExceeded()
		e := &gateError{status: http.StatusTooManyRequests, reason: reason, msg: le.Error(), retryAfter: after}
		if ee, ok := errors.AsType[*ratelimit.ExceededError](err); ok {
			e.refusedBy, e.refusedAt = ee, now
		}
		return e
	}
	if ue, ok := errors.AsType[*UnpricedError](err); ok {
		return &gateError{status: http.StatusServiceUnavailable, reason: "limit_unpriced", msg: ue.Error(), err: err}
	}
	return &gateError{status: http.StatusServiceUnavailable, reason: "limiter_unavailable",
		msg: "the gateway cannot check limits right now; try again shortly", retryAfter: time.Second, err: err}
}
