package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scopegate/scopegate/internal/admin"
)

// PrincipalFilter selects principals to list. Zero fields select
// everything; After is the Next cursor of the previous page, and Limit the
// page size (0 for the server's default).
type PrincipalFilter struct {
	Team   string
	Status string
	After  string
	Limit  int
}

func (f PrincipalFilter) query() url.Values {
	q := url.Values{}
	setNonEmpty(q, "team", f.Team)
	setNonEmpty(q, "status", f.Status)
	setNonEmpty(q, "after", f.After)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

func setNonEmpty(q url.Values, name, value string) {
	if value != "" {
		q.Set(name, value)
	}
}

func principalPath(id string) string { return "/principals/" + url.PathEscape(id) }

// CreatePrincipal creates a principal.
func (c *Client) CreatePrincipal(ctx context.Context, req admin.PrincipalRequest) (Record[admin.Principal], error) {
	var r Record[admin.Principal]
	err := c.do(ctx, request{method: http.MethodPost, path: "/principals", body: req}, &r)
	return r, err
}

// Principals returns one page of the principals the admin key may see.
func (c *Client) Principals(ctx context.Context, f PrincipalFilter) (Page[admin.Principal], error) {
	var p Page[admin.Principal]
	err := c.do(ctx, request{method: http.MethodGet, path: "/principals", query: f.query()}, &p)
	return p, err
}

// Principal returns the principal id.
func (c *Client) Principal(ctx context.Context, id string) (Record[admin.Principal], error) {
	var r Record[admin.Principal]
	err := c.do(ctx, request{method: http.MethodGet, path: principalPath(id)}, &r)
	return r, err
}

// UpdatePrincipal changes the fields of principal id that patch sets.
func (c *Client) UpdatePrincipal(ctx context.Context, id string, patch admin.PrincipalPatch) (Record[admin.Principal], error) {
	var r Record[admin.Principal]
	err := c.do(ctx, request{method: http.MethodPatch, path: principalPath(id), body: patch}, &r)
	return r, err
}

// DisablePrincipal disables principal id, which stops all of its keys.
func (c *Client) DisablePrincipal(ctx context.Context, id string) (Record[admin.Principal], error) {
	return c.principalAction(ctx, id, "disable")
}

// EnablePrincipal enables principal id again, which brings back those of
// its keys that are otherwise usable.
func (c *Client) EnablePrincipal(ctx context.Context, id string) (Record[admin.Principal], error) {
	return c.principalAction(ctx, id, "enable")
}

func (c *Client) principalAction(ctx context.Context, id, action string) (Record[admin.Principal], error) {
	var r Record[admin.Principal]
	err := c.do(ctx, request{method: http.MethodPost, path: principalPath(id) + "/" + action}, &r)
	return r, err
}
