package provider

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// ErrorBody is an error the gateway answers itself, before or instead of
// the upstream.
type ErrorBody struct {
	// Status is the HTTP status; one outside 100–999 is sent as 500.
	Status int
	// Type is the error's type. Empty means ErrorType(Status, api); on
	// APIAnthropic a type that API does not define (an OpenAI one such
	// as "server_error") is replaced by it too.
	Type string
	// Code is a machine-readable reason ("missing_scope"); OpenAI shape
	// only, null when empty.
	Code string
	// Message is shown to the client: never a secret, an upstream URL or
	// the details of a 5xx.
	Message string
	// Param names the request member at fault; OpenAI shape only, null
	// when empty.
	Param string
	// RequiredScope is the scope a denied request needed; omitted when
	// empty.
	RequiredScope string
}

// WriteError answers e in the shape of api, so the official SDKs read it
// as one of their own errors:
//
//	APIOpenAI, APIHTTP: {"error":{"message","type","code","param","required_scope"}}
//	APIAnthropic:       {"type":"error","error":{"type","message","required_scope"}}
//
// openai-go (v3) unmarshals the "error" member into its *openai.Error,
// with Message, Type, Code and Param as fields; its Error() method shows
// only the status ("OpenAI API error: 403 Forbidden"), so callers read
// Message. anthropic-sdk-go (v2) reads error.type and error.message into
// its *anthropic.Error, whose Error() ends with the raw body, message
// included. Python and TypeScript SDKs show error.message in both shapes.
func WriteError(w http.ResponseWriter, api API, e ErrorBody) {
	body := EncodeError(api, e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(errorStatus(e.Status))
	w.Write(body)
}

// EncodeError returns the body WriteError sends for e: JSON followed by a
// newline.
func EncodeError(api API, e ErrorBody) []byte {
	status := errorStatus(e.Status)
	var v any
	if api == APIAnthropic {
		typ := e.Type
		if !isAnthropicErrorType(typ) {
			typ = ErrorType(status, api)
		}
		v = anthropicError{Type: "error", Error: anthropicErrorDetail{Type: typ, Message: e.Message,
			RequiredScope: e.RequiredScope}}
	} else {
		typ := e.Type
		if typ == "" {
			typ = ErrorType(status, api)
		}
		v = openAIError{Error: openAIErrorDetail{Message: e.Message, Type: typ, Code: nullable(e.Code),
			Param: nullable(e.Param), RequiredScope: e.RequiredScope}}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Messages quote model ids and member names; keep "<" and "&"
	// readable for people reading bodies with curl.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Strings and *string always encode.
		panic("provider: encode error body: " + err.Error())
	}
	return b.Bytes()
}

type openAIError struct {
	Error openAIErrorDetail `json:"error"`
}

type openAIErrorDetail struct {
	Message       string  `json:"message"`
	Type          string  `json:"type"`
	Code          *string `json:"code"`
	Param         *string `json:"param"`
	RequiredScope string  `json:"required_scope,omitempty"`
}

type anthropicError struct {
	Type  string               `json:"type"`
	Error anthropicErrorDetail `json:"error"`
}

type anthropicErrorDetail struct {
	Type          string `json:"type"`
	Message       string `json:"message"`
	RequiredScope string `json:"required_scope,omitempty"`
}

// nullable is s, or nil (JSON null) when s is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return new(s)
}

func errorStatus(status int) int {
	if status < 100 || status > 999 {
		return http.StatusInternalServerError
	}
	return status
}

// ErrorType returns the error type api uses for status.
//
// OpenAI's: invalid_request_error (400, 413 and other 4xx),
// authentication_error (401), permission_error (403), not_found_error
// (404), rate_limit_error (429), server_error (5xx).
//
// Anthropic's (docs.anthropic.com, "Errors"): invalid_request_error (400
// and other 4xx), authentication_error (401), billing_error (402),
// permission_error (403), not_found_error (404), request_too_large (413),
// rate_limit_error (429), api_error (500 and other 5xx), timeout_error
// (504), overloaded_error (503, 529).
func ErrorType(status int, api API) string {
	if api == APIAnthropic {
		switch status {
		case 401:
			return "authentication_error"
		case 402:
			return "billing_error"
		case 403:
			return "permission_error"
		case 404:
			return "not_found_error"
		case 413:
			return "request_too_large"
		case 429:
			return "rate_limit_error"
		case 503, 529:
			return "overloaded_error"
		case 504:
			return "timeout_error"
		}
		if status >= 500 || status < 400 {
			return "api_error"
		}
		return "invalid_request_error"
	}
	switch status {
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 429:
		return "rate_limit_error"
	}
	if status >= 500 || status < 400 {
		return "server_error"
	}
	return "invalid_request_error"
}

func isAnthropicErrorType(t string) bool {
	switch t {
	case "invalid_request_error", "authentication_error", "billing_error", "permission_error",
		"not_found_error", "request_too_large", "rate_limit_error", "api_error", "timeout_error",
		"overloaded_error":
		return true
	}
	return false
}
