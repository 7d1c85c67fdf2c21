package proxy

import (
	"errors"
	"net/http"

	"github.com/scopegate/scopegate/internal/policy"
	"github.com/scopegate/scopegate/internal/provider"
)

// parsed is a request body understood: the strict parse, and the resource
// (model or dataset) as the client named it.
type parsed struct {
	req      *provider.Request
	resource string
	// datasetParam is set when the dataset came from a path parameter.
	datasetParam string
}

// parse parses the body strictly and finds the resource it asks for.
func (g *Gateway) parse(rt *route, body []byte, pathValue func(string) string) (*parsed, *gateError) {
	p := &parsed{}
	if len(body) > 0 || rt.api != provider.APIHTTP {
		req, err := provider.ParseRequest(rt.api, rt.endpoint, body)
		if err != nil {
			e := refuse(http.StatusBadRequest, "invalid_request", err.Error())
			var re *provider.RequestError
			if errors.As(err, &re) {
				e.param = re.Param
			}
			return nil, e
		}
		p.req = req
		p.resource = req.Model
	}
	if rt.custom {
		switch {
		case rt.dataset.name == "":
			// A custom route of models only: the model names the resource.
		case rt.dataset.fromPath:
			p.resource, p.datasetParam = pathValue(rt.dataset.name), rt.dataset.name
		case p.req != nil:
			v, ok := p.req.Field(rt.dataset.name)
			if !ok {
				e := refuse(http.StatusBadRequest, "invalid_request", "the request must name its dataset in the string field \""+rt.dataset.name+"\"")
				e.param = rt.dataset.name
				return nil, e
			}
			p.resource = v
		default:
			e := refuse(http.StatusBadRequest, "invalid_request", "the request must have a JSON body naming its dataset in \""+rt.dataset.name+"\"")
			e.param = rt.dataset.name
			return nil, e
		}
	}
	if p.resource == "" {
		return nil, refuse(http.StatusBadRequest, "invalid_request", "the request names no model or dataset")
	}
	return p, nil
}

// authorize runs the policy and maps a denial to its refusal.
func (g *Gateway) authorize(req *request, rt *route, p *parsed) (policy.Decision, *gateError) {
	var tools []string
	if p.req != nil {
		tools = p.req.Tools
	}
	k, pr := &req.verified.Key, &req.verified.Principal
	d := policy.Evaluate(k, pr, policy.Request{Candidates: rt.candidates, Resource: p.resource, Tools: tools})
	req.decision = d
	if d.Allow {
		return d, nil
	}
	return d, denial(d, rt)
}

// denial is the refusal for a policy decision.
func denial(d policy.Decision, rt *route) *gateError {
	e := &gateError{status: http.StatusForbidden, reason: string(d.Reason), msg: d.Message()}
	switch d.Reason {
	case policy.ReasonMissingScope:
		e.requiredScope = d.Scope.String()
	case policy.ReasonResourceNotServed:
		e.status = http.StatusNotFound
		e.reason = "model_not_found"
		e.param = "model"
		if rt.custom && rt.dataset.name != "" {
			e.reason, e.param = "dataset_not_found", rt.dataset.name
		}
	case policy.ReasonToolNotAllowed:
		e.param = "tools"
	}
	return e
}
