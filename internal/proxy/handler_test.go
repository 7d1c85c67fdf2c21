package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// fakeVerifier accepts the key "good" and answers err for anything else.
type fakeVerifier struct {
	err       error
	gotClass  apikey.Class
	gotAddr   netip.Addr
	presented []string
}

func (f *fakeVerifier) Verify(_ context.Context, presented string, class apikey.Class, addr netip.Addr) (apikey.Verified, error) {
	f.presented = append(f.presented, presented)
	f.gotClass, f.gotAddr = class, addr
	if presented == "good" {
		return apikey.Verified{Key: apikey.Key{ID: "KEYID"}}, nil
	}
	return apikey.Verified{}, &apikey.VerifyError{ID: "KEYID", Err: f.err}
}

type fakeMarker struct{ marked []apikey.ID }

func (m *fakeMarker) Mark(id apikey.ID, _ time.Time) { m.marked = append(m.marked, id) }

func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name       string
		header     http.Header
		verifyErr  error
		wantStatus int
		wantCode   string
		wantMsg    string
		wantMark   bool
	}{
		{name: "BearerOK", header: http.Header{"Authorization": {"Bearer good"}}, wantStatus: 200, wantMark: true},
		{name: "LowerCaseBearerOK", header: http.Header{"Authorization": {"bearer good"}}, wantStatus: 200, wantMark: true},
		{name: "XAPIKeyOK", header: http.Header{"X-Api-Key": {"good"}}, wantStatus: 200, wantMark: true},
		{name: "Missing", header: http.Header{}, wantStatus: 401, wantCode: "invalid_api_key", wantMsg: "missing API key"},
		{name: "BothHeaders", header: http.Header{"Authorization": {"Bearer good"}, "X-Api-Key": {"good"}}, wantStatus: 401, wantMsg: "more than one credential"},
		{name: "DuplicatedAuthorization", header: http.Header{"Authorization": {"Bearer good", "Bearer good"}}, wantStatus: 401, wantMsg: "more than one credential"},
		{name: "BasicScheme", header: http.Header{"Authorization": {"Basic Z29vZA=="}}, wantStatus: 401, wantMsg: "must be 'Bearer <key>'"},
		{name: "EmptyBearer", header: http.Header{"Authorization": {"Bearer "}}, wantStatus: 401, wantMsg: "must be 'Bearer <key>'"},
		{name: "NoScheme", header: http.Header{"Authorization": {"good"}}, wantStatus: 401, wantMsg: "must be 'Bearer <key>'"},
		{name: "InvalidKey", header: http.Header{"Authorization": {"Bearer bad"}}, verifyErr: apikey.ErrInvalidKey, wantStatus: 401, wantCode: "invalid_key", wantMsg: "invalid API key"},
		{name: "MalformedReadsLikeInvalid", header: http.Header{"Authorization": {"Bearer bad"}}, verifyErr: &apikey.FormatError{Err: apikey.ErrBadChecksum}, wantStatus: 401, wantCode: "malformed_key", wantMsg: "invalid API key"},
		{name: "Revoked", header: http.Header{"Authorization": {"Bearer bad"}}, verifyErr: apikey.ErrKeyRevoked, wantStatus: 401, wantCode: "key_revoked", wantMsg: "key is revoked"},
		{name: "AdminKey", header: http.Header{"Authorization": {"Bearer bad"}}, verifyErr: apikey.ErrWrongClass, wantStatus: 401, wantCode: "wrong_key_class", wantMsg: "admin keys (sga_)"},
		{name: "StoreDownFailsClosed", header: http.Header{"Authorization": {"Bearer bad"}}, verifyErr: errors.New("connection refused"), wantStatus: 503, wantCode: "unavailable", wantMsg: "cannot check keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &fakeVerifier{err: tt.verifyErr}
			m := &fakeMarker{}
			h := NewHandler(slog.New(slog.DiscardHandler), v, m, nil)
			req := httptest.NewRequest("GET", "/v1/models", nil)
			req.RemoteAddr = "[::ffff:192.0.2.7]:5555"
			req.Header = tt.header
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			var body struct {
				Error  struct{ Message, Type, Code string } `json:"error"`
				Object string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %s", rec.Body)
			}
			if tt.wantStatus == 200 {
				if body.Object != "list" {
					t.Errorf("body = %s, want a model list", rec.Body)
				}
				if v.gotClass != apikey.ClassData || v.gotAddr != netip.MustParseAddr("192.0.2.7") {
					t.Errorf("Verify got class %q addr %v, want sgk and the unmapped peer address", v.gotClass, v.gotAddr)
				}
			} else {
				if tt.wantCode != "" && body.Error.Code != tt.wantCode {
					t.Errorf("code = %q, want %q", body.Error.Code, tt.wantCode)
				}
				if !strings.Contains(body.Error.Message, tt.wantMsg) {
					t.Errorf("message = %q, want it to contain %q", body.Error.Message, tt.wantMsg)
				}
				if strings.Contains(rec.Body.String(), "bad") || strings.Contains(rec.Body.String(), "good") {
					t.Errorf("error body echoes the credential: %s", rec.Body)
				}
			}
			if got := len(m.marked) == 1; got != tt.wantMark {
				t.Errorf("marked = %v, want marked %v", m.marked, tt.wantMark)
			}
		})
	}
}

func TestUnknownRouteIs404(t *testing.T) {
	h := NewHandler(slog.New(slog.DiscardHandler), &fakeVerifier{}, &fakeMarker{}, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/nothing", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no route for POST /v2/nothing") {
		t.Errorf("unknown route = %d %s", rec.Code, rec.Body)
	}
}
