package adminclient

import (
	"context"
	"net/http"

	"github.com/scopegate/scopegate/internal/admin"
)

// Explain asks what the gateway would decide for a key and a data-plane
// request, and why. A deny is an answer, not an error: the error is
// non-nil only when no explanation could be had. req.Key, when set, is the
// whole key; it travels only in the request body, to the admin API.
func (c *Client) Explain(ctx context.Context, req admin.ExplainRequest) (Record[admin.ExplainResult], error) {
	var r Record[admin.ExplainResult]
	err := c.do(ctx, request{method: http.MethodPost, path: "/explain", body: req, readOnly: true}, &r)
	return r, err
}
