package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/policy"
	"github.com/scopegate/scopegate/internal/provider"
)

// route is one method and path of the data plane, with the features that
// serve it. Several features may share a route (chat completions for two
// model families); the one that grants the request decides the upstream.
type route struct {
	method, path string
	api          provider.API
	// endpoint is the named endpoint ("chat.completions") or "METHOD path"
	// for a custom route; it is what the audit log records.
	endpoint string
	// upstreamPath is appended to the upstream's base URL for named
	// endpoints; custom routes forward their own (substituted) path.
	upstreamPath string
	custom       bool
	// dataset says where a custom route's request names its dataset.
	dataset    datasetSource
	candidates []*policy.Feature
	upstreams  map[string]*upstream // by feature name
	// targets are where the route's calls go, by feature name, for
	// routes whose upstream path has no parameters to fill: made once,
	// not per request.
	targets map[string]*urlTarget
}

// datasetSource is "body.<field>" or "path.<param>" parsed.
type datasetSource struct {
	fromPath bool
	name     string
}

// table is the route table built once from the configuration.
type table struct {
	routes   map[string]*route // by "METHOD path"
	features []*policy.Feature // every feature, for /v1/models
	byName   map[string]*policy.Feature
	upstream map[string]*upstream // by feature name
}

// buildTable turns the configuration into routes, policy features and
// upstreams. Everything the request path needs is decided here, once.
func buildTable(cfg *config.Config, ups map[string]*upstream) (*table, error) {
	t := &table{routes: map[string]*route{}, byName: map[string]*policy.Feature{}, upstream: map[string]*upstream{}}
	for _, name := range sortedNames(cfg.Features) {
		f := cfg.Features[name]
		pf := &policy.Feature{Name: name, Audience: apikey.Audience(f.Audience), Resources: cfg.Resources(name),
			Models: exactModels(f.Models), Aliases: f.Aliases, Tools: f.Tools}
		u, ok := ups[f.Upstream]
		if !ok {
			return nil, fmt.Errorf("feature %s: upstream %q not built", name, f.Upstream)
		}
		pf.TestKeys = u.testKeys
		t.features = append(t.features, pf)
		t.byName[name] = pf
		t.upstream[name] = u
		for _, e := range f.Endpoints {
			rt, err := t.routeFor(e, u)
			if err != nil {
				return nil, fmt.Errorf("feature %s: %w", name, err)
			}
			if err := rt.addDataset(name, f.Datasets); err != nil {
				return nil, fmt.Errorf("feature %s: %w", name, err)
			}
			rt.candidates = append(rt.candidates, pf)
			rt.upstreams[name] = u
			if !strings.Contains(rt.path, "{") {
				rt.targets[name] = newURLTarget(rt.upstreamURL(u, nil))
			}
		}
	}
	return t, nil
}

// routeFor returns the route for endpoint e, creating it on first use.
func (t *table) routeFor(e config.Endpoint, u *upstream) (*route, error) {
	var rt route
	if e.Name != "" {
		ep, ok := provider.Named(e.Name)
		if !ok {
			return nil, fmt.Errorf("unknown endpoint %q", e.Name)
		}
		rt = route{method: ep.Method, path: ep.Path, api: ep.API, endpoint: ep.Name, upstreamPath: ep.UpstreamPath}
	} else {
		rt = route{method: e.Method, path: e.Path, api: provider.APIHTTP, endpoint: e.String(), custom: true}
	}
	key := rt.method + " " + rt.path
	if have, ok := t.routes[key]; ok {
		if have.api != rt.api {
			return nil, fmt.Errorf("%s is served with two different APIs", key)
		}
		return have, nil
	}
	rt.upstreams, rt.targets = map[string]*upstream{}, map[string]*urlTarget{}
	t.routes[key] = &rt
	return &rt, nil
}

// addDataset records where a custom route reads its dataset. Features
// sharing a custom route must agree, or one request could be authorized
// on one field and served on another.
func (rt *route) addDataset(feature string, d *config.Datasets) error {
	if !rt.custom {
		return nil
	}
	var src datasetSource
	if d != nil {
		kind, name, _ := strings.Cut(d.From, ".")
		src = datasetSource{fromPath: kind == "path", name: name}
	}
	if len(rt.candidates) > 0 && src != rt.dataset {
		return fmt.Errorf("route %s: features disagree on where the dataset is named", rt.endpoint)
	}
	rt.dataset = src
	return nil
}

// upstreamURL returns where a request on rt granted by feature goes: the
// upstream's base URL and a path fixed by the route table. For custom
// routes the path's {params} are filled from the request's validated
// values.
func (rt *route) upstreamURL(u *upstream, pathValue func(string) string) *url.URL {
	out := *u.base
	switch {
	case rt.custom:
		out.Path = strings.TrimSuffix(out.Path, "/") + fillPath(rt.path, pathValue)
	case u.kind == config.KindMock:
		out.Path = strings.TrimSuffix(out.Path, "/") + rt.path
	default:
		out.Path = strings.TrimSuffix(out.Path, "/") + rt.upstreamPath
	}
	out.RawPath = ""
	return &out
}

func newURLTarget(u *url.URL) *urlTarget {
	return &urlTarget{scheme: u.Scheme, host: u.Host, path: u.Path}
}

// fillPath replaces each {name} in pattern with its value.
func fillPath(pattern string, value func(string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(pattern, '{')
		j := strings.IndexByte(pattern, '}')
		if i < 0 || j < i {
			b.WriteString(pattern)
			return b.String()
		}
		b.WriteString(pattern[:i])
		name := strings.TrimSuffix(pattern[i+1:j], "...")
		b.WriteString(url.PathEscape(value(name)))
		pattern = pattern[j+1:]
	}
}

// mux returns a ServeMux that marks each request with its route. It is used
// for matching only: the gateway serves every request itself, so ServeMux
// never redirects or answers on its own.
func (t *table) mux() *http.ServeMux {
	m := http.NewServeMux()
	methods := map[string][]string{}
	for _, key := range sortedNames(t.routes) {
		rt := t.routes[key]
		m.Handle(key, routeHandler{rt: rt})
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	for p, ms := range methods {
		m.Handle(p, routeHandler{allow: strings.Join(ms, ", ")}) // same path, other method: 405
	}
	return m
}

// routeHandler carries a route through ServeMux's matching: "serving" a
// request records the route in the routeHit it is given as writer.
type routeHandler struct {
	rt *route
	// allow lists the methods of the path, for a 405's Allow header.
	allow string
}

func (h routeHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if hit, ok := w.(*routeHit); ok {
		hit.rt, hit.allow, hit.found = h.rt, h.allow, true
	}
}

// routeHit is the ResponseWriter of a matching pass: it discards anything
// ServeMux writes (its own 404) and receives the matched route.
type routeHit struct {
	rt     *route
	allow  string
	found  bool
	header http.Header
}

// routeHits holds routeHits for reuse: ServeMux takes its writer as an
// interface, so a routeHit made per request would be an allocation.
var routeHits = sync.Pool{New: func() any { return new(routeHit) }}

func (h *routeHit) Header() http.Header {
	if h.header == nil {
		h.header = http.Header{}
	}
	return h.header
}

func (h *routeHit) Write(b []byte) (int, error) { return len(b), nil }

func (h *routeHit) WriteHeader(int) {}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// exactModels returns the model ids of a feature that name one model:
// what GET /v1/models can list. Prefix patterns name none.
func exactModels(models []string) []string {
	var out []string
	for _, m := range models {
		if !strings.HasSuffix(m, "*") {
			out = append(out, m)
		}
	}
	return out
}
