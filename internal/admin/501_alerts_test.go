package admin_test

import (
	"net/http"
	"testing"
)

func TestAlertsNotImplemented(t *testing.T) {
	env := newTenants(t)
	// Every role is told the same: the server keeps no alerts.
	for _, key := range []string{env.rootKey, env.bobAdmin, env.aliceAdmin} {
		for _, req := range []request{
			{method: "GET", path: "/admin/v1/alerts", key: key},
			{method: "POST", path: "/admin/v1/alerts/1/ack", key: key},
		} {
			wantError(t, errorOf(t, env.do(t, req), http.StatusNotImplemented), "not_implemented", "", "not implemented")
		}
	}
	// Authentication still comes first.
	errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/alerts"}), http.StatusUnauthorized)
}
