// Package provider knows what each upstream API looks like: its endpoints
// and paths, where a request names its model and tools, how a request body
// is parsed strictly and rewritten in canonical form, where a response
// reports token usage (whole or streamed), and how errors are shaped so the
// official SDKs show them well. It also contains the built-in mock
// upstream.
//
// It does no I/O of its own beyond the mock's HTTP handler: the proxy reads
// bodies and calls these functions.
//
// # Requests
//
// [ParseRequest] reads a body in one strict pass (strict.go): exactly one
// JSON object, valid UTF-8, no duplicate or case-variant member names at
// any depth, nesting at most 64. It extracts the model, stream flag,
// output token limit, an input token estimate and the server-side tools
// asked for (tools.go), and refuses members that would name other models.
// [Request.Canonical] is the body the gateway forwards: the same members
// in the same order, byte for byte, but for the resolved model, and, in
// OpenAI chat completions and completions streams, for
// stream_options.include_usage, which it sets so that every stream reports
// its usage ([Request.InjectsStreamUsage]).
//
// # Usage and errors
//
// [ResponseUsage] reads the usage of a whole response and a [StreamMeter]
// that of an SSE stream as it passes, counting the events that carry
// output for a stream cut short. A [UsageChunkFilter] removes the usage
// chunk the gateway asked for from the stream the client receives.
// [WriteError] answers in the error shape of the API the client speaks.
//
// # The mock upstream
//
// [NewMock] serves OpenAI chat completions, completions, responses,
// embeddings and models under /v1/... and Anthropic messages at
// /v1/messages, streamed or not, with deterministic replies and real usage
// numbers, for the models mock-small, mock-large and mock-embed and any id
// that starts with gpt-, claude- or text-embedding-. Tests steer it with
// request headers:
//
//	x-mock-latency: 50ms      wait before answering (ends if the client goes away)
//	x-mock-status: 503        answer this status with an API-shaped error body
//	x-mock-hang-after: 2      in a stream, send 2 events, then block until the client goes away
//	x-mock-chunk-delay: 5ms   wait between stream events
//
// and the model mock-error-<status> answers that status. [NewMock] has the
// details.
package provider

// API is the wire protocol a client speaks on an endpoint.
type API string

// The APIs.
const (
	APIOpenAI    API = "openai"
	APIAnthropic API = "anthropic"
	// APIHTTP is a plain JSON service behind a custom route.
	APIHTTP API = "http"
)

// Endpoint is a named model endpoint: its API, method, the path clients
// call on the gateway, and the path appended to the upstream's base URL.
type Endpoint struct {
	Name   string
	API    API
	Method string
	// Path is the gateway path, e.g. "/v1/chat/completions".
	Path string
	// UpstreamPath is appended to the upstream's base_url: for OpenAI the
	// base includes "/v1", so "/chat/completions"; for Anthropic it does
	// not, so "/v1/messages".
	UpstreamPath string
}

// Named returns the endpoint called name ("chat.completions", "responses",
// "completions", "embeddings", "messages").
func Named(name string) (Endpoint, bool) {
	switch name {
	case "chat.completions":
		return Endpoint{name, APIOpenAI, "POST", "/v1/chat/completions", "/chat/completions"}, true
	case "responses":
		return Endpoint{name, APIOpenAI, "POST", "/v1/responses", "/responses"}, true
	case "completions":
		return Endpoint{name, APIOpenAI, "POST", "/v1/completions", "/completions"}, true
	case "embeddings":
		return Endpoint{name, APIOpenAI, "POST", "/v1/embeddings", "/embeddings"}, true
	case "messages":
		return Endpoint{name, APIAnthropic, "POST", "/v1/messages", "/v1/messages"}, true
	}
	return Endpoint{}, false
}
