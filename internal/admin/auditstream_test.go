package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// streamReader is an AuditReader whose Subscribe hands out ch; the rest is
// never called by the stream.
type streamReader struct {
	AuditReader
	ch chan json.RawMessage
}

func (s streamReader) Subscribe(context.Context) (<-chan json.RawMessage, error) { return s.ch, nil }

// streamRecorder is a ResponseWriter that a test may read while the
// handler writes to it, which httptest.ResponseRecorder does not allow.
type streamRecorder struct {
	mu      sync.Mutex
	header  http.Header
	body    bytes.Buffer
	flushes int
}

func (r *streamRecorder) Header() http.Header { return r.header }
func (r *streamRecorder) WriteHeader(int)     {}

func (r *streamRecorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(b)
}

func (r *streamRecorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushes++
}

// read returns what was written and flushed so far.
func (r *streamRecorder) read() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.String(), r.flushes
}

// An idle stream sends a heartbeat comment every 15 seconds, counted from
// the last thing it sent, and ends when the log closes the subscription.
func TestAuditStreamHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := streamReader{ch: make(chan json.RawMessage)}
		h := handleAuditStream(slog.New(slog.DiscardHandler), reader)
		ctx := context.WithValue(t.Context(), actorKey{}, apikey.Actor{Principal: "root", Roles: scope.NewSet(apikey.RoleAdmin)})
		req := httptest.NewRequestWithContext(ctx, "GET", "/admin/v1/audit/stream", nil)
		rec := &streamRecorder{header: http.Header{}}
		done := make(chan struct{})
		go func() {
			h.ServeHTTP(rec, req)
			close(done)
		}()

		time.Sleep(heartbeatEvery - time.Second)
		synctest.Wait()
		if got, _ := rec.read(); got != "" {
			t.Fatalf("after 14s the stream holds %q, want nothing", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got, want := first(rec.read()), ": heartbeat\n\n"; got != want {
			t.Fatalf("after 15s the stream holds %q, want %q", got, want)
		}
		// A record resets the heartbeat.
		time.Sleep(10 * time.Second)
		reader.ch <- json.RawMessage(`{"v":1,"idx":4}`)
		time.Sleep(heartbeatEvery - time.Second)
		synctest.Wait()
		want := ": heartbeat\n\nid: 4\ndata: {\"v\":1,\"idx\":4}\n\n"
		if got := first(rec.read()); got != want {
			t.Fatalf("stream = %q, want %q", got, want)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		want += ": heartbeat\n\n"
		if got := first(rec.read()); got != want {
			t.Fatalf("stream = %q, want %q", got, want)
		}
		// The headers, two heartbeats and a record, each flushed.
		if _, n := rec.read(); n != 4 {
			t.Errorf("the stream was flushed %d times, want 4", n)
		}

		close(reader.ch)
		<-done
	})
}

func TestWriteEvent(t *testing.T) {
	tests := []struct {
		name, rec, want string
	}{
		{"Record", `{"v":1,"idx":12,"event":"authz"}`, "id: 12\ndata: {\"v\":1,\"idx\":12,\"event\":\"authz\"}\n\n"},
		{"NoIdx", `{"v":1}`, "data: {\"v\":1}\n\n"},
		{"Indented", "{\n  \"v\": 1,\n  \"idx\": 3\n}", "id: 3\ndata: {\"v\":1,\"idx\":3}\n\n"},
		{"InvalidWithNewline", "{\"v\":\n1", "data: {\"v\":\ndata: 1\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeEvent(&buf, json.RawMessage(tt.rec))
			if got := buf.String(); got != tt.want {
				t.Errorf("writeEvent(%q) = %q, want %q", tt.rec, got, tt.want)
			}
		})
	}
}

func first(s string, _ int) string { return s }
