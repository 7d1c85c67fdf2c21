package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/audit"
)

// writeSegments writes a log directory of n usage records (even positions
// for key k0, odd for k1), split into segments of per records.
func writeSegments(t *testing.T, n, per int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, auditSegmentsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	for first := 0; first < n; first += per {
		var b strings.Builder
		for i := first; i < min(n, first+per); i++ {
			fmt.Fprintf(&b, `{"v":1,"idx":%d,"ts":"2026-11-28T10:00:%02d.000Z","event":"usage","key":"k%d"}`+"\n", i, i%60, i%2)
		}
		name := filepath.Join(dir, auditSegmentsDir, fmt.Sprintf("%012d.jsonl", first))
		if err := os.WriteFile(name, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestAuditAPIRecordsAcrossSegments(t *testing.T) {
	a := &auditAPI{dir: writeSegments(t, 10, 3)}
	t.Cleanup(func() { a.Close() })
	var got []string
	f := admin.AuditFilter{Key: "k1", Limit: 2}
	for range 10 {
		page, err := a.Records(t.Context(), f)
		if err != nil {
			t.Fatalf("Records(%+v): %v", f, err)
		}
		for _, r := range page.Items {
			got = append(got, string(r[:len(`{"v":1,"idx":N`)]))
		}
		if page.Next == "" {
			break
		}
		fmt.Sscan(page.Next, &f.After)
	}
	want := []string{`{"v":1,"idx":1`, `{"v":1,"idx":3`, `{"v":1,"idx":5`, `{"v":1,"idx":7`, `{"v":1,"idx":9`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Records pages = %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(a.dir, auditIndexFile)); err != nil {
		t.Errorf("index file: %v", err)
	}
}

func TestAuditAPIRecordAcrossSegments(t *testing.T) {
	a := &auditAPI{dir: writeSegments(t, 10, 3)}
	for _, idx := range []int64{0, 2, 4, 9} {
		rec, err := a.Record(t.Context(), idx)
		if err != nil {
			t.Fatalf("Record(%d): %v", idx, err)
		}
		if want := fmt.Sprintf(`{"v":1,"idx":%d,`, idx); !strings.HasPrefix(string(rec), want) {
			t.Errorf("Record(%d) = %s, want the record at %d", idx, rec, idx)
		}
	}
}

// TestAuditAPISubscribe checks the SIEM stream over a real log: records
// appended after the subscription arrive in order, once each, across
// polls that read only what was written since the last one.
func TestAuditAPISubscribe(t *testing.T) {
	dir := t.TempDir()
	l, err := audit.OpenLog(dir, audit.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	t.Cleanup(func() { l.Close(); <-done })
	appendN := func(from, n int) {
		for i := range n {
			if _, err := l.Append(t.Context(), audit.Authz{RequestID: fmt.Sprintf("r%d", from+i), Decision: "allow", Reason: "allowed"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(0, 3) // before the subscription: not streamed
	a := &auditAPI{log: l, dir: dir, poll: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := a.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appendN(3, 4)
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 6 {
		if len(got) == 2 {
			appendN(7, 2) // more while streaming
		}
		select {
		case rec := <-ch:
			var v struct{ Req string }
			if err := json.Unmarshal(rec, &v); err != nil {
				t.Fatalf("streamed record is not JSON: %s", rec)
			}
			got = append(got, v.Req)
		case <-timeout:
			t.Fatalf("streamed %v, want r3..r8", got)
		}
	}
	if want := "r3 r4 r5 r6 r7 r8"; strings.Join(got, " ") != want {
		t.Errorf("streamed %v, want %s", got, want)
	}
}
