package adminclient

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/admin"
)

const hygieneJSON = `{"generated_at":"2026-11-28T12:00:00Z","policy":{"unused_days":30,"unexercised_days":30,"max_ttl":"365d","sprawl_keys":10},` +
	`"usage_from":"2026-10-29T12:00:00Z","usage_to":"2026-11-28T13:00:00Z","keys_checked":1,` +
	`"unused":[{"id":"k1","name":"ci","principal":"alice","status":"active","created_at":"2026-01-02T03:04:05Z","idle_days":330}],` +
	`"unexercised":[],"long_lived":[],"sprawl":[]}`

func TestHygieneRequests(t *testing.T) {
	tests := []struct {
		name   string
		filter HygieneFilter
		query  string
	}{
		{"Defaults", HygieneFilter{}, ""},
		{"All", HygieneFilter{UnusedDays: new(7), UnexercisedDays: new(90), SprawlKeys: new(3)}, "sprawl_keys=3&unexercised_days=90&unused_days=7"},
		// Zero is sent: it is a threshold, not "the default".
		{"Zero", HygieneFilter{UnusedDays: new(0)}, "unused_days=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newTestClient(t, answer(http.StatusOK, hygieneJSON))
			if _, err := c.Hygiene(t.Context(), tt.filter); err != nil {
				t.Fatalf("Hygiene = %v", err)
			}
			want := []seen{{Method: "GET", Path: "/admin/v1/hygiene", Query: tt.query, Auth: "Bearer " + testAdminKey}}
			if diff := cmp.Diff(want, f.seen()); diff != "" {
				t.Errorf("requests mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHygieneAnswer(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusOK, hygieneJSON))
	r, err := c.Hygiene(t.Context(), HygieneFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := admin.HygieneReport{GeneratedAt: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		Policy:    admin.HygienePolicy{UnusedDays: 30, UnexercisedDays: 30, MaxTTL: "365d", SprawlKeys: 10},
		UsageFrom: time.Date(2026, 10, 29, 12, 0, 0, 0, time.UTC), UsageTo: time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC),
		KeysChecked: 1,
		Unused: []admin.HygieneUnusedKey{{ID: "k1", Name: "ci", Principal: "alice", Status: "active",
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), IdleDays: 330}},
		Unexercised: []admin.HygieneUnexercisedKey{}, LongLived: []admin.HygieneLongLivedKey{}, Sprawl: []admin.HygieneSprawl{}}
	if diff := cmp.Diff(want, r.Value); diff != "" {
		t.Errorf("Hygiene value mismatch (-want +got):\n%s", diff)
	}
	if string(r.JSON) != hygieneJSON {
		t.Errorf("Hygiene JSON = %s, want %s", r.JSON, hygieneJSON)
	}
}
