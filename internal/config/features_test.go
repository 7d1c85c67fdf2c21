package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/scope"
)

const validFeatures = `
upstreams:
  openai: {kind: openai, base_url: "https://api.openai.com/v1/", api_key: "${OPENAI_API_KEY}"}
  claude: {kind: anthropic, base_url: https://api.anthropic.com, api_key: "${ANTHROPIC_API_KEY}", timeout: 30s}
  rag:    {kind: http, base_url: http://retrieval.internal:9000}
  mock:   {kind: mock, test_keys: true}
features:
  chatbot:
    audience: external
    upstream: openai
    endpoints: [chat.completions, responses]
    models: [gpt-4o-mini, "gpt-4.1-*"]
    aliases: {chatbot-v1: gpt-4o-mini}
    tools: [web_search, "mcp:https://mcp.example.com/sse"]
  code-generation:
    upstream: claude
    endpoints: [messages]
    models: ["claude-sonnet-4-*"]
  data-retrieval:
    upstream: rag
    endpoints: [{method: post, path: /v1/retrieve}]
    datasets: {from: body.dataset, allow: [hr-docs, "sales-*"]}
  by-path:
    upstream: rag
    endpoints: [{method: GET, path: "/v1/datasets/{dataset}/docs"}]
    datasets: {from: path.dataset, allow: [hr-docs]}
`

var testEnv = map[string]string{"OPENAI_API_KEY": "sk-openai-secret", "ANTHROPIC_API_KEY": "sk-ant-secret"}

func TestParseFeatures(t *testing.T) {
	c, err := Parse([]byte(validFeatures), func(k string) string { return testEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Upstreams["openai"].BaseURL; got != "https://api.openai.com/v1" {
		t.Errorf("base_url = %q, want the trailing slash trimmed", got)
	}
	if got := c.Upstreams["openai"].APIKey.Reveal(); got != "sk-openai-secret" {
		t.Errorf("api_key = %q", got)
	}
	if got := c.Upstreams["rag"].Timeout.String(); got != "1m0s" {
		t.Errorf("default timeout = %s, want 1m0s", got)
	}
	if got := c.Features["code-generation"].Audience; got != "internal" {
		t.Errorf("default audience = %q, want internal", got)
	}
	if e := c.Features["data-retrieval"].Endpoints[0]; e.Method != "POST" || e.Path != "/v1/retrieve" {
		t.Errorf("custom endpoint = %+v, want method upper-cased", e)
	}
	if got := c.Resources("data-retrieval").String(); got != "data-retrieval:hr-docs data-retrieval:sales-*" {
		t.Errorf("Resources(data-retrieval) = %q", got)
	}
	for _, s := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := sprintf(s, c.Upstreams["openai"]); strings.Contains(out, "sk-openai-secret") {
			t.Errorf("formatting an upstream with %s prints its credential: %s", s, out)
		}
	}
}

func TestFeatureErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"UnknownUpstream", "upstreams: {m: {kind: mock}}\nfeatures: {f: {upstream: nope, endpoints: [chat.completions], models: [a]}}", `features.f.upstream: "nope" is not declared`},
		{"UnknownKind", "upstreams: {m: {kind: grpc}}\nfeatures: {f: {upstream: m, endpoints: [chat.completions], models: [a]}}", `upstreams.m.kind: "grpc"`},
		{"BaseURLRequired", "upstreams: {o: {kind: openai}}\nfeatures: {f: {upstream: o, endpoints: [chat.completions], models: [a]}}", "upstreams.o.base_url: required"},
		{"BaseURLWithQuery", "upstreams: {o: {kind: openai, base_url: \"https://x/v1?a=b\"}}\nfeatures: {f: {upstream: o, endpoints: [chat.completions], models: [a]}}", "not an http(s) URL"},
		{"KeyAndKeyFile", "upstreams: {o: {kind: openai, base_url: https://x, api_key: k, api_key_file: /f}}\nfeatures: {f: {upstream: o, endpoints: [chat.completions], models: [a]}}", "give api_key or api_key_file"},
		{"UnknownEndpoint", "upstreams: {m: {kind: mock}}\nfeatures: {f: {upstream: m, endpoints: [chat.completion], models: [a]}}", `unknown endpoint "chat.completion"`},
		{"EndpointWrongKind", "upstreams: {o: {kind: openai, base_url: https://x}}\nfeatures: {f: {upstream: o, endpoints: [messages], models: [a]}}", "messages is not served by upstream"},
		{"NoEndpoints", "upstreams: {m: {kind: mock}}\nfeatures: {f: {upstream: m, models: [a]}}", "at least one endpoint"},
		{"UncleanCustomPath", "upstreams: {h: {kind: http, base_url: http://h}}\nfeatures: {f: {upstream: h, endpoints: [{method: POST, path: /v1/../x}], datasets: {from: body.d, allow: [a]}}}", "clean absolute path"},
		{"BadCustomMethod", "upstreams: {h: {kind: http, base_url: http://h}}\nfeatures: {f: {upstream: h, endpoints: [{method: TRACE, path: /x}], datasets: {from: body.d, allow: [a]}}}", "method must be"},
		{"UnknownEndpointField", "upstreams: {h: {kind: http, base_url: http://h}}\nfeatures: {f: {upstream: h, endpoints: [{method: POST, url: /x}], datasets: {from: body.d, allow: [a]}}}", `unknown field "url" in endpoint`},
		{"CustomRouteWithoutResources", "upstreams: {h: {kind: http, base_url: http://h}}\nfeatures: {f: {upstream: h, endpoints: [{method: POST, path: /x}]}}", "needs datasets"},
		{"DatasetFromMissingParam", "upstreams: {h: {kind: http, base_url: http://h}}\nfeatures: {f: {upstream: h, endpoints: [{method: POST, path: /x}], datasets: {from: path.ds, allow: [a]}}}", "has no {ds} parameter"},
		{"DatasetFromBad", "upstreams: {h: {kind: http, base_url: http://h}}\nfeatures: {f: {upstream: h, endpoints: [{method: POST, path: /x}], datasets: {from: query.ds, allow: [a]}}}", "is not body.<field> or path.<param>"},
		{"AliasToUndeclaredModel", "upstreams: {m: {kind: mock}}\nfeatures: {f: {upstream: m, endpoints: [chat.completions], models: [a], aliases: {x: b}}}", `points at "b", which is not in the feature's models`},
		{"BadModelPattern", "upstreams: {m: {kind: mock}}\nfeatures: {f: {upstream: m, endpoints: [chat.completions], models: [\"a*b\"]}}", "not a valid model name"},
		{"BadFeatureName", "upstreams: {m: {kind: mock}}\nfeatures: {Chat: {upstream: m, endpoints: [chat.completions], models: [a]}}", "features.Chat: feature names"},
		{"BadAudience", "upstreams: {m: {kind: mock}}\nfeatures: {f: {audience: public, upstream: m, endpoints: [chat.completions], models: [a]}}", `features.f.audience: "public"`},
		{"UnknownFeatureField", "upstreams: {m: {kind: mock}}\nfeatures: {f: {upstream: m, endpoints: [chat.completions], model: [a]}}", `line 2: unknown field "model" in features.f`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCheckScopes(t *testing.T) {
	c, err := Parse([]byte(validFeatures), func(k string) string { return testEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scope string
		ok    bool
		want  string
	}{
		{"chatbot", true, ""},
		{"chatbot:gpt-4o-mini", true, ""},
		{"chatbot:gpt-4.1-nano", true, ""},
		{"chatbot:gpt-*", true, ""}, // selects gpt-4o-mini and gpt-4.1-*
		{"data-retrieval:sales-eu", true, ""},
		{"chatbt", false, `names feature "chatbt", which is not declared`},
		{"chatbot:gpt-4o", false, `does not serve`},
		{"chatbot:claude-*", false, `does not serve`},
		{"data-retrieval:finance", false, `does not serve`},
	}
	for _, tt := range tests {
		err := c.CheckScopes(scope.MustParseSet(tt.scope))
		if tt.ok != (err == nil) {
			t.Errorf("CheckScopes(%s) = %v, want ok=%v", tt.scope, err, tt.ok)
			continue
		}
		if err != nil && (!errors.Is(err, ErrDanglingScope) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckScopes(%s) = %v, want ErrDanglingScope containing %q", tt.scope, err, tt.want)
		}
	}
}

func TestBuiltinDefault(t *testing.T) {
	c := Default()
	f, ok := c.Features["chat"]
	if !ok || f.Upstream != "mock" || c.Upstreams["mock"].Kind != KindMock {
		t.Fatalf("Default() features = %+v, upstreams = %+v", c.Features, c.Upstreams)
	}
	if err := c.CheckScopes(scope.MustParseSet("chat:mock-small")); err != nil {
		t.Errorf("chat:mock-small not served by the default: %v", err)
	}
	if err := c.CheckScopes(scope.MustParseSet("chat:gpt-4o")); err == nil {
		t.Error("chat:gpt-4o served by the default")
	}
}

func sprintf(format string, v any) string { return fmt.Sprintf(format, v) }
