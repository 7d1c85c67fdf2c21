package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
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
