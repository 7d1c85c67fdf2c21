package adminclient

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/scopegate/scopegate/internal/admin"
)

// APIError is an answer of the admin API that is not 2xx.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Type is the API's error type ("invalid_request", "unauthorized",
	// "not_found", "conflict", …), or empty when the answer was not an
	// admin API error body (a proxy's error page, say).
	Type string
	// Message is the server's explanation, for people.
	Message string
	// Field names the offending request field on validation errors.
	Field string
}

// Error returns the server's message, prefixed by the field it is about.
func (e *APIError) Error() string {
	if e.Field == "" || strings.HasPrefix(e.Message, e.Field+":") {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// maxMessage caps the text taken from an answer that is not an API error
// body.
const maxMessage = 200

// apiError decodes the answer to a failed request.
func (c *Client) apiError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var eb admin.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" {
		e.Type, e.Message, e.Field = eb.Error.Type, eb.Error.Message, eb.Error.Field
	} else {
		e.Message = fallbackMessage(status, body)
	}
	// The server never echoes a credential, but a proxy in front of it
	// might; the key must not reach a terminal or a log through us.
	e.Message = c.scrub(e.Message)
	e.Field = c.scrub(e.Field)
	return e
}

// fallbackMessage describes an answer without an API error body: the
// status, and the first line of a short plain-text body such as Go's
// "404 page not found".
func fallbackMessage(status int, body []byte) string {
	msg := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "<") || strings.ContainsFunc(line, unicode.IsControl) {
		return msg
	}
	if len(line) > maxMessage {
		line = strings.ToValidUTF8(line[:maxMessage], "") + "…"
	}
	return msg + ": " + line
}

func (c *Client) scrub(s string) string {
	return strings.ReplaceAll(s, c.adminKey, "[REDACTED]")
}
