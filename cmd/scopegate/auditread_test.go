package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
)

func TestAuditTailFollow(t *testing.T) {
	l := newTestAuditLog(t)
	l.append(t, "allow", "deny")
	dir := filepath.Join(l.dataDir, "audit")

	lines, pos, err := lastLines(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !bytes.Contains(lines[0], []byte(`"idx":1,`)) {
		t.Fatalf("lastLines(1) = %q, want record 1", lines)
	}

	ctx, cancel := context.WithCancel(t.Context())
	tick := make(chan time.Time) // unbuffered: a second send returns only once the first poll is done
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- followLog(ctx, dir, pos, tick, func(line []byte) error {
			_, err := fmt.Fprintf(&out, "%s\n", line)
			return err
		})
	}()
	poll := func() {
		tick <- time.Time{}
		tick <- time.Time{}
	}
	poll()
	if out.String() != "" {
		t.Errorf("follow printed %q before anything was appended", out.String())
	}
	l.append(t, "usage", "allow")
	poll()
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != 2 || !strings.Contains(got[0], `"idx":2,`) || !strings.Contains(got[1], `"idx":3,`) {
		t.Errorf("follow printed %q, want records 2 and 3", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("followLog after cancel = %v, want nil", err)
	}

	t.Run("CommandStopsOnCancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		out, errOut, err := runAudit(ctx, "tail", "-f", "-n", "2", "-o", "json", "--data-dir", l.dataDir)
		if err != nil {
			t.Fatalf("tail -f: %v\n%s", err, errOut)
		}
		if n := strings.Count(out, "\n"); n != 2 || !strings.HasPrefix(out, `{"v":1,"idx":2,`) {
			t.Errorf("tail -f -n 2 printed %q, want records 2 and 3", out)
		}
	})
}

// writeSegment writes a segment file whose records are made by the
// event kinds of scriptEvent, numbered from first, stamped a minute apart
// from start; tail is appended as it is (a line being written).
func writeSegment(t *testing.T, dir string, first uint64, start time.Time, kinds []string, tail string) {
	t.Helper()
	var b bytes.Buffer
	for i, kind := range kinds {
		ev, err := scriptEvent(kind, fmt.Sprintf("req-%d", first+uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		line, err := audit.Encode(first+uint64(i), start.Add(time.Duration(i)*time.Minute), ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteString(tail)
	segs := filepath.Join(dir, "segments")
	if err := os.MkdirAll(segs, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(segs, fmt.Sprintf("%012d.jsonl", first)), b.String())
}

// repeat returns n copies of kind.
func repeat(kind string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = kind
	}
	return s
}

func TestAuditTailAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// Enough records that the first segment's tail is read in several
	// chunks, and a partial line at the end of the second.
	writeSegment(t, dir, 0, day, repeat("allow", 1500), "")
	writeSegment(t, dir, 1_000_000, day.Add(48*time.Hour), []string{"deny", "usage"}, `{"v":1,"idx":1000002,"ts":`)

	for _, tt := range []struct {
		n          int
		first, end string
	}{
		{0, "", ""},
		{1, `"idx":1000001,`, `"idx":1000001,`},
		{2, `"idx":1000000,`, `"idx":1000001,`},
		{3, `"idx":1499,`, `"idx":1000001,`},
		{1000, `"idx":502,`, `"idx":1000001,`},
		{5000, `"idx":0,`, `"idx":1000001,`},
	} {
		lines, pos, err := lastLines(dir, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(tt.n, 1502); len(lines) != want {
			t.Errorf("lastLines(%d) returned %d lines, want %d", tt.n, len(lines), want)
			continue
		}
		if tt.n > 0 && (!bytes.Contains(lines[0], []byte(tt.first)) || !bytes.Contains(lines[len(lines)-1], []byte(tt.end))) {
			t.Errorf("lastLines(%d) runs from %.40q to %.40q, want %s to %s", tt.n, lines[0], lines[len(lines)-1], tt.first, tt.end)
		}
		// Following starts after the last complete line of the last segment.
		seg, _ := os.ReadFile(filepath.Join(dir, "segments", "000001000000.jsonl"))
		if want := int64(bytes.LastIndexByte(seg, '\n') + 1); pos.offset != want || filepath.Base(pos.path) != "000001000000.jsonl" {
			t.Errorf("lastLines(%d) position = %s at %d, want 000001000000.jsonl at %d", tt.n, filepath.Base(pos.path), pos.offset, want)
		}
	}

	t.Run("FollowIntoNewSegment", func(t *testing.T) {
		_, pos, err := lastLines(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The partial line is completed, and a third segment started.
		seg := filepath.Join(dir, "segments", "000001000000.jsonl")
		b, _ := os.ReadFile(seg)
		line, err := audit.Encode(1_000_002, day.Add(49*time.Hour), audit.Usage{RequestID: "r", Outcome: "ok"})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, seg, string(b[:pos.offset])+string(line)+"\n")
		writeSegment(t, dir, 2_000_000, day.Add(50*time.Hour), []string{"deny"}, "")
		var got []string
		if err := pos.readNew(dir, func(l []byte) error { got = append(got, string(l)); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !strings.Contains(got[0], `"idx":1000002,`) || !strings.Contains(got[1], `"idx":2000000,`) {
			t.Errorf("readNew = %q, want records 1000002 and 2000000", got)
		}
		if filepath.Base(pos.path) != "000002000000.jsonl" {
			t.Errorf("readNew left the position in %s, want the new segment", pos.path)
		}
	})
	t.Run("SegmentShrank", func(t *testing.T) {
		pos := followPos{path: filepath.Join(dir, "segments", "000000000000.jsonl"), offset: 1 << 30}
		err := pos.readNew(dir, func([]byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "records were removed") {
			t.Errorf("readNew past the end of a segment: %v, want records were removed", err)
		}
	})
}

func TestAuditQuery(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	writeSegment(t, dir, 0, day, []string{"allow", "deny", "usage"}, "")
	writeSegment(t, dir, 1_000_000, day.Add(time.Hour), []string{"deny", "allow"}, "")
	// An event this binary does not know is shown from its JSON.
	f, err := os.OpenFile(filepath.Join(dir, "segments", "000001000000.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s\n%s\n",
		`{"v":1,"idx":1000002,"ts":"2030-01-01T02:00:00.000Z","event":"alert.fired","key":"bobKey0000000001","detail":"x"}`,
		`not json`)
	f.Close()

	tests := []struct {
		name string
		args []string
		idx  []string // the records printed, by idx
	}{
		{"All", nil, []string{"0", "1", "2", "1000000", "1000001", "1000002"}},
		{"Key", []string{"--key", "bobKey0000000001"}, []string{"1", "1000000", "1000002"}},
		{"Principal", []string{"--principal", "alice"}, []string{"0", "1000001"}},
		{"Event", []string{"--event", "usage"}, []string{"2"}},
		{"EventFamily", []string{"--event", "alert.*"}, []string{"1000002"}},
		{"Decision", []string{"--decision", "deny"}, []string{"1", "1000000"}},
		{"Since", []string{"--since", "2030-01-01T01:00:00Z"}, []string{"1000000", "1000001", "1000002"}},
		{"SinceSkipsSegment", []string{"--since", "2030-01-01T01:01:00Z"}, []string{"1000001", "1000002"}},
		{"SinceInsideSegment", []string{"--since", "2030-01-01T00:01:00Z"}, []string{"1", "2", "1000000", "1000001", "1000002"}},
		{"Until", []string{"--until", "2030-01-01T00:02:00Z"}, []string{"0", "1"}},
		{"Window", []string{"--since", "2030-01-01T00:01:00Z", "--until", "2030-01-01T01:00:00.001Z"}, []string{"1", "2", "1000000"}},
		{"Combined", []string{"--decision", "allow", "--principal", "alice", "--since", "2030-01-01T00:30:00Z"}, []string{"1000001"}},
		{"Limit", []string{"--event", "authz", "--limit", "2"}, []string{"0", "1"}},
		{"None", []string{"--principal", "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"query", "--data-dir", dir, "-o", "json"}, tt.args...)
			out, errOut, err := runAudit(t.Context(), args...)
			if err != nil {
				t.Fatalf("query: %v\n%s", err, errOut)
			}
			var got []string
			for l := range strings.Lines(out) {
				v, err := viewRecord([]byte(strings.TrimSuffix(l, "\n")))
				if err != nil {
					t.Fatalf("query -o json printed %q: %v", l, err)
				}
				got = append(got, strconv.FormatUint(v.idx, 10))
			}
			if strings.Join(got, " ") != strings.Join(tt.idx, " ") {
				t.Errorf("query %s printed records %v, want %v", strings.Join(tt.args, " "), got, tt.idx)
			}
		})
	}

	t.Run("Table", func(t *testing.T) {
		out, errOut, err := runAudit(t.Context(), "query", "--data-dir", dir, "--key", "bobKey0000000001")
		if err != nil {
			t.Fatal(err)
		}
		want := recordHeader + "\n" +
			"2030-01-01T00:01:00.000Z  1       authz              key=bobKey0000000001 principal=bob decision=deny reason=missing_scope resource=mock-large scope=chat:mock-large status=403 req=req-1\n" +
			"2030-01-01T01:00:00.000Z  1000000  authz              key=bobKey0000000001 principal=bob decision=deny reason=missing_scope resource=mock-large scope=chat:mock-large status=403 req=req-1000000\n" +
			"2030-01-01T02:00:00.000Z  1000002  alert.fired        key=bobKey0000000001\n"
		if out != want {
			t.Errorf("query table:\n%s\nwant:\n%s", out, want)
		}
		if !strings.Contains(errOut, "warning: skipped segments/000001000000.jsonl at byte ") {
			t.Errorf("query did not warn about the line that is not a record; stderr %q", errOut)
		}
	})
}

func TestFormatRecord(t *testing.T) {
	ts := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ev   audit.Event
		want string
	}{
		{"Usage", audit.Usage{RequestID: "r1", KeyID: "k", Status: 200, InputTokens: 3, OutputTokens: 4, UsageKnown: true, Latency: 12 * time.Millisecond, Outcome: "ok"},
			"usage              key=k outcome=ok status=200 tokens_in=3 tokens_out=4 latency_ms=12 req=r1"},
		{"UsageUnknown", audit.Usage{RequestID: "r1", KeyID: "k", Status: 502, Outcome: "upstream_error"},
			"usage              key=k outcome=upstream_error status=502 tokens=unknown latency_ms=0 req=r1"},
		{"AllowHidesScope", audit.Authz{KeyID: "k", Principal: "p", Scope: "chat", Resource: "m", Decision: "allow", Reason: "allowed"},
			"authz              key=k principal=p decision=allow reason=allowed resource=m"},
		{"Admin", audit.Admin{Action: "key.revoke", Actor: "alice smith", Target: "k", Principal: "p",
			Fields: []apikey.FieldChange{{Name: "status", Before: "active", After: "revoked"}}},
			`key.revoke         actor="alice smith" target=k principal=p changes=status`},
		{"Hostile", audit.Admin{Action: "principal.create", Actor: "x\x1b[2Jy", Target: "a=b"},
			`principal.create   actor="x\x1b[2Jy" target="a=b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := audit.Encode(7, ts, tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			v, err := viewRecord(line)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := formatRecord(v), "2030-01-01T00:00:00.000Z  7       "+tt.want; got != want {
				t.Errorf("formatRecord =\n%q\nwant\n%q", got, want)
			}
		})
	}
	if _, err := viewRecord([]byte(`{"v":1,"event":"authz"}`)); err == nil {
		t.Error("viewRecord accepted a line without idx and ts")
	}
}
