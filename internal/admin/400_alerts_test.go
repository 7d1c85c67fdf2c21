package admin_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestAlertsBadRequest(t *testing.T) {
	env := newAlertEnv(t)
	for _, tt := range []struct {
		name, query, field, msg string
	}{
		{"UnknownParam", "status=open", "status", "unknown query parameter"},
		{"RepeatedParam", "rule=probing&rule=budget", "rule", "more than once"},
		{"Acked", "acked=maybe", "acked", "must be yes, no or any"},
		{"Since", "since=yesterday", "since", "RFC 3339"},
		{"Until", "until=2030-01-02", "until", "RFC 3339"},
		{"UntilBeforeSince", "since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", "until", "must be after since"},
		{"AfterNotANumber", "after=abc", "after", "must be an alert id"},
		{"AfterZero", "after=0", "after", "must be an alert id"},
		{"LimitZero", "limit=0", "limit", "from 1 to 500"},
		{"LimitTooLarge", "limit=501", "limit", "from 1 to 500"},
		{"Rule", "rule=" + strings.Repeat("x", 33), "rule", "must be a rule name"},
		{"RuleWithSpace", "rule=a%20b", "rule", "must be a rule name"},
		{"Subject", "subject=" + strings.Repeat("x", 257), "subject", "must be a subject"},
		{"Principal", "principal=%00", "principal", "is not a valid principal id"},
		{"Team", "team=" + strings.Repeat("x", 129), "team", "longer than 128"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/alerts?" + tt.query, key: env.rootKey}), http.StatusBadRequest)
			wantError(t, got, "invalid_request", tt.field, tt.msg)
		})
	}
	for _, id := range []string{"abc", "0", "-1", "1.5", "99999999999999999999"} {
		t.Run("AckID/"+id, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "POST", path: "/admin/v1/alerts/" + id + "/ack", key: env.rootKey}), http.StatusBadRequest)
			wantError(t, got, "invalid_request", "id", "must be an alert id")
		})
	}
}
