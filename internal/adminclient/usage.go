package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
)

// UsageFilter selects and groups a usage report. Zero times leave the
// range to the server (the current UTC month so far); the server widens
// times inside an hour to whole hours. A nil GroupBy leaves the grouping to
// the server (by key); an empty, non-nil one asks for totals only. The
// other fields are exact-match filters; empty matches everything.
type UsageFilter struct {
	From, To  time.Time
	GroupBy   []string
	Key       string
	Principal string
	Team      string
	Feature   string
	Model     string
}

func (f UsageFilter) query() url.Values {
	q := url.Values{}
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339))
	}
	if f.GroupBy != nil {
		q.Set("group_by", strings.Join(f.GroupBy, ","))
	}
	setNonEmpty(q, "key", f.Key)
	setNonEmpty(q, "principal", f.Principal)
	setNonEmpty(q, "team", f.Team)
	setNonEmpty(q, "feature", f.Feature)
	setNonEmpty(q, "model", f.Model)
	return q
}

// Usage returns the usage report f asks for, within what the admin key may
// see: requests, tokens and cost (in US dollars) per group, and totals.
// The answer's From and To are the range the server counted.
func (c *Client) Usage(ctx context.Context, f UsageFilter) (Record[admin.UsageReport], error) {
	var r Record[admin.UsageReport]
	err := c.do(ctx, request{method: http.MethodGet, path: "/usage", query: f.query()}, &r)
	return r, err
}
