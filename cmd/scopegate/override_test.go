package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/audit/auditverify"
)

// TestServeRefusesTruncatedAudit checks the recovery rule: a log with fewer
// records than its last signed checkpoint stops serve, which names the
// missing records, and --allow-truncated-audit starts anyway and records
// the override in the log, which then verifies.
func TestServeRefusesTruncatedAudit(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"scopegate", "init", "--data-dir", dir}, noEnv, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("init: %v\n%s", err, errOut.String())
	}
	// init closed the log, which signed a checkpoint over every record.
	segs, err := filepath.Glob(filepath.Join(dir, "audit", "segments", "*.jsonl"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	cut := bytes.Join(lines[:len(lines)-2], nil) // drop the last record
	if err := os.WriteFile(segs[0], cut, 0o600); err != nil {
		t.Fatal(err)
	}

	serveArgs := []string{"scopegate", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	errOut.Reset()
	err = run(t.Context(), serveArgs, noEnv, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "checkpoint") {
		t.Fatalf("serve on a truncated log: err %v, stderr %q; want a refusal naming the checkpoint", err, errOut.String())
	}

	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan serveInfo, 1)
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- runWithHooks(ctx, append(serveArgs, "--allow-truncated-audit"),
			&env{getenv: noEnv, stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, hooks: &testHooks{started: started}})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("serve --allow-truncated-audit exited: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	log := readAuditLog(t, dir)
	if !bytes.Contains(log, []byte(`"event":"audit.override"`)) {
		t.Errorf("no audit.override event after the override:\n%s", log)
	}
	vkey, err := os.ReadFile(filepath.Join(dir, "audit", "verifier.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditverify.Verify(t.Context(), filepath.Join(dir, "audit"), strings.TrimSpace(string(vkey)), auditverify.VerifyOptions{}); err != nil {
		t.Errorf("log after the override does not verify: %v", err)
	}
}
