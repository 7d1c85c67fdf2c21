package adminclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	auditRecord = `{"v":1,"idx":7,"ts":"2030-01-02T03:04:05.000Z","event":"authz","req":"r7","decision":"deny"}`
	auditNote   = "scopegate/test/audit\n8\nROOT=\n\n— scopegate/test/audit SIG=\n"
)

func TestAuditEvents(t *testing.T) {
	c, f := newTestClient(t, answer(http.StatusOK, `{"items":[`+auditRecord+`],"next":"8"}`))
	p, err := c.AuditEvents(t.Context(), AuditFilter{Key: "AbCdEfGhIjKlMnOp", Principal: "p_01", Event: "authz", Decision: "deny",
		Since: time.Date(2030, 1, 2, 4, 0, 0, 0, time.FixedZone("CET", 3600)), Until: time.Date(2030, 1, 3, 0, 0, 0, 5e8, time.UTC),
		After: "7", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := seen{Method: "GET", Path: "/admin/v1/audit/events", Auth: "Bearer " + testAdminKey,
		Query: "after=7&decision=deny&event=authz&key=AbCdEfGhIjKlMnOp&limit=10&principal=p_01" +
			"&since=2030-01-02T03%3A00%3A00Z&until=2030-01-03T00%3A00%3A00.5Z"}
	if d := cmp.Diff([]seen{want}, f.seen()); d != "" {
		t.Errorf("request mismatch (-want +got):\n%s", d)
	}
	if p.Next != "8" || len(p.Items) != 1 || string(p.Items[0]) != auditRecord {
		t.Errorf("AuditEvents = %d items %s, next %q; want the record exactly, next 8", len(p.Items), p.Items, p.Next)
	}
}

func TestAuditEventsNoFilter(t *testing.T) {
	c, f := newTestClient(t, answer(http.StatusOK, `{"items":[],"next":""}`))
	if _, err := c.AuditEvents(t.Context(), AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	if got := f.seen()[0].Query; got != "" {
		t.Errorf("query = %q, want none", got)
	}
}

func TestAuditEvent(t *testing.T) {
	proof := "scopegate-inclusion-proof v1\n7\n" + auditRecord + "\n8\nHASH=\n\n" + auditNote
	body, err := json.Marshal(map[string]any{"record": json.RawMessage(auditRecord), "proof": proof})
	if err != nil {
		t.Fatal(err)
	}
	c, f := newTestClient(t, answer(http.StatusOK, string(body)))
	e, err := c.AuditEvent(t.Context(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.seen()[0].Path; got != "/admin/v1/audit/events/7" {
		t.Errorf("path = %q, want /admin/v1/audit/events/7", got)
	}
	if string(e.Record) != auditRecord || e.Proof != proof {
		t.Errorf("AuditEvent = %s %q, want %s %q", e.Record, e.Proof, auditRecord, proof)
	}
}

func TestAuditCheckpoint(t *testing.T) {
	c, f := newTestClient(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(auditNote))
	})
	got, err := c.AuditCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != auditNote {
		t.Errorf("AuditCheckpoint = %q, want %q", got, auditNote)
	}
	if s := f.seen()[0]; s.Method != "GET" || s.Path != "/admin/v1/audit/checkpoint" {
		t.Errorf("request = %s %s, want GET /admin/v1/audit/checkpoint", s.Method, s.Path)
	}
}

func TestAuditCheckpointError(t *testing.T) {
	c, _ := newTestClient(t, answer(http.StatusNotFound, `{"error":{"type":"not_found","message":"no checkpoint signed yet"}}`))
	_, err := c.AuditCheckpoint(t.Context())
	ae, ok := errors.AsType[*APIError](err)
	if !ok || ae.Status != 404 || ae.Type != "not_found" || ae.Message != "no checkpoint signed yet" {
		t.Errorf("AuditCheckpoint = %v, want a 404 not_found APIError", err)
	}
}
