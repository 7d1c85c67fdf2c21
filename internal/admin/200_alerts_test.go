package admin_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// alertRecorder keeps the changes the inbox records.
type alertRecorder struct {
	mu      sync.Mutex
	changes []apikey.Change
}

func (r *alertRecorder) Record(_ context.Context, c apikey.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	return nil
}

func (r *alertRecorder) got() []apikey.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]apikey.Change(nil), r.changes...)
}

// alertEnv is the tenants stack serving alerts from its database, which
// holds four alert groups (ids 1 to 4, oldest first):
//
//	1 credential_burst  net:203.0.113.0/24  no principal          t0-1h
//	2 probing           key:<aliceData>     alice  red            t0-30m … t0-20m, 3 alerts
//	3 rate_spike        key:<daveData>      dave   red            t0-10m
//	4 probing           key:<carolData>     carol  blue           t0-5m
type alertEnv struct {
	*tenants
	store    *sqlite.AlertStore
	recorder *alertRecorder
}

func newAlertEnv(t *testing.T) *alertEnv {
	t.Helper()
	env := &alertEnv{recorder: &alertRecorder{}}
	env.tenants = newTenantsWith(t, envConfig{alerts: func(db *sqlite.DB, now func() time.Time) admin.AlertInbox {
		env.store = sqlite.NewAlertStore(db)
		return anomaly.NewInbox(anomaly.InboxConfig{Store: env.store, Recorder: env.recorder, Now: now})
	}})
	for _, a := range []anomaly.StoredAlert{
		{Rule: "credential_burst", Subject: "net:203.0.113.0/24", Figures: "invalid=40 window=1m0s",
			FirstAt: t0.Add(-time.Hour), LastAt: t0.Add(-time.Hour)},
		{Rule: "probing", Subject: "key:" + string(env.aliceData), Principal: "alice@example.com", Team: "red", Key: env.aliceData,
			Figures: "denials=30 window=1m0s", FirstAt: t0.Add(-30 * time.Minute), LastAt: t0.Add(-20 * time.Minute), Count: 3},
		{Rule: "rate_spike", Subject: "key:" + string(env.daveData), Principal: "dave@example.com", Team: "red", Key: env.daveData,
			Figures: "rpm=900 mean=12.0", FirstAt: t0.Add(-10 * time.Minute), LastAt: t0.Add(-10 * time.Minute)},
		{Rule: "probing", Subject: "key:" + string(env.carolData), Principal: "carol@example.com", Team: "blue", Key: env.carolData,
			Figures: "denials=10 window=1m0s", FirstAt: t0.Add(-5 * time.Minute), LastAt: t0.Add(-5 * time.Minute)},
	} {
		if _, err := env.store.Insert(t.Context(), a); err != nil {
			t.Fatalf("seed alerts: %v", err)
		}
	}
	return env
}

// alertIDs lists path as key and returns the ids and next cursor.
func (e *alertEnv) alertIDs(t *testing.T, key, path string) ([]int64, string) {
	t.Helper()
	list := call[admin.List[admin.Alert]](t, e.testEnv, request{method: "GET", path: path, key: key}, 200)
	ids := []int64{}
	for _, a := range list.Items {
		ids = append(ids, a.ID)
	}
	return ids, list.Next
}

// TestAlertListAnswer checks the answer byte for byte: newest first, every
// field, times in UTC.
func TestAlertListAnswer(t *testing.T) {
	env := newAlertEnv(t)
	resp := env.do(t, request{method: "GET", path: "/admin/v1/alerts?team=red&limit=1", key: env.rootKey})
	if resp.status != 200 {
		t.Fatalf("GET /admin/v1/alerts = %d %s", resp.status, resp.body)
	}
	want := `{"items":[{"id":3,"rule":"rate_spike","subject":"key:` + string(env.daveData) + `","principal":"dave@example.com",` +
		`"team":"red","key":"` + string(env.daveData) + `","figures":"rpm=900 mean=12.0","first_at":"2030-01-02T02:54:05Z",` +
		`"last_at":"2030-01-02T02:54:05Z","count":1,"acked":false}],"next":"3"}` + "\n"
	if string(resp.body) != want {
		t.Errorf("body:\n%s\nwant:\n%s", resp.body, want)
	}
}

// TestAlertListReach checks who sees which alerts.
func TestAlertListReach(t *testing.T) {
	env := newAlertEnv(t)
	for _, tt := range []struct {
		name, key, query string
		want             []int64
	}{
		{"Admin", env.rootKey, "", []int64{4, 3, 2, 1}},
		{"TeamAdmin", env.bobAdmin, "", []int64{3, 2}},
		{"TeamAdminOtherTeam", env.bobAdmin, "?team=blue", []int64{}},
		{"TeamAdminOtherPrincipal", env.bobAdmin, "?principal=carol@example.com", []int64{}},
		{"TeamAdminNetwork", env.bobAdmin, "?subject=net:203.0.113.0/24", []int64{}},
		{"SelfAdmin", env.aliceAdmin, "", []int64{2}},
		{"SelfAdminOther", env.aliceAdmin, "?principal=dave@example.com", []int64{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := env.alertIDs(t, tt.key, "/admin/v1/alerts"+tt.query)
			diff(t, "ids", got, tt.want)
		})
	}
}

func TestAlertListFilters(t *testing.T) {
	env := newAlertEnv(t)
	for _, tt := range []struct {
		name, query string
		want        []int64
	}{
		{"Rule", "rule=probing", []int64{4, 2}},
		{"Subject", "subject=key:" + string(env.carolData), []int64{4}},
		{"Principal", "principal=alice@example.com", []int64{2}},
		{"Team", "team=red", []int64{3, 2}},
		{"RuleAndTeam", "rule=probing&team=blue", []int64{4}},
		{"AckedAny", "acked=any", []int64{4, 3, 2, 1}},
		{"AckedNo", "acked=no", []int64{4, 3, 2, 1}},
		{"AckedYes", "acked=yes", []int64{}},
		// Groups active in [since, until): 2 lasted until t0-20m.
		{"Since", "since=2030-01-02T02:44:05Z", []int64{4, 3, 2}},
		{"Until", "until=2030-01-02T02:40:00Z", []int64{2, 1}},
		{"SinceUntil", "since=2030-01-02T02:30:00Z&until=2030-01-02T02:55:00Z", []int64{3, 2}},
		{"After", "after=3", []int64{2, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := env.alertIDs(t, env.rootKey, "/admin/v1/alerts?"+tt.query)
			diff(t, "ids", got, tt.want)
		})
	}
}

func TestAlertListPages(t *testing.T) {
	env := newAlertEnv(t)
	var all []int64
	path := "/admin/v1/alerts?limit=3"
	for range 3 {
		ids, next := env.alertIDs(t, env.rootKey, path)
		all = append(all, ids...)
		if next == "" {
			break
		}
		path = "/admin/v1/alerts?limit=3&after=" + next
	}
	diff(t, "ids over pages", all, []int64{4, 3, 2, 1})
}

// TestAlertAck checks an acknowledgement: who and when, recorded as an
// admin event, and the same answer when repeated.
func TestAlertAck(t *testing.T) {
	env := newAlertEnv(t)
	env.clock.Advance(time.Minute)
	got := call[admin.Alert](t, env.testEnv, request{method: "POST", path: "/admin/v1/alerts/3/ack", key: env.bobAdmin}, 200)
	bob := "bob@example.com/" + string(env.bobAdminID)
	ackedAt := t0.Add(time.Minute)
	want := admin.Alert{ID: 3, Rule: "rate_spike", Subject: "key:" + string(env.daveData), Principal: "dave@example.com",
		Team: "red", Key: string(env.daveData), Figures: "rpm=900 mean=12.0", FirstAt: t0.Add(-10 * time.Minute),
		LastAt: t0.Add(-10 * time.Minute), Count: 1, Acked: true, AckedAt: &ackedAt, AckedBy: bob}
	diff(t, "acked alert", got, want)
	diff(t, "recorded changes", env.recorder.got(), []apikey.Change{{Action: "alert_group.ack", Actor: bob, Target: "3",
		Principal: "dave@example.com", Fields: []apikey.FieldChange{
			{Name: "acked_at", After: "2030-01-02T03:05:05Z"}, {Name: "acked_by", After: bob}}}})

	// Again, later, by an admin: the first acknowledgement stands.
	env.clock.Advance(time.Minute)
	again := call[admin.Alert](t, env.testEnv, request{method: "POST", path: "/admin/v1/alerts/3/ack", key: env.rootKey}, 200)
	diff(t, "acked again", again, want)
	if n := len(env.recorder.got()); n != 1 {
		t.Errorf("a repeated ack recorded %d changes in all, want 1", n)
	}
	ids, _ := env.alertIDs(t, env.rootKey, "/admin/v1/alerts?acked=yes")
	diff(t, "acked ids", ids, []int64{3})
	ids, _ = env.alertIDs(t, env.rootKey, "/admin/v1/alerts?acked=no")
	diff(t, "unacked ids", ids, []int64{4, 2, 1})

	// A keys:self admin acknowledges its own alerts, and an admin any.
	call[admin.Alert](t, env.testEnv, request{method: "POST", path: "/admin/v1/alerts/2/ack", key: env.aliceAdmin}, 200)
	call[admin.Alert](t, env.testEnv, request{method: "POST", path: "/admin/v1/alerts/1/ack", key: env.rootKey, body: `{"ignored":true}`}, 200)
}
