package adminclient

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/admin"
)

const alertJSON = `{"id":42,"rule":"probing","subject":"key:k1","principal":"alice","team":"red","key":"k1",` +
	`"figures":"denials=12 window=1m0s","first_at":"2026-11-28T12:00:00Z","last_at":"2026-11-28T12:05:00Z","count":3,` +
	`"acked":true,"acked_at":"2026-11-28T13:00:00Z","acked_by":"root/KeyR"}`

func TestAlertRequests(t *testing.T) {
	since := time.Date(2026, 11, 28, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name   string
		call   func(ctx context.Context, c *Client) error
		answer string
		want   seen
	}{
		{"ListDefaults", func(ctx context.Context, c *Client) error { _, err := c.Alerts(ctx, AlertFilter{}); return err },
			`{"items":[],"next":""}`, seen{Method: "GET", Path: "/admin/v1/alerts"}},
		{"ListAll", func(ctx context.Context, c *Client) error {
			_, err := c.Alerts(ctx, AlertFilter{Rule: "probing", Subject: "key:k1", Principal: "alice", Team: "red",
				Acked: "no", Since: since, Until: since.Add(time.Hour + time.Millisecond), After: "17", Limit: 5})
			return err
		}, `{"items":[],"next":""}`, seen{Method: "GET", Path: "/admin/v1/alerts",
			Query: "acked=no&after=17&limit=5&principal=alice&rule=probing&since=2026-11-28T12%3A00%3A00Z&subject=key%3Ak1&team=red&until=2026-11-28T13%3A00%3A00.001Z"}},
		{"Ack", func(ctx context.Context, c *Client) error { _, err := c.AckAlert(ctx, 42); return err },
			alertJSON, seen{Method: "POST", Path: "/admin/v1/alerts/42/ack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newTestClient(t, answer(http.StatusOK, tt.answer))
			if err := tt.call(t.Context(), c); err != nil {
				t.Fatalf("call = %v", err)
			}
			tt.want.Auth = "Bearer " + testAdminKey
			if diff := cmp.Diff([]seen{tt.want}, f.seen()); diff != "" {
				t.Errorf("requests mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAlertAnswers(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusOK, `{"items":[`+alertJSON+`],"next":"42"}`))
	p, err := c.Alerts(t.Context(), AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)
	want := admin.Alert{ID: 42, Rule: "probing", Subject: "key:k1", Principal: "alice", Team: "red", Key: "k1",
		Figures: "denials=12 window=1m0s", FirstAt: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		LastAt: time.Date(2026, 11, 28, 12, 5, 0, 0, time.UTC), Count: 3, Acked: true, AckedAt: &at, AckedBy: "root/KeyR"}
	if p.Next != "42" || len(p.Items) != 1 {
		t.Fatalf("Alerts = next %q, %d items; want next 42, 1 item", p.Next, len(p.Items))
	}
	if diff := cmp.Diff(want, p.Items[0].Value); diff != "" {
		t.Errorf("alert mismatch (-want +got):\n%s", diff)
	}
	if string(p.Items[0].JSON) != alertJSON {
		t.Errorf("JSON = %s, want %s", p.Items[0].JSON, alertJSON)
	}
}
