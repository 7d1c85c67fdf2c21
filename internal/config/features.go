package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/internal/scope"
)

// Upstream kinds.
const (
	KindOpenAI    = "openai"
	KindAnthropic = "anthropic"
	KindHTTP      = "http"
	KindMock      = "mock"
)

// Upstream is a provider endpoint the gateway forwards to, with the
// credential that only the gateway holds.
type Upstream struct {
	// Kind is openai (any OpenAI-compatible server), anthropic, http (a
	// plain service) or mock (built in).
	Kind string `yaml:"kind"`
	// BaseURL is where requests go: for openai it includes the version
	// path (https://api.openai.com/v1), for anthropic it does not
	// (https://api.anthropic.com). For mock it may be empty: the gateway
	// then runs the mock itself on a loopback port.
	BaseURL string `yaml:"base_url"`
	// APIKey is the provider credential, normally "${OPENAI_API_KEY}".
	APIKey Secret `yaml:"api_key"`
	// APIKeyFile is a file holding the credential, as an alternative to
	// APIKey (e.g. a mounted Kubernetes Secret).
	APIKeyFile string `yaml:"api_key_file"`
	// Timeout bounds the wait for the upstream's response headers (default
	// 60s); a stream may then run as long as the client stays.
	Timeout Duration `yaml:"timeout"`
	// TestKeys lets keys of the test environment reach this upstream. Test
	// keys reach no upstream that does not say so.
	TestKeys bool `yaml:"test_keys"`
	// AuthHeader is how the credential is sent: "bearer" (Authorization:
	// Bearer; the default for openai and http), "x-api-key" (the default
	// for anthropic) or "api-key" (Azure OpenAI).
	AuthHeader string `yaml:"auth_header"`
	// Query holds fixed query parameters added to every request to this
	// upstream, such as Azure OpenAI's api-version. The client's own query
	// string is never forwarded.
	Query map[string]string `yaml:"query"`
}

// Feature is a capability the operator exposes.
type Feature struct {
	Description string `yaml:"description"`
	// Audience is internal (default) or external. External principals never
	// reach internal features.
	Audience string `yaml:"audience"`
	// Upstream names the upstream that serves the feature.
	Upstream string `yaml:"upstream"`
	// Endpoints are named API endpoints (chat.completions, responses,
	// completions, embeddings, messages) or custom routes.
	Endpoints []Endpoint `yaml:"endpoints"`
	// Models are the model ids the feature serves; a trailing * matches a
	// prefix.
	Models []string `yaml:"models"`
	// Aliases map names clients may send to canonical model ids.
	Aliases map[string]string `yaml:"aliases"`
	// Datasets are the datasets a custom route serves.
	Datasets *Datasets `yaml:"datasets"`
	// Tools are the server-side tools requests may use through this
	// feature (web_search, file_search, code_interpreter, mcp:<server url>,
	// Anthropic server tools such as code_execution). Client-side function
	// tools are always allowed.
	Tools []string `yaml:"tools"`
	// Limits, when set, are limits every key has on its calls to this
	// feature, counted per key and feature, on top of the key's own.
	Limits *LimitValues `yaml:"limits"`
}

// Endpoint is a named API endpoint or a custom {method, path} route. In
// YAML it is either a string or a mapping.
type Endpoint struct {
	Name   string
	Method string
	Path   string
}

// UnmarshalYAML reads "chat.completions" or {method: POST, path: /v1/x}.
func (e *Endpoint) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		e.Name = n.Value
		return nil
	case yaml.MappingNode:
		var raw struct {
			Method string `yaml:"method"`
			Path   string `yaml:"path"`
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "method" && k != "path" {
				return fmt.Errorf("line %d: unknown field %q in endpoint (want method and path)", n.Content[i].Line, k)
			}
		}
		if err := n.Decode(&raw); err != nil {
			return err
		}
		e.Method, e.Path = strings.ToUpper(raw.Method), raw.Path
		return nil
	}
	return fmt.Errorf("line %d: an endpoint is a name such as chat.completions or {method, path}", n.Line)
}

// String returns the endpoint's name, or "METHOD path" for a custom route.
func (e Endpoint) String() string {
	if e.Name != "" {
		return e.Name
	}
	return e.Method + " " + e.Path
}

// Datasets says which datasets a custom route serves and where a request
// names its dataset.
type Datasets struct {
	// From is "body.<field>" (a top-level JSON field) or "path.<param>" (a
	// {param} of the route's path).
	From string `yaml:"from"`
	// Allow lists the datasets served; a trailing * matches a prefix.
	Allow []string `yaml:"allow"`
}

// NamedEndpoints are the endpoints a feature can name, with the upstream
// kinds that serve each. Their paths are fixed by the provider package.
var namedEndpoints = map[string][]string{
	"chat.completions": {KindOpenAI, KindMock},
	"responses":        {KindOpenAI, KindMock},
	"completions":      {KindOpenAI, KindMock},
	"embeddings":       {KindOpenAI, KindMock},
	"messages":         {KindAnthropic, KindMock},
}

// Secret is a credential read from the config file. It never prints.
type Secret string

// String redacts the secret.
func (Secret) String() string { return "[REDACTED]" }

// GoString redacts the secret.
func (Secret) GoString() string { return "[REDACTED]" }

// MarshalText redacts the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }

// Reveal returns the credential, for the one place that sends it upstream.
func (s Secret) Reveal() string { return string(s) }

// validateUpstreams checks the upstreams and reads credentials from files.
func (c *Config) validateUpstreams() []error {
	var errs []error
	for _, name := range sortedKeys(c.Upstreams) {
		u := c.Upstreams[name]
		where := "upstreams." + name
		switch u.Kind {
		case KindOpenAI, KindAnthropic, KindHTTP:
			if u.BaseURL == "" {
				errs = append(errs, fmt.Errorf("%s.base_url: required for kind %s", where, u.Kind))
			}
		case KindMock:
		default:
			errs = append(errs, fmt.Errorf("%s.kind: %q is not openai, anthropic, http or mock", where, u.Kind))
		}
		if u.BaseURL != "" {
			p, err := url.Parse(u.BaseURL)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
				errs = append(errs, fmt.Errorf("%s.base_url: %q is not an http(s) URL without user, query or fragment", where, u.BaseURL))
			}
			u.BaseURL = strings.TrimSuffix(u.BaseURL, "/")
		}
		if u.APIKey != "" && u.APIKeyFile != "" {
			errs = append(errs, fmt.Errorf("%s: give api_key or api_key_file, not both", where))
		}
		if u.APIKeyFile != "" {
			b, err := os.ReadFile(u.APIKeyFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.api_key_file: %w", where, err))
			}
			u.APIKey = Secret(strings.TrimSpace(string(b)))
		}
		if u.AuthHeader == "" {
			u.AuthHeader = "bearer"
			if u.Kind == KindAnthropic {
				u.AuthHeader = "x-api-key"
			}
		}
		switch u.AuthHeader {
		case "bearer", "x-api-key", "api-key":
		default:
			errs = append(errs, fmt.Errorf("%s.auth_header: %q is not bearer, x-api-key or api-key", where, u.AuthHeader))
		}
		if u.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", where))
		}
		if u.Timeout == 0 {
			u.Timeout = Duration(60 * time.Second)
		}
		c.Upstreams[name] = u
	}
	return errs
}

// validateFeatures checks the features against the upstreams and the
// scope grammar.
func (c *Config) validateFeatures() []error {
	var errs []error
	routes := map[string][]string{} // custom route → features, for dataset conflicts
	for _, name := range sortedKeys(c.Features) {
		f := c.Features[name]
		where := "features." + name
		if _, err := scope.Parse(name); err != nil || strings.Contains(name, ":") {
			errs = append(errs, fmt.Errorf("%s: feature names are lower-case letters, digits, '.', '_' and '-'", where))
		}
		if f.Audience == "" {
			f.Audience = "internal"
		}
		if f.Audience != "internal" && f.Audience != "external" {
			errs = append(errs, fmt.Errorf("%s.audience: %q is not internal or external", where, f.Audience))
		}
		u, ok := c.Upstreams[f.Upstream]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.upstream: %q is not declared under upstreams", where, f.Upstream))
		}
		if len(f.Endpoints) == 0 {
			errs = append(errs, fmt.Errorf("%s.endpoints: at least one endpoint is required", where))
		}
		custom := false
		for _, e := range f.Endpoints {
			if e.Name != "" {
				kinds, known := namedEndpoints[e.Name]
				switch {
				case !known:
					errs = append(errs, fmt.Errorf("%s.endpoints: unknown endpoint %q (known: chat.completions, responses, completions, embeddings, messages, or {method, path})", where, e.Name))
				case ok && !slices.Contains(kinds, u.Kind):
					errs = append(errs, fmt.Errorf("%s.endpoints: %s is not served by upstream %q of kind %s", where, e.Name, f.Upstream, u.Kind))
				}
				continue
			}
			custom = true
			if err := checkCustomRoute(e); err != nil {
				errs = append(errs, fmt.Errorf("%s.endpoints: %w", where, err))
			}
			routes[e.String()] = append(routes[e.String()], name)
		}
		for _, m := range append(slices.Clone(f.Models), mapValues(f.Aliases)...) {
			if _, err := scope.New(name, m); err != nil {
				errs = append(errs, fmt.Errorf("%s.models: %q is not a valid model name or pattern", where, m))
			}
		}
		for alias, target := range f.Aliases {
			if strings.HasSuffix(target, "*") || strings.HasSuffix(alias, "*") {
				errs = append(errs, fmt.Errorf("%s.aliases: %q → %q: aliases name exact models", where, alias, target))
			} else if !patternsMatch(f.Models, target) {
				errs = append(errs, fmt.Errorf("%s.aliases: %q points at %q, which is not in the feature's models", where, alias, target))
			}
		}
		if custom && f.Datasets == nil && len(f.Models) == 0 {
			errs = append(errs, fmt.Errorf("%s: a custom route needs datasets (or models) to authorize", where))
		}
		if f.Datasets != nil {
			errs = append(errs, checkDatasets(where, name, f)...)
		}
		for _, t := range f.Tools {
			if t == "" || strings.ContainsAny(t, " \t") {
				errs = append(errs, fmt.Errorf("%s.tools: %q is not a tool name", where, t))
			}
		}
		c.Features[name] = f
	}
	return errs
}

func checkCustomRoute(e Endpoint) error {
	switch e.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		return fmt.Errorf("%q: method must be GET, POST, PUT, PATCH or DELETE", e.String())
	}
	if !strings.HasPrefix(e.Path, "/") || strings.Contains(e.Path, "//") || strings.Contains(e.Path, "/.") || strings.ContainsAny(e.Path, "?#%\\ ") {
		return fmt.Errorf("%q: path must be a clean absolute path without query, '%%' or '\\'", e.String())
	}
	return nil
}

func checkDatasets(where, name string, f Feature) []error {
	var errs []error
	d := f.Datasets
	kind, field, _ := strings.Cut(d.From, ".")
	switch {
	case kind == "body" && field != "" && !strings.Contains(field, "."):
		for _, e := range f.Endpoints {
			if e.Method == "GET" || e.Method == "DELETE" {
				errs = append(errs, fmt.Errorf("%s.datasets.from: route %s has no body to read %q from; use path.<param>", where, e.String(), field))
			}
		}
	case kind == "path" && field != "":
		for _, e := range f.Endpoints {
			if e.Name == "" && !strings.Contains(e.Path, "{"+field+"}") {
				errs = append(errs, fmt.Errorf("%s.datasets.from: route %s has no {%s} parameter", where, e.String(), field))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("%s.datasets.from: %q is not body.<field> or path.<param>", where, d.From))
	}
	if len(d.Allow) == 0 {
		errs = append(errs, fmt.Errorf("%s.datasets.allow: at least one dataset is required", where))
	}
	for _, ds := range d.Allow {
		if _, err := scope.New(name, ds); err != nil {
			errs = append(errs, fmt.Errorf("%s.datasets.allow: %q is not a valid dataset name or pattern", where, ds))
		}
	}
	return errs
}

// patternsMatch reports whether some model pattern of patterns matches
// the model id.
func patternsMatch(patterns []string, id string) bool {
	for _, p := range patterns {
		if name, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(id, name) || p == id {
			return true
		}
	}
	return false
}

// Resources returns the resources feature name serves, as a scope set of
// that feature: its models (and alias targets) or its datasets.
func (c *Config) Resources(name string) scope.Set {
	f, ok := c.Features[name]
	if !ok {
		return scope.Set{}
	}
	var out []scope.Scope
	add := func(p string) {
		if s, err := scope.New(name, p); err == nil {
			out = append(out, s)
		}
	}
	for _, m := range f.Models {
		add(m)
	}
	if f.Datasets != nil {
		for _, d := range f.Datasets.Allow {
			add(d)
		}
	}
	return scope.NewSet(out...)
}

// CheckScopes refuses data scopes the configuration does not serve: a
// feature that is not declared, or a resource pattern that selects nothing
// the feature serves. A typo must not become a silently useless key. The
// error names the first offending scope.
func (c *Config) CheckScopes(set scope.Set) error {
	for _, s := range set.Scopes() {
		if err := c.checkScope(s); err != nil {
			return err
		}
	}
	return nil
}

// ErrDanglingScope marks a scope the configuration does not serve.
var ErrDanglingScope = errors.New("scope not served by the configuration")

func (c *Config) checkScope(s scope.Scope) error {
	if _, ok := c.Features[s.Feature]; !ok {
		return fmt.Errorf("%w: %q names feature %q, which is not declared (declared: %s)", ErrDanglingScope, s, s.Feature, strings.Join(sortedKeys(c.Features), ", "))
	}
	if s.Resource.All() {
		return nil
	}
	// The scope is useful if it selects something the feature serves.
	if !scope.NewSet(s).Intersect(c.Resources(s.Feature)).IsEmpty() {
		return nil
	}
	return fmt.Errorf("%w: %q names a resource that feature %q does not serve (it serves %s)", ErrDanglingScope, s, s.Feature, c.Resources(s.Feature))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
