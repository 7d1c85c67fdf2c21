package admin_test

import (
	"net/http"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
)

// An alert that does not exist and one outside the caller's reach answer
// the same 404, and stay unacknowledged.
func TestAlertAckNotFound(t *testing.T) {
	env := newAlertEnv(t)
	for _, tt := range []struct {
		name, key string
		id        string
	}{
		{"Unknown", env.rootKey, "99"},
		{"TeamAdminOtherTeam", env.bobAdmin, "4"},
		{"TeamAdminNetwork", env.bobAdmin, "1"},
		{"SelfAdminOther", env.aliceAdmin, "3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "POST", path: "/admin/v1/alerts/" + tt.id + "/ack", key: tt.key}), http.StatusNotFound)
			diff(t, "error", got, admin.ErrorDetail{Type: "not_found", Message: "not found"})
		})
	}
	ids, _ := env.alertIDs(t, env.rootKey, "/admin/v1/alerts?acked=yes")
	diff(t, "acked ids", ids, []int64{})
	if n := len(env.recorder.got()); n != 0 {
		t.Errorf("refused acks recorded %d changes", n)
	}
}
