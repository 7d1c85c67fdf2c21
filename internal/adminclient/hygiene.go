package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scopegate/scopegate/internal/admin"
)

// HygieneFilter sets the thresholds of a key hygiene report. A nil field
// leaves it to the server's default (30 days unused, 30 days unexercised,
// 10 keys per principal); zero is a threshold like any other.
type HygieneFilter struct {
	UnusedDays      *int
	UnexercisedDays *int
	SprawlKeys      *int
}

func (f HygieneFilter) query() url.Values {
	q := url.Values{}
	for _, p := range []struct {
		name string
		v    *int
	}{{"unused_days", f.UnusedDays}, {"unexercised_days", f.UnexercisedDays}, {"sprawl_keys", f.SprawlKeys}} {
		if p.v != nil {
			q.Set(p.name, strconv.Itoa(*p.v))
		}
	}
	return q
}

// Hygiene returns the key hygiene report of the keys the admin key
// reaches: unused keys, unexercised scopes with a narrower suggestion,
// lifetimes beyond the server's maximum, and principals with too many
// keys.
func (c *Client) Hygiene(ctx context.Context, f HygieneFilter) (Record[admin.HygieneReport], error) {
	var r Record[admin.HygieneReport]
	err := c.do(ctx, request{method: http.MethodGet, path: "/hygiene", query: f.query()}, &r)
	return r, err
}
