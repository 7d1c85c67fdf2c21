package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

func TestFileRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", "events.jsonl")
	ts := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	l, err := OpenFile(path, func() time.Time { return ts })
	if err != nil {
		t.Fatal(err)
	}
	changes := []apikey.Change{
		{Action: "principal.create", Actor: "system", Target: "alice", Principal: "alice",
			Fields: []apikey.FieldChange{{Name: "status", After: "active"}}},
		{Action: "key.revoke", Actor: "admin/ID", Target: "KEYID", Principal: "alice",
			Fields: []apikey.FieldChange{{Name: "status", Before: "active", After: "revoked"}, {Name: "note", Before: "\"quoted\"\n"}}},
	}
	for _, c := range changes {
		if err := l.Record(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), b)
	}
	want0 := `{"v":1,"ts":"2026-11-28T10:00:00.123Z","event":"principal.create","actor":"system","target":"alice","principal":"alice","changes":[{"field":"status","before":"","after":"active"}]}`
	if string(lines[0]) != want0 {
		t.Errorf("line 0 =\n%s\nwant\n%s", lines[0], want0)
	}
	var ev struct {
		V       int
		Event   string
		Changes []struct{ Field, Before, After string }
	}
	if err := json.Unmarshal(lines[1], &ev); err != nil {
		t.Fatalf("line 1 is not JSON: %v", err)
	}
	if ev.V != 1 || ev.Event != "key.revoke" || len(ev.Changes) != 2 || ev.Changes[1].Before != "\"quoted\"\n" {
		t.Errorf("line 1 decoded = %+v", ev)
	}
}

func TestFileRecordCancelled(t *testing.T) {
	l, err := OpenFile(filepath.Join(t.TempDir(), "e.jsonl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Record(ctx, apikey.Change{Action: "x"}); err == nil {
		t.Error("Record with cancelled context succeeded")
	}
}
