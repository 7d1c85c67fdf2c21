package provider

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Request is a request body parsed strictly, with what the gateway needs
// to authorize, limit and forward it. It keeps the body it was parsed from,
// which must not change afterwards.
type Request struct {
	API API
	// Endpoint is the endpoint name given to ParseRequest.
	Endpoint string
	// Model is the top-level "model" member as sent, before aliases are
	// resolved. Model endpoints require it; on APIHTTP it is "" unless
	// the body has a string "model".
	Model string
	// Stream is "stream": true.
	Stream bool
	// MaxOutputTokens is the largest of "max_tokens",
	// "max_completion_tokens" and "max_output_tokens", 0 when none is
	// sent.
	MaxOutputTokens int64
	// Choices is how many completions the request asks for: the larger of
	// OpenAI's "n" and "best_of", 1 when neither is sent. Each may
	// produce up to MaxOutputTokens.
	Choices int64
	// InputTokens estimates the prompt's tokens as a quarter of the bytes
	// of every string value but the model, rounded up. It is an estimate
	// for reserving tokens before the call, which the response's usage
	// corrects; it is neither a tokenizer's count nor a bound.
	InputTokens int64
	// Tools lists the server-side tools the request asks for, normalized
	// (see the tools.go comments): "web_search", "file_search",
	// "mcp:https://…", … Client-side tools (functions) are not listed.
	// Nil when there are none.
	Tools []string

	body    []byte
	members []member // top-level members, in order
	// namesMax is set when the body has an output maximum member, even a
	// null or zero one: CanonicalCapped then adds none.
	namesMax bool
	model    int // index in members of the string "model", or -1
	// streamOptions is the index in members of OpenAI's "stream_options"
	// (an object or null), or -1; includeUsage is the span in the body of
	// its "include_usage" value, zero when there is none, and clientUsage
	// says that value is true. See stream_options.go.
	streamOptions int
	includeUsage  span
	clientUsage   bool
}

// RequestError is a request body the gateway refuses; the proxy answers it
// with 400. Its message says what is wrong without repeating more of the
// body than a member name or a model id.
type RequestError struct {
	// Param is the path of the member at fault ("model",
	// "tools[1].server_url"), or "" when the body as a whole is.
	Param   string
	Message string
}

// Error returns the message, which is meant for the client.
func (e *RequestError) Error() string { return e.Message }

// maxModelLen bounds a model id; real ids are under 100 bytes.
const maxModelLen = 256

// ParseRequest parses body, the request sent to endpoint in api, strictly:
// see strict.go for the JSON rules and this file for the members read. A
// body that breaks a rule is refused with a *RequestError; any other error
// is the caller's mistake (an unknown api).
func ParseRequest(api API, endpoint string, body []byte) (*Request, error) {
	switch api {
	case APIOpenAI, APIAnthropic, APIHTTP:
	default:
		return nil, fmt.Errorf("provider: parse request: unknown API %q", api)
	}
	s := scanner{data: body}
	if err := s.scan(); err != nil {
		return nil, err
	}
	r := &Request{API: api, Endpoint: endpoint, body: body, members: s.members, model: -1, Choices: 1, streamOptions: -1}
	for i := range r.members {
		if err := r.read(i); err != nil {
			return nil, err
		}
	}
	strBytes := s.strBytes
	if r.model >= 0 {
		strBytes -= r.members[r.model].strBytes
	}
	r.InputTokens = (strBytes + 3) / 4
	if api == APIHTTP {
		return r, nil
	}
	if r.model < 0 {
		return nil, &RequestError{Param: "model", Message: `model is required: send the model id as a string in "model"`}
	}
	if err := r.readTools(); err != nil {
		return nil, err
	}
	return r, nil
}

// otherModels are top-level members that name models besides "model".
// The gateway authorizes one model per request, so on model endpoints
// these are refused rather than forwarded unchecked:
//
//   - models: routing lists (OpenRouter and others send the request to
//     whichever of the list is available).
//   - fallbacks, fallback_models: fallback lists of LiteLLM, Portkey and
//     similar routers, tried when the first model fails.
//   - model_list: a LiteLLM router configuration sent inline.
//   - extra_body, when it has any of "model" and the above: some
//     OpenAI-compatible servers (LiteLLM, vLLM) merge extra_body into the
//     request, so its "model" would override the authorized one.
//
// Not refused, because they name no model: previous_response_id and
// conversation (Responses API state), metadata, user. Nor is prompt (the
// id of a prompt stored at OpenAI): the request must still carry its own
// "model", but what a stored prompt configures upstream (its tools, for
// one) is beyond what the gateway can see. Tools with a model of their
// own (Responses image_generation, Anthropic advisor_*) are governed by
// the tool's permission: see tools.go.
var otherModels = []string{"models", "fallbacks", "fallback_models", "model_list"}

// extraBodyModels are the names refused inside extra_body, in any case.
var extraBodyModels = append([]string{"model"}, otherModels...)

// knownTop are the top-level names this package reads on every API;
// case variants of them ("MODEL", "Stream") are refused, because an
// upstream that matches names case-insensitively would read them as what
// the gateway did not check.
var knownTop = []string{"model", "stream", "max_tokens", "max_completion_tokens", "max_output_tokens", "n", "best_of"}

// knownModelTop are the names also read on model endpoints.
var knownModelTop = []string{"tools", "web_search_options", "mcp_servers", "extra_body",
	"models", "fallbacks", "fallback_models", "model_list"}

// knownOpenAITop are the names also read on APIOpenAI.
var knownOpenAITop = []string{"stream_options"}

// read reads the top-level member i.
func (r *Request) read(i int) error {
	m := r.members[i]
	v := r.body[m.val.start:m.val.end]
	forModel := r.API != APIHTTP
	if k := caseVariant(m.name, knownTop); k != "" && k != string(m.name) {
		return caseVariantError(string(m.name), k, "")
	}
	if forModel {
		if k := caseVariant(m.name, knownModelTop); k != "" && k != string(m.name) {
			return caseVariantError(string(m.name), k, "")
		}
	}
	if r.API == APIOpenAI {
		if k := caseVariant(m.name, knownOpenAITop); k != "" && k != string(m.name) {
			return caseVariantError(string(m.name), k, "")
		}
	}
	switch string(m.name) {
	case "model":
		if v[0] != '"' {
			if forModel {
				return &RequestError{Param: "model", Message: "model must be a JSON string"}
			}
			return nil
		}
		model := unquote(v)
		if forModel {
			if err := checkModelID(model); err != nil {
				return err
			}
		}
		r.Model, r.model = model, i
	case "stream":
		switch string(v) {
		case "true":
			r.Stream = true
		case "false", "null":
		default:
			return &RequestError{Param: "stream", Message: "stream must be true or false"}
		}
	case "n", "best_of":
		if r.API != APIOpenAI {
			return nil
		}
		n, err := choiceCount(m.name, v)
		if err != nil {
			return err
		}
		r.Choices = max(r.Choices, n)
	case "max_tokens", "max_completion_tokens", "max_output_tokens":
		r.namesMax = true
		n, err := tokenCount(m.name, v)
		if err != nil {
			return err
		}
		r.MaxOutputTokens = max(r.MaxOutputTokens, n)
	case "models", "fallbacks", "fallback_models", "model_list":
		if forModel {
			return otherModelsError(string(m.name))
		}
	case "stream_options":
		if r.API == APIOpenAI {
			return r.readStreamOptions(i, v)
		}
	case "extra_body":
		if forModel {
			for k := range members(v) {
				if caseVariant(k, extraBodyModels) != "" {
					return otherModelsError("extra_body." + pathName(k))
				}
			}
		}
	}
	return nil
}

// caseVariant returns the name in known that name equals in any letter
// case, or "" if none. An exact match counts too.
func caseVariant(name []byte, known []string) string {
	ascii := isASCII(name)
	for _, k := range known {
		// Names of different byte lengths can still fold together
		// ("ſtream" with U+017F), but only when one is not ASCII.
		if ascii && len(name) != len(k) {
			continue
		}
		if strings.EqualFold(string(name), k) {
			return k
		}
	}
	return ""
}

func isASCII(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// caseVariantError refuses name, a case variant of want in the object at
// path ("" for the top level).
func caseVariantError(name, want, path string) error {
	param := pathName([]byte(name))
	where := ""
	if path != "" {
		param = path + "." + param
		where = " (in " + path + ")"
	}
	return &RequestError{Param: param, Message: fmt.Sprintf("member %s differs from %q only in letter case%s; send %q",
		quoteName([]byte(name)), want, where, want)}
}

func otherModelsError(name string) error {
	return &RequestError{Param: name, Message: fmt.Sprintf(
		"%s names other models, which the gateway does not forward; send one model in \"model\"", name)}
}

// checkModelID refuses model ids that are not plain printable ASCII, so
// that a look-alike ("gpt‐4o" with U+2010), an invisible character
// ("gpt-4o\u200b") or padding can never match one scope and reach
// another model upstream.
func checkModelID(model string) error {
	if model == "" {
		return &RequestError{Param: "model", Message: "model must not be empty"}
	}
	if len(model) > maxModelLen {
		return &RequestError{Param: "model", Message: fmt.Sprintf("model is longer than %d bytes", maxModelLen)}
	}
	for i := 0; i < len(model); i++ {
		if c := model[i]; c > ' ' && c < 0x7f {
			continue
		}
		r, _ := utf8.DecodeRuneInString(model[i:])
		what := fmt.Sprintf("%U", r)
		if r == ' ' {
			what = "a space"
		}
		return &RequestError{Param: "model", Message: fmt.Sprintf(
			"model %s contains %s at byte %d; model ids are printable ASCII, without spaces, control, zero-width or look-alike characters",
			strconv.QuoteToASCII(shorten(model)), what, i)}
	}
	return nil
}

// tokenCount reads a token limit: a non-negative integer, or null for
// none.
func tokenCount(name, v []byte) (int64, error) {
	if isNull(v) {
		return 0, nil
	}
	for _, c := range v {
		if !isDigit(c) {
			return 0, &RequestError{Param: string(name), Message: string(name) + " must be a non-negative integer"}
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, &RequestError{Param: string(name), Message: string(name) + " is too large"}
	}
	return n, nil
}

// Field returns the string value of the top-level member called name, so
// that custom routes can read the dataset a body names. It reports false
// when there is no such member or its value is not a string.
func (r *Request) Field(name string) (string, bool) {
	for _, m := range r.members {
		if string(m.name) == name {
			v := r.body[m.val.start:m.val.end]
			if v[0] != '"' {
				return "", false
			}
			return unquote(v), true
		}
	}
	return "", false
}

// Canonical returns the body to forward: the top-level members in their
// order, each byte for byte as received, except that
//
//   - the "model" member becomes "model": model. A request without a
//     string "model" member (possible on APIHTTP) keeps its members
//     unchanged and model is ignored.
//   - when [Request.InjectsStreamUsage], stream_options asks for usage:
//     a missing "stream_options" is added last as
//     "stream_options":{"include_usage":true}; a null one takes that
//     value in its place; in an object, "include_usage" becomes true
//     (added last when missing) and the other members are kept byte for
//     byte.
//
// Whitespace between top-level members is dropped.
//
// The gateway authorizes the model it resolved and forwards exactly this
// body, so the upstream cannot see a model other than the authorized one;
// and it asks for the usage of every OpenAI stream it meters, removing
// the extra chunk with a [UsageChunkFilter] when the client did not ask
// for it.
func (r *Request) Canonical(model string) []byte {
	inject := r.InjectsStreamUsage()
	out := make([]byte, 0, len(r.body)+len(model)+len(streamUsageMember)+16)
	out = append(out, '{')
	for i, m := range r.members {
		if i > 0 {
			out = append(out, ',')
		}
		switch {
		case i == r.model:
			out = append(out, `"model":`...)
			out = appendQuoted(out, model)
			continue
		case i == r.streamOptions && inject:
			out = append(out, r.body[m.key.start:m.key.end]...)
			out = append(out, ':')
			out = r.appendStreamOptions(out, m.val)
			continue
		}
		out = append(out, r.body[m.key.start:m.key.end]...)
		out = append(out, ':')
		out = append(out, r.body[m.val.start:m.val.end]...)
	}
	if inject && r.streamOptions < 0 {
		if len(r.members) > 0 {
			out = append(out, ',')
		}
		out = append(out, streamUsageMember...)
	}
	return append(out, '}')
}
