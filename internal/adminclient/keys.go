package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scopegate/scopegate/internal/admin"
)

// KeyFilter selects keys to list. Zero fields select everything the admin
// key may see; After is the Next cursor of the previous page, and Limit the
// page size (0 for the server's default).
type KeyFilter struct {
	Principal string
	Team      string
	Status    string
	After     string
	Limit     int
}

func (f KeyFilter) query() url.Values {
	q := url.Values{}
	setNonEmpty(q, "principal", f.Principal)
	setNonEmpty(q, "team", f.Team)
	setNonEmpty(q, "status", f.Status)
	setNonEmpty(q, "after", f.After)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

func keyPath(id string) string { return "/keys/" + url.PathEscape(id) }

// CreateKey creates a key. The answer's Value.Key holds the key itself,
// which the server never shows again.
func (c *Client) CreateKey(ctx context.Context, req admin.KeyRequest) (Record[admin.Key], error) {
	var r Record[admin.Key]
	err := c.do(ctx, request{method: http.MethodPost, path: "/keys", body: req}, &r)
	return r, err
}

// Keys returns one page of the keys the admin key may see.
func (c *Client) Keys(ctx context.Context, f KeyFilter) (Page[admin.Key], error) {
	var p Page[admin.Key]
	err := c.do(ctx, request{method: http.MethodGet, path: "/keys", query: f.query()}, &p)
	return p, err
}

// Key returns the record of key id.
func (c *Client) Key(ctx context.Context, id string) (Record[admin.Key], error) {
	var r Record[admin.Key]
	err := c.do(ctx, request{method: http.MethodGet, path: keyPath(id)}, &r)
	return r, err
}

// UpdateKey changes the fields of key id that patch sets. A patch's Limits
// replace all of the key's limits.
func (c *Client) UpdateKey(ctx context.Context, id string, patch admin.KeyPatch) (Record[admin.Key], error) {
	var r Record[admin.Key]
	err := c.do(ctx, request{method: http.MethodPatch, path: keyPath(id), body: patch}, &r)
	return r, err
}

// SuspendKey stops key id until it is resumed.
func (c *Client) SuspendKey(ctx context.Context, id string) (Record[admin.Key], error) {
	return c.keyAction(ctx, id, "suspend")
}

// ResumeKey lets a suspended key id work again.
func (c *Client) ResumeKey(ctx context.Context, id string) (Record[admin.Key], error) {
	return c.keyAction(ctx, id, "resume")
}

// RevokeKey stops key id for good.
func (c *Client) RevokeKey(ctx context.Context, id string) (Record[admin.Key], error) {
	return c.keyAction(ctx, id, "revoke")
}

func (c *Client) keyAction(ctx context.Context, id, action string) (Record[admin.Key], error) {
	var r Record[admin.Key]
	err := c.do(ctx, request{method: http.MethodPost, path: keyPath(id) + "/" + action}, &r)
	return r, err
}

// RotateKey replaces key id with a new key of the same settings and returns
// the new key's record with the key itself in Value.Key. The old key keeps
// working for grace (a Go duration such as "24h"; nil for the server's
// default, "0s" to stop it at once).
//
// idempotencyKey, when not empty, is sent as the Idempotency-Key header: the
// server answers a repeated rotation with the same idempotency key with the
// key it already created. It also makes the request safe for this client
// to retry after a network failure, so callers should pass one.
func (c *Client) RotateKey(ctx context.Context, id string, grace *string, idempotencyKey string) (Record[admin.Key], error) {
	var r Record[admin.Key]
	err := c.do(ctx, request{method: http.MethodPost, path: keyPath(id) + "/rotate",
		body: admin.RotateRequest{Grace: grace}, idempotencyKey: idempotencyKey}, &r)
	return r, err
}
