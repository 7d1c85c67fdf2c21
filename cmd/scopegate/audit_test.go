package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/scopegate/scopegate/internal/audit"
)

// Script commands of testdata/audit.txt: they stand in for a gateway that
// records traffic, and for someone who tampers with the files.

// scriptAuditStart is the clock of auditappend: records are stamped from
// it on, a second apart, so scripts can query by time.
var scriptAuditStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// cmdAuditAppend appends events to the audit log of a data directory, as a
// running gateway records traffic, and closes the log, which signs a
// checkpoint over them. Each argument is one event: allow (an authz event
// allowing key aliceKey00000001 of principal alice), deny (key
// bobKey0000000001 of bob, missing_scope) or usage (alice's).
//
//	auditappend DATADIR allow|deny|usage…
func cmdAuditAppend(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: auditappend DATADIR allow|deny|usage…")
	}
	var events []audit.Event
	for i, kind := range args[1:] {
		ev, err := scriptEvent(kind, fmt.Sprintf("req-%d", i))
		if err != nil {
			ts.Fatalf("auditappend: %v", err)
		}
		events = append(events, ev)
	}
	var mu sync.Mutex
	next := scriptAuditStart
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := next
		next = next.Add(time.Second)
		return t
	}
	l, err := audit.OpenLog(filepath.Join(ts.MkAbs(args[0]), "audit"), audit.LogOptions{Now: now})
	ts.Check(err)
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	for _, ev := range events {
		if _, err := l.Append(context.Background(), ev); err != nil {
			l.Close()
			ts.Fatalf("auditappend: %v", err)
		}
	}
	ts.Check(l.Close())
	ts.Check(<-done)
}

// scriptEvent returns the event auditappend appends for kind.
func scriptEvent(kind, req string) (audit.Event, error) {
	switch kind {
	case "allow":
		return audit.Authz{RequestID: req, KeyID: "aliceKey00000001", Principal: "alice", Team: "ml", Feature: "chat",
			Scope: "chat:mock-small", Endpoint: "/v1/chat/completions", Resource: "mock-small", ClientIP: "127.0.0.1",
			Decision: "allow", Reason: "allowed"}, nil
	case "deny":
		return audit.Authz{RequestID: req, KeyID: "bobKey0000000001", Principal: "bob", Team: "ml", Feature: "chat",
			Scope: "chat:mock-large", Endpoint: "/v1/chat/completions", Resource: "mock-large", ClientIP: "127.0.0.1",
			Decision: "deny", Reason: "missing_scope", Status: 403}, nil
	case "usage":
		return audit.Usage{RequestID: req, KeyID: "aliceKey00000001", Status: 200, InputTokens: 12, OutputTokens: 34,
			UsageKnown: true, Latency: 5 * time.Millisecond, Outcome: "ok"}, nil
	}
	return nil, fmt.Errorf("event %q: want allow, deny or usage", kind)
}

// cmdFlipByte flips the lowest bit of one byte of a file: the byte at
// OFFSET (negative counts from the end), or the first byte of the first
// occurrence of TEXT. An ASCII letter or digit stays one, so a record
// stays well-formed JSON with other content.
//
//	flipbyte FILE OFFSET|TEXT
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET|TEXT")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	at, err := strconv.Atoi(args[1])
	switch {
	case err != nil:
		if at = bytes.Index(b, []byte(args[1])); at < 0 {
			ts.Fatalf("flipbyte: %s does not contain %q", args[0], args[1])
		}
	case at < 0:
		at += len(b)
	}
	if at < 0 || at >= len(b) {
		ts.Fatalf("flipbyte: offset %s is outside %s (%d bytes)", args[1], args[0], len(b))
	}
	b[at] ^= 1
	ts.Check(os.WriteFile(path, b, 0o644))
}

// cmdDropLine removes line N (from 0) of a file; the last line cuts the
// file short.
//
//	dropline FILE N
func cmdDropLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: dropline FILE N")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	lines := bytes.SplitAfter(b, []byte("\n"))
	if n < 0 || n >= len(lines) || len(lines[n]) == 0 {
		ts.Fatalf("dropline: %s has no line %d", args[0], n)
	}
	ts.Check(os.WriteFile(path, bytes.Join(append(lines[:n:n], lines[n+1:]...), nil), 0o644))
}

// testAuditLog is a log a test appends to while it runs, as serve does.
type testAuditLog struct {
	*audit.Log
	dataDir string
}

// newTestAuditLog opens and runs a log in a new data directory. Checkpoints
// are signed only when the test calls SignNow (and on Close, at cleanup).
func newTestAuditLog(t *testing.T) *testAuditLog {
	t.Helper()
	dataDir := t.TempDir()
	l, err := audit.OpenLog(filepath.Join(dataDir, "audit"), audit.LogOptions{CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		// Run never started if Close came first: nothing was appended.
		if err := <-done; err != nil && !errors.Is(err, audit.ErrClosed) {
			t.Errorf("audit log Run: %v", err)
		}
	})
	return &testAuditLog{Log: l, dataDir: dataDir}
}

// append appends each kind of scriptEvent.
func (l *testAuditLog) append(t *testing.T, kinds ...string) {
	t.Helper()
	for _, kind := range kinds {
		ev, err := scriptEvent(kind, fmt.Sprintf("req-%d", l.Size()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpoint signs a checkpoint now and writes it to a new file, whose
// path it returns.
func (l *testAuditLog) checkpoint(t *testing.T) string {
	t.Helper()
	if err := l.SignNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	ck, err := l.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("checkpoint-%d.note", l.Size()))
	writeFile(t, path, string(ck))
	return path
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runAudit runs "scopegate audit args…" in-process and returns its stdout
// and stderr.
func runAudit(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(ctx, append([]string{"scopegate", "audit"}, args...), noEnv, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustRunAudit is runAudit for a command that must succeed.
func mustRunAudit(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runAudit(t.Context(), args...)
	if err != nil {
		t.Fatalf("audit %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func TestAuditArgumentErrors(t *testing.T) {
	l := newTestAuditLog(t)
	l.append(t, "allow")
	l.checkpoint(t)
	vkey := l.VerifierKey()
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"VerifyNoPath", []string{"verify", "--vkey", vkey}, "accepts 1 arg(s), received 0"},
		{"VerifyNoKey", []string{"verify", l.dataDir}, `required flag(s) "vkey" not set`},
		{"VerifyBadKey", []string{"verify", "--vkey", "not-a-key", l.dataDir}, "--vkey: not a verifier key"},
		{"VerifyEmptyKey", []string{"verify", "--vkey", " ", l.dataDir}, "--vkey: empty verifier key"},
		{"VerifyKeyFileMissing", []string{"verify", "--vkey", "@" + filepath.Join(empty, "nope"), l.dataDir}, "--vkey: open "},
		{"VerifyKeyFileUnnamed", []string{"verify", "--vkey", "@", l.dataDir}, "--vkey @FILE: the file name is empty"},
		{"VerifyPrevMissing", []string{"verify", "--vkey", vkey, "--prev", filepath.Join(empty, "nope"), l.dataDir}, "--prev: open "},
		{"VerifyNoLog", []string{"verify", "--vkey", vkey, filepath.Join(empty, "nope")}, "open audit log"},
		{"KeyNoLog", []string{"key", "--data-dir", empty}, "no audit log in " + empty},
		{"KeyNoDir", []string{"key", "--data-dir", filepath.Join(empty, "nope")}, "is not a directory"},
		{"ExportNoOut", []string{"export", "--data-dir", l.dataDir}, `required flag(s) "out" not set`},
		{"ExportExists", []string{"export", "--data-dir", l.dataDir, "--out", empty}, "already exists"},
		{"ProveNotANumber", []string{"prove", "first", "--data-dir", l.dataDir}, `record "first": want a position`},
		{"ProveNotSigned", []string{"prove", "1", "--data-dir", l.dataDir}, "checkpoint 1 covers 1 record; record 1 is not signed yet"},
		{"ProveNoIndex", []string{"prove", "--data-dir", l.dataDir}, "accepts 1 arg(s), received 0"},
		{"ConsistencyOneArg", []string{"consistency", "a", "--data-dir", l.dataDir}, "accepts 2 arg(s), received 1"},
		{"VerifyConsistencyTwoArgs", []string{"verify-consistency", "--vkey", vkey, "a", "b"}, "accepts 3 arg(s), received 2"},
		{"VerifyProofNoKey", []string{"verify-proof", "p"}, `required flag(s) "vkey" not set`},
		{"TailNegative", []string{"tail", "-n", "-1", "--data-dir", l.dataDir}, "-n -1: want 0 or more"},
		{"TailOutput", []string{"tail", "-o", "yaml", "--data-dir", l.dataDir}, `--output "yaml": want table or json`},
		{"QueryDecision", []string{"query", "--decision", "maybe", "--data-dir", l.dataDir}, `--decision "maybe": want allow or deny`},
		{"QuerySince", []string{"query", "--since", "yesterday", "--data-dir", l.dataDir}, `--since "yesterday": want an RFC 3339 time`},
		{"QueryEmptyEvent", []string{"query", "--event", "", "--data-dir", l.dataDir}, "--event is empty"},
		{"QueryLimit", []string{"query", "--limit", "-2", "--data-dir", l.dataDir}, "--limit -2: want 0 (no limit) or more"},
		{"UnknownSubcommand", []string{"verfy"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runAudit(t.Context(), tt.args...)
			if err == nil {
				t.Fatalf("audit %s succeeded, want an error containing %q\n%s", strings.Join(tt.args, " "), tt.want, out)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("audit %s: stderr %q, want it to contain %q", strings.Join(tt.args, " "), errOut, tt.want)
			}
			if out != "" {
				t.Errorf("audit %s printed %q on stdout", strings.Join(tt.args, " "), out)
			}
		})
	}
}

func TestAuditVerifyKeyForms(t *testing.T) {
	l := newTestAuditLog(t)
	l.append(t, "allow", "deny")
	l.checkpoint(t)
	vkey := l.VerifierKey()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.vkey")
	writeFile(t, keyFile, "\n  "+vkey+"\r\n")
	printed := mustRunAudit(t, "key", "--data-dir", l.dataDir)
	if printed != vkey+"\n" {
		t.Fatalf("audit key printed %q, want %q and a newline", printed, vkey)
	}
	want := fmt.Sprintf("ok: 2 records, checkpoint 2 (origin %s), 0 after the last checkpoint, 1 checkpoint checked\n", l.Origin())
	for _, tt := range []struct{ name, vkey, path string }{
		{"Text", vkey, l.dataDir},
		{"TextWithSpace", " " + vkey + "\n", l.dataDir},
		{"File", "@" + keyFile, l.dataDir},
		{"AuditDir", vkey, filepath.Join(l.dataDir, "audit")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustRunAudit(t, "verify", "--vkey", tt.vkey, tt.path); got != want {
				t.Errorf("audit verify = %q, want %q", got, want)
			}
		})
	}
	t.Run("KeyOfAnotherLog", func(t *testing.T) {
		other := newTestAuditLog(t)
		_, errOut, err := runAudit(t.Context(), "verify", "--vkey", other.VerifierKey(), l.dataDir)
		if err == nil || !strings.Contains(errOut, "audit log does not verify: checkpoint not signed by the trusted key") {
			t.Errorf("verify with another log's key: err %v, stderr %q", err, errOut)
		}
	})
}

func TestAuditExportWhileRunning(t *testing.T) {
	l := newTestAuditLog(t)
	l.append(t, "allow", "deny", "usage")
	l.checkpoint(t)
	l.append(t, "allow", "deny") // not covered by a checkpoint yet
	vkey := l.VerifierKey()

	got := mustRunAudit(t, "verify", "--vkey", vkey, l.dataDir)
	if want := "ok: 5 records, checkpoint 3 (origin " + l.Origin() + "), 2 after the last checkpoint, 1 checkpoint checked\n"; got != want {
		t.Errorf("verify the live log = %q, want %q", got, want)
	}
	for _, name := range []string{"export", "export.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name)
			if got := mustRunAudit(t, "export", "--data-dir", l.dataDir, "--out", out); got != "ok: exported to "+out+"\n" {
				t.Errorf("export printed %q", got)
			}
			got := mustRunAudit(t, "verify", "--vkey", vkey, out)
			if want := "ok: 3 records, checkpoint 3 (origin " + l.Origin() + "), 0 after the last checkpoint, 1 checkpoint checked\n"; got != want {
				t.Errorf("verify the export = %q, want %q", got, want)
			}
		})
	}
}

func TestAuditProofs(t *testing.T) {
	l := newTestAuditLog(t)
	l.append(t, "allow", "deny", "usage")
	older := l.checkpoint(t)
	l.append(t, "allow", "deny", "usage", "allow")
	newer := l.checkpoint(t)
	vkey := l.VerifierKey()
	dir := t.TempDir()

	t.Run("Consistency", func(t *testing.T) {
		proof := filepath.Join(dir, "consistency.proof")
		mustRunAudit(t, "consistency", older, newer, "--data-dir", l.dataDir, "--out", proof)
		got := mustRunAudit(t, "verify-consistency", "--vkey", vkey, older, newer, proof)
		if want := "ok: checkpoint 7 extends checkpoint 3 (origin " + l.Origin() + ")\n"; got != want {
			t.Errorf("verify-consistency = %q, want %q", got, want)
		}
		// The same proof read from stdout and stdin.
		text := mustRunAudit(t, "consistency", older, newer, "--data-dir", l.dataDir)
		var out, errOut bytes.Buffer
		err := run(t.Context(), []string{"scopegate", "audit", "verify-consistency", "--vkey", vkey, older, newer, "-"},
			noEnv, strings.NewReader(text), &out, &errOut)
		if err != nil {
			t.Errorf("verify-consistency from stdin: %v\n%s", err, errOut.String())
		}
	})
	t.Run("ConsistencyOrder", func(t *testing.T) {
		_, errOut, err := runAudit(t.Context(), "consistency", newer, older, "--data-dir", l.dataDir)
		if err == nil || !strings.Contains(errOut, "(size 7) is newer than") {
			t.Errorf("consistency NEW OLD: err %v, stderr %q", err, errOut)
		}
	})
	t.Run("ConsistencyProofOfOtherSizes", func(t *testing.T) {
		proof := filepath.Join(dir, "self.proof")
		mustRunAudit(t, "consistency", older, older, "--data-dir", l.dataDir, "--out", proof)
		_, errOut, err := runAudit(t.Context(), "verify-consistency", "--vkey", vkey, older, newer, proof)
		if err == nil || !strings.Contains(errOut, "proof does not verify: proof is for sizes 3 and 3") {
			t.Errorf("verify-consistency of a proof for other sizes: err %v, stderr %q", err, errOut)
		}
	})
	t.Run("InclusionAgainstOlderCheckpoint", func(t *testing.T) {
		proof := filepath.Join(dir, "r2.proof")
		got := mustRunAudit(t, "prove", "2", "--checkpoint", older, "--data-dir", l.dataDir, "--out", proof)
		if want := "ok: wrote the inclusion proof of record 2 against checkpoint 3 to " + proof + "\n"; got != want {
			t.Errorf("prove = %q, want %q", got, want)
		}
		var out, errOut bytes.Buffer
		if err := run(t.Context(), []string{"scopegate", "audit", "verify-proof", "--vkey", vkey, proof}, noEnv, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("verify-proof: %v\n%s", err, errOut.String())
		}
		if !strings.HasPrefix(out.String(), `{"v":1,"idx":2,`) || !strings.Contains(out.String(), `"event":"usage"`) {
			t.Errorf("verify-proof printed %q, want record 2, the usage event", out.String())
		}
		if want := "ok: record 2 is in checkpoint 3 (origin " + l.Origin() + ")\n"; errOut.String() != want {
			t.Errorf("verify-proof stderr = %q, want %q", errOut.String(), want)
		}
		_, errOut2, err := runAudit(t.Context(), "prove", "3", "--checkpoint", older, "--data-dir", l.dataDir)
		if err == nil || !strings.Contains(errOut2, "record 3 is not signed yet") {
			t.Errorf("prove past the checkpoint: err %v, stderr %q", err, errOut2)
		}
	})
}
