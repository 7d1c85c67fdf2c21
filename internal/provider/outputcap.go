package provider

import "strconv"

// maxChoices bounds "n" and "best_of": OpenAI allows at most 128.
const maxChoices = 128

// choiceCount reads "n" or "best_of": null, or an integer from 1 to
// maxChoices. Limits multiply a request's output by it, so an absurd
// count is refused rather than reserved.
func choiceCount(name, v []byte) (int64, error) {
	if isNull(v) {
		return 1, nil
	}
	n, err := tokenCount(name, v)
	if err != nil || n < 1 || n > maxChoices {
		return 0, &RequestError{Param: string(name), Message: string(name) + " must be an integer from 1 to " + strconv.Itoa(maxChoices)}
	}
	return n, nil
}

// outputCapMember names the member that caps a request's output on
// endpoint, "" when the endpoint produces no output to cap (embeddings)
// or is not a model endpoint.
func outputCapMember(api API, endpoint string) string {
	switch {
	case api == APIAnthropic && endpoint == "messages":
		return "max_tokens"
	case api != APIOpenAI:
		return ""
	}
	switch endpoint {
	case "chat.completions":
		return "max_completion_tokens"
	case "completions":
		return "max_tokens"
	case "responses":
		return "max_output_tokens"
	}
	return ""
}

// CapsOutput reports whether [Request.CanonicalCapped] can cap the
// request's output: it has no output maximum member of its own (not even
// a null one), and its endpoint has a member for one.
func (r *Request) CapsOutput() bool {
	return !r.namesMax && outputCapMember(r.API, r.Endpoint) != ""
}

// CanonicalCapped is [Request.Canonical] with, when the request names no
// output maximum and outputCap is positive, the endpoint's maximum member
// added last with outputCap: "max_completion_tokens" on chat completions,
// "max_output_tokens" on the Responses API, "max_tokens" on completions
// and Anthropic messages. The gateway reserves a request's output before
// the call; forwarding the cap it reserved keeps the upstream from
// producing more than was reserved.
func (r *Request) CanonicalCapped(model string, outputCap int64) []byte {
	out := r.Canonical(model)
	if outputCap <= 0 || !r.CapsOutput() {
		return out
	}
	out = out[:len(out)-1] // the closing brace
	if len(r.members) > 0 || r.InjectsStreamUsage() {
		out = append(out, ',')
	}
	out = strconv.AppendQuote(out, outputCapMember(r.API, r.Endpoint))
	out = append(out, ':')
	out = strconv.AppendInt(out, outputCap, 10)
	return append(out, '}')
}
