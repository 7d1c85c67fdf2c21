package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
)

// TestMetricsRoute checks that GET /metrics serves the configured handler
// without a credential, and answers the API's JSON 404 without one.
func TestMetricsRoute(t *testing.T) {
	const exposition = "# TYPE scopegate_up gauge\nscopegate_up 1\n"
	metricsHandler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, exposition)
	})
	tests := []struct {
		name       string
		handler    http.Handler
		wantStatus int
		wantBody   string
	}{
		{"Served", metricsHandler, http.StatusOK, exposition},
		{"NoHandler", nil, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(admin.NewHandler(admin.Config{Metrics: tt.handler}))
			defer srv.Close()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET /metrics = %d %s, want %d", resp.StatusCode, b, tt.wantStatus)
			}
			if tt.wantBody != "" && string(b) != tt.wantBody {
				t.Errorf("GET /metrics body = %q, want %q", b, tt.wantBody)
			}
			if tt.wantStatus == http.StatusNotFound {
				var eb admin.ErrorBody
				if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Type != "not_found" {
					t.Errorf("404 body %s is not the API's not_found error (%v)", b, err)
				}
			}
		})
	}
}
