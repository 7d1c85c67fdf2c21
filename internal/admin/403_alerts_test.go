package admin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// An admin key whose principal's ceiling holds no role reads and
// acknowledges no alert, and is refused before the server says whether it
// keeps alerts.
func TestAlertsForbidden(t *testing.T) {
	withInbox := func(db *sqlite.DB, now func() time.Time) admin.AlertInbox {
		return anomaly.NewInbox(anomaly.InboxConfig{Store: sqlite.NewAlertStore(db), Now: now})
	}
	for _, alerts := range []func(*sqlite.DB, func() time.Time) admin.AlertInbox{withInbox, nil} {
		env := newTestEnvWith(t, envConfig{alerts: alerts})
		env.principal(t, apikey.PrincipalSpec{ID: "eve@example.com", Team: "ops", Scopes: []string{"keys:self"}})
		_, eveKey := env.adminKey(t, "eve@example.com", "keys:self")
		call[admin.Principal](t, env, request{method: "PATCH", path: "/admin/v1/principals/eve@example.com", key: env.rootKey, body: `{"scopes":["chatbot"]}`}, 200)
		for _, req := range []request{
			{method: "GET", path: "/admin/v1/alerts", key: eveKey},
			{method: "POST", path: "/admin/v1/alerts/1/ack", key: eveKey},
		} {
			got := errorOf(t, env.do(t, req), http.StatusForbidden)
			diff(t, "error", got, admin.ErrorDetail{Type: "forbidden", Message: apikey.ErrForbidden.Error()})
		}
	}
}
