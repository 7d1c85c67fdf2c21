package adminclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
)

// AuditFilter selects audit records to list. Zero fields select every
// record; After is the Next cursor of the previous page, and Limit the
// page size (0 for the server's default).
type AuditFilter struct {
	Key       string
	Principal string // as recorded: a pseudonym when pseudonyms are on
	Event     string
	Decision  string
	Since     time.Time
	Until     time.Time
	After     string
	Limit     int
}

func (f AuditFilter) query() url.Values {
	q := url.Values{}
	setNonEmpty(q, "key", f.Key)
	setNonEmpty(q, "principal", f.Principal)
	setNonEmpty(q, "event", f.Event)
	setNonEmpty(q, "decision", f.Decision)
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

// AuditEvents returns one page of audit records, in log order, each
// exactly as the log holds it. Next is empty when the log holds no later
// record yet; a follower keeps the last Next it got and asks again.
func (c *Client) AuditEvents(ctx context.Context, f AuditFilter) (admin.List[json.RawMessage], error) {
	var p admin.List[json.RawMessage]
	err := c.do(ctx, request{method: http.MethodGet, path: "/audit/events", query: f.query()}, &p)
	return p, err
}

// AuditEvent returns record idx and its inclusion proof, in the text form
// that auditverify.VerifyInclusion checks. Proof is empty while no signed
// checkpoint covers the record yet.
func (c *Client) AuditEvent(ctx context.Context, idx int64) (admin.AuditEvent, error) {
	var e admin.AuditEvent
	err := c.do(ctx, request{method: http.MethodGet, path: "/audit/events/" + strconv.FormatInt(idx, 10)}, &e)
	return e, err
}

// AuditCheckpoint returns the latest signed checkpoint, the signed note
// exactly as the server sent it.
func (c *Client) AuditCheckpoint(ctx context.Context) ([]byte, error) {
	return c.send(ctx, request{method: http.MethodGet, path: "/audit/checkpoint"})
}
