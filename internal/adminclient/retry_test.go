package adminclient

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
)

func TestRetry(t *testing.T) {
	unavailable := answer(http.StatusServiceUnavailable, `{"error":{"type":"unavailable","message":"store unavailable"}}`)
	ok := answer(http.StatusOK, keyJSON)
	tests := []struct {
		name     string
		answers  []func(http.ResponseWriter)
		call     func(ctx context.Context, c *Client) error
		wantSeen int
		wantErr  bool
	}{
		{
			name:    "RotateWithIdempotencyKeyAfterDrop",
			answers: []func(http.ResponseWriter){dropConnection, ok},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.RotateKey(ctx, "k1", new("24h"), "idem-7")
				return err
			},
			wantSeen: 2,
		},
		{
			name:    "GetAfter503",
			answers: []func(http.ResponseWriter){unavailable, unavailable, ok},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Key(ctx, "k1")
				return err
			},
			wantSeen: 3,
		},
		{
			name:    "GetGivesUp",
			answers: []func(http.ResponseWriter){unavailable},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Keys(ctx, KeyFilter{})
				return err
			},
			wantSeen: attempts,
			wantErr:  true,
		},
		{
			name:    "RotateWithoutIdempotencyKeyNotRetried",
			answers: []func(http.ResponseWriter){dropConnection, ok},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.RotateKey(ctx, "k1", nil, "")
				return err
			},
			wantSeen: 1,
			wantErr:  true,
		},
		{
			// Explain is a POST that changes nothing: safe to resend.
			name:    "ExplainAfter503",
			answers: []func(http.ResponseWriter){unavailable, answer(http.StatusOK, explainJSON)},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Explain(ctx, admin.ExplainRequest{KeyID: "k1", Method: "GET", Path: "/v1/models"})
				return err
			},
			wantSeen: 2,
		},
		{
			name:    "RevokeNotRetried",
			answers: []func(http.ResponseWriter){unavailable, ok},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.RevokeKey(ctx, "k1")
				return err
			},
			wantSeen: 1,
			wantErr:  true,
		},
		{
			name:    "CreateNotRetried",
			answers: []func(http.ResponseWriter){dropConnection, ok},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.CreatePrincipal(ctx, admin.PrincipalRequest{ID: "svc"})
				return err
			},
			wantSeen: 1,
			wantErr:  true,
		},
		{
			name:    "ClientErrorNotRetried",
			answers: []func(http.ResponseWriter){answer(http.StatusNotFound, `{"error":{"type":"not_found","message":"key not found"}}`), ok},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Key(ctx, "k1")
				return err
			},
			wantSeen: 1,
			wantErr:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newTestClient(t, tt.answers...)
			err := tt.call(t.Context(), c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("call = %v, want error: %v", err, tt.wantErr)
			}
			got := f.seen()
			if len(got) != tt.wantSeen {
				t.Fatalf("server saw %d requests, want %d", len(got), tt.wantSeen)
			}
			for i, r := range got[1:] {
				if r != got[0] {
					t.Errorf("attempt %d = %+v, want the same request as the first, %+v", i+2, r, got[0])
				}
			}
		})
	}
}

func TestRetryGivesUpWithLastError(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusServiceUnavailable, `{"error":{"type":"unavailable","message":"store unavailable"}}`))
	_, err := c.Key(t.Context(), "k1")
	if e, ok := errors.AsType[*APIError](err); !ok || e.Status != http.StatusServiceUnavailable || e.Message != "store unavailable" {
		t.Errorf("Key = %v, want the server's 503 error", err)
	}
}
