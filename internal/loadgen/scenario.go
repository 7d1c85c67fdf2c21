package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Scenario names what a run sends.
type Scenario string

// The scenarios. Each builds one [Target]: the same request, sent many
// times.
const (
	// ScenarioChat is an allowed, non-streaming chat completion.
	ScenarioChat Scenario = "chat"
	// ScenarioStream is the same chat completion with "stream":true.
	ScenarioStream Scenario = "stream"
	// ScenarioDenied is a chat completion for a model the key is not
	// scoped for; the expected answer is 403.
	ScenarioDenied Scenario = "denied"
	// ScenarioMix is ScenarioChat with a key chosen at random from many
	// for each request, so that a large set misses the gateway's key
	// cache.
	ScenarioMix Scenario = "mix"
	// ScenarioAdminKeys creates keys through the admin API.
	ScenarioAdminKeys Scenario = "admin-keys"
)

// Scenarios lists the scenarios in the order help texts give them.
func Scenarios() []Scenario {
	return []Scenario{ScenarioChat, ScenarioStream, ScenarioDenied, ScenarioMix, ScenarioAdminKeys}
}

// Default paths of the scenarios, relative to the base URL.
const (
	chatPath = "/v1/chat/completions"
	keysPath = "/admin/v1/keys"
)

// ScenarioOptions are what the scenarios are built from; each scenario
// uses the fields it needs.
type ScenarioOptions struct {
	// BaseURL is the target's base URL, such as http://127.0.0.1:8080.
	BaseURL string
	// Path replaces the scenario's path, to call an upstream directly or
	// a gateway that routes elsewhere.
	Path string
	// Key is sent as "Authorization: Bearer" by every scenario but mix and
	// admin-keys; none when empty.
	Key string
	// Keys are mix's keys, one chosen at random for each request.
	Keys []string
	// AdminKey authenticates admin-keys.
	AdminKey string
	// Model is the model of chat, stream and mix; DeniedModel that of
	// denied. MaxTokens is their max_tokens.
	Model, DeniedModel string
	MaxTokens          int
	// Principal and Scopes are what admin-keys creates keys for.
	Principal string
	Scopes    []string
	// Header is added to every request, after the scenario's own headers,
	// replacing any of the same name.
	Header http.Header
	// ExpectStatus replaces the scenario's expected status when not zero.
	ExpectStatus int
}

// Target is one request, built once and sent many times. Its fields are
// read concurrently and must not change once a run has started.
type Target struct {
	// Scenario is the scenario the target was built for.
	Scenario Scenario
	Method   string
	URL      *url.URL
	Body     []byte
	// Header is sent with every request as it is.
	Header http.Header
	// Keys, when not empty, are bearer credentials ("Bearer " included),
	// one chosen at random for each request.
	Keys []string
	// Stream marks a server-sent event response: ttfb is measured and the
	// stream must end with "data: [DONE]".
	Stream bool
	// Expect is the status that counts as a success.
	Expect int
}

// NewTarget builds the request of scenario s.
func NewTarget(s Scenario, o ScenarioOptions) (*Target, error) {
	t := &Target{Scenario: s, Method: http.MethodPost, Header: http.Header{}, Expect: http.StatusOK}
	path := chatPath
	model := o.Model
	switch s {
	case ScenarioChat:
	case ScenarioStream:
		t.Stream = true
	case ScenarioDenied:
		model = o.DeniedModel
		t.Expect = http.StatusForbidden
	case ScenarioMix:
		if len(o.Keys) == 0 {
			return nil, errors.New("scenario mix needs keys (--keys-file)")
		}
		t.Keys = make([]string, len(o.Keys))
		for i, k := range o.Keys {
			t.Keys[i] = "Bearer " + k
		}
	case ScenarioAdminKeys:
		path = keysPath
		t.Expect = http.StatusCreated
		if o.AdminKey == "" || o.Principal == "" || len(o.Scopes) == 0 {
			return nil, errors.New("scenario admin-keys needs an admin key, a principal and at least one scope")
		}
	default:
		return nil, fmt.Errorf("unknown scenario %q", s)
	}
	var err error
	if t.Body, err = body(s, o, model); err != nil {
		return nil, err
	}
	if o.Path != "" {
		path = o.Path
	}
	if t.URL, err = url.Parse(strings.TrimSuffix(o.BaseURL, "/") + path); err != nil {
		return nil, fmt.Errorf("target url: %w", err)
	}
	if t.URL.Scheme != "http" && t.URL.Scheme != "https" || t.URL.Host == "" {
		return nil, fmt.Errorf("target url %q: want http:// or https:// and a host", t.URL)
	}
	t.Header.Set("Content-Type", "application/json")
	switch {
	case s == ScenarioAdminKeys:
		t.Header.Set("Authorization", "Bearer "+o.AdminKey)
	case s != ScenarioMix && o.Key != "":
		t.Header.Set("Authorization", "Bearer "+o.Key)
	}
	if t.Stream {
		t.Header.Set("Accept", "text/event-stream")
	}
	for name, vs := range o.Header {
		t.Header[http.CanonicalHeaderKey(name)] = vs
	}
	if o.ExpectStatus != 0 {
		t.Expect = o.ExpectStatus
	}
	return t, nil
}

// chatBody is the body of the chat scenarios: small, so that the gateway's
// work and not the transfer is measured.
type chatBody struct {
	Model     string        `json:"model"`
	Messages  []chatMessage `json:"messages"`
	MaxTokens int           `json:"max_tokens,omitempty"`
	Stream    bool          `json:"stream,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// keyBody is the body of admin-keys (docs/admin-api.md, "Create a key").
type keyBody struct {
	Principal string   `json:"principal"`
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
}

func body(s Scenario, o ScenarioOptions, model string) ([]byte, error) {
	if s == ScenarioAdminKeys {
		return json.Marshal(keyBody{Principal: o.Principal, Name: "bench", Scopes: o.Scopes})
	}
	if model == "" {
		return nil, fmt.Errorf("scenario %s needs a model", s)
	}
	return json.Marshal(chatBody{Model: model, MaxTokens: o.MaxTokens, Stream: s == ScenarioStream,
		Messages: []chatMessage{{Role: "user", Content: "Say hello."}}})
}
