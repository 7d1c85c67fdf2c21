package provider

import (
	"bytes"
	"net/http"
)

// StreamCutEvent returns the server-sent event that ends a stream the
// gateway cuts (its output passed what its limits reserved), in api's
// shape, so that official SDKs raise it as an API error: OpenAI streams
// carry an "error" object as a data event; Anthropic streams send an
// "error" event. Its type is that of a 429; on OpenAI its code is
// "stream_cut" (Anthropic's error shape has no code: the message says it).
func StreamCutEvent(api API, message string) []byte {
	body := EncodeError(api, ErrorBody{Status: http.StatusTooManyRequests, Code: "stream_cut", Message: message})
	var b []byte
	if api == APIAnthropic {
		b = append(b, "event: error\n"...)
	}
	b = append(b, "data: "...)
	b = append(b, bytes.TrimRight(body, "\n")...)
	return append(b, "\n\n"...)
}
