package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
)

// The audit routes: what the AuditReader answers is passed through as it
// is (records, proofs, checkpoints), and what the client asks is passed to
// it parsed and checked.

// fakeAudit is an AuditReader over a fixed list of records. Records pages
// through them by position and records each filter it gets; Subscribe hands
// out stream.
type fakeAudit struct {
	records    []json.RawMessage
	checkpoint []byte // nil: none signed yet
	signed     int64  // the size the checkpoint covers
	pseudonyms bool
	stream     chan json.RawMessage
	// err, when set, is what every method but Pseudonym returns.
	err error

	mu      sync.Mutex
	filters []admin.AuditFilter
	sizes   [][2]int64
	// subscribed is closed when Subscribe is called; unsubscribed when
	// the context it was given is done.
	subscribed, unsubscribed chan struct{}
}

var _ admin.AuditReader = (*fakeAudit)(nil)

func newFakeAudit(n int) *fakeAudit {
	f := &fakeAudit{checkpoint: []byte("scopegate/test/audit\n3\nROOT=\n\n— scopegate/test/audit SIG=\n"), signed: 3,
		stream: make(chan json.RawMessage), subscribed: make(chan struct{}), unsubscribed: make(chan struct{})}
	for i := range n {
		f.records = append(f.records, record(i))
	}
	return f
}

// record returns the line of record i as the log would write it.
func record(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"v":1,"idx":%d,"ts":"2030-01-02T03:04:05.000Z","event":"authz","req":"r%d","decision":"allow"}`, i, i))
}

func (f *fakeAudit) Records(_ context.Context, flt admin.AuditFilter) (admin.List[json.RawMessage], error) {
	f.mu.Lock()
	f.filters = append(f.filters, flt)
	f.mu.Unlock()
	if f.err != nil {
		return admin.List[json.RawMessage]{}, f.err
	}
	var page admin.List[json.RawMessage]
	end := min(flt.After+int64(flt.Limit), int64(len(f.records)))
	for i := flt.After; i < end; i++ {
		page.Items = append(page.Items, f.records[i])
	}
	if end < int64(len(f.records)) {
		page.Next = fmt.Sprint(end)
	}
	return page, nil
}

func (f *fakeAudit) Record(_ context.Context, idx int64) (json.RawMessage, error) {
	if f.err != nil {
		return nil, f.err
	}
	if idx >= int64(len(f.records)) {
		return nil, fmt.Errorf("record %d: the log holds %d records: %w", idx, len(f.records), admin.ErrNotFound)
	}
	return f.records[idx], nil
}

func (f *fakeAudit) InclusionProof(_ context.Context, idx int64) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	if f.checkpoint == nil || idx >= f.signed {
		return "", fmt.Errorf("record %d: no signed checkpoint covers it yet: %w", idx, admin.ErrNotFound)
	}
	return fmt.Sprintf("scopegate-inclusion-proof v1\n%d\n%s\n%d\nHASH=\n\n%s", idx, f.records[idx], f.signed, f.checkpoint), nil
}

func (f *fakeAudit) Checkpoint(context.Context) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.checkpoint == nil {
		return nil, fmt.Errorf("no checkpoint signed yet: %w", admin.ErrNotFound)
	}
	return f.checkpoint, nil
}

func (f *fakeAudit) ConsistencyProof(_ context.Context, oldSize, newSize int64) (string, error) {
	f.mu.Lock()
	f.sizes = append(f.sizes, [2]int64{oldSize, newSize})
	f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	if newSize > f.signed {
		return "", fmt.Errorf("size %d: the latest checkpoint is of size %d: %w", newSize, f.signed, admin.ErrNotFound)
	}
	return fmt.Sprintf("scopegate-consistency-proof v1\n%d\n%d\nHASH=\n", oldSize, newSize), nil
}

func (f *fakeAudit) Subscribe(ctx context.Context) (<-chan json.RawMessage, error) {
	if f.err != nil {
		return nil, f.err
	}
	close(f.subscribed)
	context.AfterFunc(ctx, func() { close(f.unsubscribed) })
	return f.stream, nil
}

func (f *fakeAudit) Pseudonym(principal string) (string, bool) {
	if !f.pseudonyms {
		return "", false
	}
	return "p_" + strings.ToUpper(principal), true
}

func (f *fakeAudit) received() ([]admin.AuditFilter, [][2]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]admin.AuditFilter(nil), f.filters...), append([][2]int64(nil), f.sizes...)
}

func newAuditEnv(t *testing.T, audit *fakeAudit) *testEnv {
	t.Helper()
	return newTestEnvWith(t, envConfig{audit: audit})
}

func TestAuditEventsFilter(t *testing.T) {
	audit := newFakeAudit(3)
	env := newAuditEnv(t, audit)
	tests := []struct {
		name  string
		query string
		want  admin.AuditFilter
	}{
		{"None", "", admin.AuditFilter{Limit: 500}},
		{"All", "?key=AbCdEfGhIjKlMnOp&principal=alice@example.com&event=key.create&decision=deny" +
			"&since=2030-01-02T00:00:00Z&until=2030-01-03T01:00:00%2B01:00&after=2&limit=10",
			admin.AuditFilter{Key: "AbCdEfGhIjKlMnOp", Principal: "alice@example.com", Event: "key.create", Decision: "deny",
				Since: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), Until: time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC),
				After: 2, Limit: 10}},
		{"Pseudonym", "?principal=p_0123456789abcdef0123456789abcdef", admin.AuditFilter{Principal: "p_0123456789abcdef0123456789abcdef", Limit: 500}},
		{"Feature", "?feature=chat&decision=allow", admin.AuditFilter{Feature: "chat", Decision: "allow", Limit: 500}},
		{"FractionalSince", "?since=2030-01-02T00:00:00.5Z", admin.AuditFilter{Since: time.Date(2030, 1, 2, 0, 0, 0, 5e8, time.UTC), Limit: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := audit.received()
			call[admin.List[json.RawMessage]](t, env, request{method: "GET", path: "/admin/v1/audit/events" + tt.query, key: env.rootKey}, 200)
			got, _ := audit.received()
			if len(got) != len(before)+1 {
				t.Fatalf("Records called %d times, want once", len(got)-len(before))
			}
			diff(t, "filter", got[len(got)-1], tt.want)
		})
	}
}

func TestAuditEventsPages(t *testing.T) {
	audit := newFakeAudit(5)
	env := newAuditEnv(t, audit)
	var got []json.RawMessage
	after := ""
	for range 5 {
		path := "/admin/v1/audit/events?limit=2"
		if after != "" {
			path += "&after=" + after
		}
		resp := env.do(t, request{method: "GET", path: path, key: env.rootKey})
		if resp.status != 200 {
			t.Fatalf("GET %s = %d %s", path, resp.status, resp.body)
		}
		var page admin.List[json.RawMessage]
		if err := json.Unmarshal(resp.body, &page); err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Items...)
		if after = page.Next; after == "" {
			break
		}
	}
	if len(got) != len(audit.records) {
		t.Fatalf("paged through %d records, want %d", len(got), len(audit.records))
	}
	for i, rec := range got {
		if string(rec) != string(audit.records[i]) {
			t.Errorf("record %d = %s, want %s exactly", i, rec, audit.records[i])
		}
	}
}

func TestAuditEventsEmpty(t *testing.T) {
	env := newAuditEnv(t, newFakeAudit(0))
	resp := env.do(t, request{method: "GET", path: "/admin/v1/audit/events", key: env.rootKey})
	if resp.status != 200 || strings.TrimSpace(string(resp.body)) != `{"items":[],"next":""}` {
		t.Errorf("empty log = %d %s, want 200 {\"items\":[],\"next\":\"\"}", resp.status, resp.body)
	}
}

func TestAuditEvent(t *testing.T) {
	audit := newFakeAudit(5)
	env := newAuditEnv(t, audit)
	t.Run("Signed", func(t *testing.T) {
		got := call[admin.AuditEvent](t, env, request{method: "GET", path: "/admin/v1/audit/events/1", key: env.rootKey}, 200)
		wantProof, _ := audit.InclusionProof(t.Context(), 1)
		if string(got.Record) != string(audit.records[1]) {
			t.Errorf("record = %s, want %s", got.Record, audit.records[1])
		}
		if got.Proof != wantProof {
			t.Errorf("proof = %q, want %q", got.Proof, wantProof)
		}
	})
	t.Run("NotSignedYet", func(t *testing.T) {
		got := call[admin.AuditEvent](t, env, request{method: "GET", path: "/admin/v1/audit/events/4", key: env.rootKey}, 200)
		if string(got.Record) != string(audit.records[4]) || got.Proof != "" {
			t.Errorf("unsigned record = %+v, want the record and no proof", got)
		}
	})
}

func TestAuditCheckpoint(t *testing.T) {
	audit := newFakeAudit(3)
	env := newAuditEnv(t, audit)
	resp := env.do(t, request{method: "GET", path: "/admin/v1/audit/checkpoint", key: env.rootKey})
	if resp.status != 200 || string(resp.body) != string(audit.checkpoint) {
		t.Errorf("checkpoint = %d %q, want 200 %q", resp.status, resp.body, audit.checkpoint)
	}
	if ct := resp.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/plain; charset=utf-8", ct)
	}
}

func TestAuditConsistency(t *testing.T) {
	audit := newFakeAudit(3)
	env := newAuditEnv(t, audit)
	for _, sizes := range [][2]int64{{1, 3}, {0, 2}, {3, 3}} {
		path := fmt.Sprintf("/admin/v1/audit/consistency?old=%d&new=%d", sizes[0], sizes[1])
		resp := env.do(t, request{method: "GET", path: path, key: env.rootKey})
		want, _ := audit.ConsistencyProof(t.Context(), sizes[0], sizes[1])
		if resp.status != 200 || string(resp.body) != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, resp.status, resp.body, want)
		}
		if ct := resp.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type = %q, want text/plain; charset=utf-8", ct)
		}
	}
	_, got := audit.received()
	// Each size pair was asked for twice: once by the handler, once by the
	// test for the answer it expects.
	diff(t, "sizes", got, [][2]int64{{1, 3}, {1, 3}, {0, 2}, {0, 2}, {3, 3}, {3, 3}})
}

func TestAuditPseudonym(t *testing.T) {
	audit := newFakeAudit(0)
	audit.pseudonyms = true
	env := newAuditEnv(t, audit)
	got := call[admin.PseudonymResult](t, env, request{method: "GET", path: "/admin/v1/audit/pseudonym?principal=alice@example.com", key: env.rootKey}, 200)
	diff(t, "pseudonym", got, admin.PseudonymResult{Principal: "alice@example.com", Pseudonym: "p_ALICE@EXAMPLE.COM"})
}

// The stream sends each record as it comes, framed as a server-sent event
// with the record's position as its id, and ends when the client goes.
func TestAuditStream(t *testing.T) {
	audit := newFakeAudit(0)
	env := newAuditEnv(t, audit)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", env.srv.URL+"/admin/v1/audit/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.rootKey)
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	<-audit.subscribed
	lines := bufio.NewReader(resp.Body)
	for i := range 3 {
		// Each record must arrive before the next is written: flushed,
		// not buffered.
		audit.stream <- record(7 + i)
		var got strings.Builder
		for {
			line, err := lines.ReadString('\n')
			if err != nil {
				t.Fatalf("read event %d: %v (so far %q)", i, err, got.String())
			}
			got.WriteString(line)
			if line == "\n" {
				break
			}
		}
		want := fmt.Sprintf("id: %d\ndata: %s\n\n", 7+i, record(7+i))
		if got.String() != want {
			t.Errorf("event %d = %q, want %q", i, got.String(), want)
		}
	}
	cancel()
	select {
	case <-audit.unsubscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler kept its subscription after the client went away")
	}
}
