package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
)

// AlertFilter selects alerts to list. Zero fields select everything the
// admin key may see. Acked is "yes", "no" or "" (either); Since and Until
// select the groups active in [Since, Until). After is the Next cursor of
// the previous page, and Limit the page size (0 for the server's default).
type AlertFilter struct {
	Rule         string
	Subject      string
	Principal    string
	Team         string
	Acked        string
	Since, Until time.Time
	After        string
	Limit        int
}

func (f AlertFilter) query() url.Values {
	q := url.Values{}
	setNonEmpty(q, "rule", f.Rule)
	setNonEmpty(q, "subject", f.Subject)
	setNonEmpty(q, "principal", f.Principal)
	setNonEmpty(q, "team", f.Team)
	setNonEmpty(q, "acked", f.Acked)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	setNonEmpty(q, "after", f.After)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// Alerts returns one page of the alert groups the admin key may see,
// newest first.
func (c *Client) Alerts(ctx context.Context, f AlertFilter) (Page[admin.Alert], error) {
	var p Page[admin.Alert]
	err := c.do(ctx, request{method: http.MethodGet, path: "/alerts", query: f.query()}, &p)
	return p, err
}

// AckAlert acknowledges alert id and returns it. Acknowledging an
// acknowledged alert changes nothing and returns who acknowledged it
// first.
func (c *Client) AckAlert(ctx context.Context, id int64) (Record[admin.Alert], error) {
	var r Record[admin.Alert]
	err := c.do(ctx, request{method: http.MethodPost, path: "/alerts/" + strconv.FormatInt(id, 10) + "/ack"}, &r)
	return r, err
}
