package adminclient

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAPIError(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    APIError
		wantMsg string
	}{
		{
			name:    "Validation",
			status:  400,
			body:    `{"error":{"type":"invalid_request","message":"invalid scope \"Chat Bot\": upper-case letter","field":"scopes"}}`,
			want:    APIError{Status: 400, Type: "invalid_request", Message: `invalid scope "Chat Bot": upper-case letter`, Field: "scopes"},
			wantMsg: `scopes: invalid scope "Chat Bot": upper-case letter`,
		},
		{
			name:    "FieldAlreadyInMessage",
			status:  400,
			body:    `{"error":{"type":"invalid_request","message":"ttl: lifetime 9000h0m0s exceeds the maximum of 8760h0m0s","field":"ttl"}}`,
			want:    APIError{Status: 400, Type: "invalid_request", Message: "ttl: lifetime 9000h0m0s exceeds the maximum of 8760h0m0s", Field: "ttl"},
			wantMsg: "ttl: lifetime 9000h0m0s exceeds the maximum of 8760h0m0s",
		},
		{
			name:    "NotFound",
			status:  404,
			body:    `{"error":{"type":"not_found","message":"key not found"}}`,
			want:    APIError{Status: 404, Type: "not_found", Message: "key not found"},
			wantMsg: "key not found",
		},
		{
			name:    "PlainText",
			status:  404,
			body:    "404 page not found\n",
			want:    APIError{Status: 404, Message: "HTTP 404 Not Found: 404 page not found"},
			wantMsg: "HTTP 404 Not Found: 404 page not found",
		},
		{
			name:    "HTML",
			status:  502,
			body:    "<html><body>Bad Gateway</body></html>",
			want:    APIError{Status: 502, Message: "HTTP 502 Bad Gateway"},
			wantMsg: "HTTP 502 Bad Gateway",
		},
		{
			name:    "Empty",
			status:  401,
			want:    APIError{Status: 401, Message: "HTTP 401 Unauthorized"},
			wantMsg: "HTTP 401 Unauthorized",
		},
		{
			name:    "EchoedKeyIsScrubbed",
			status:  401,
			body:    `{"error":{"type":"unauthorized","message":"bad credential ` + testAdminKey + `"}}`,
			want:    APIError{Status: 401, Type: "unauthorized", Message: "bad credential [REDACTED]"},
			wantMsg: "bad credential [REDACTED]",
		},
		{
			name:    "EchoedKeyInTextIsScrubbed",
			status:  400,
			body:    "proxy refused Authorization: Bearer " + testAdminKey,
			want:    APIError{Status: 400, Message: "HTTP 400 Bad Request: proxy refused Authorization: Bearer [REDACTED]"},
			wantMsg: "HTTP 400 Bad Request: proxy refused Authorization: Bearer [REDACTED]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, answer(tt.status, tt.body))
			_, err := c.RevokeKey(t.Context(), "k1")
			got, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("RevokeKey = %v, want *APIError", err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("APIError mismatch (-want +got):\n%s", diff)
			}
			if got.Error() != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", got.Error(), tt.wantMsg)
			}
			if strings.Contains(err.Error(), testAdminKey) {
				t.Errorf("error %q contains the admin key", err)
			}
		})
	}
}

func TestAPIErrorLongTextIsCut(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusInternalServerError, strings.Repeat("é", 500)))
	_, err := c.Key(t.Context(), "k")
	got, ok := errors.AsType[*APIError](err)
	if !ok {
		t.Fatalf("Key = %v, want *APIError", err)
	}
	if len(got.Message) > maxMessage+64 {
		t.Errorf("message is %d bytes, want at most about %d", len(got.Message), maxMessage)
	}
	if !strings.HasSuffix(got.Message, "é…") {
		t.Errorf("message %q is not cut at a character boundary", got.Message)
	}
}
