package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

func noEnv(string) string { return "" }

func TestInitPrintsOnlyTheAdminKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"scopegate", "init", "--data-dir", dir}, noEnv, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("init: %v\n%s", err, errOut.String())
	}
	key := strings.TrimSuffix(out.String(), "\n")
	if strings.Contains(key, "\n") {
		t.Fatalf("init printed more than one line on stdout:\n%s", out.String())
	}
	cred, err := apikey.Parse(key)
	if err != nil {
		t.Fatalf("init printed %d characters that are not a key: %v", len(key), err)
	}
	if cred.Class != apikey.ClassAdmin || cred.Env != apikey.EnvLive {
		t.Errorf("init key class/env = %s/%s, want sga/live", cred.Class, cred.Env)
	}
	for _, name := range []string{"pepper", "scopegate.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("init did not create %s: %v", name, err)
		}
	}

	t.Run("SecondInitFails", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), []string{"scopegate", "init", "--data-dir", dir}, noEnv, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(errOut.String(), "already initialized") {
			t.Errorf("second init: err = %v, stderr %q; want already initialized", err, errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("second init printed %q on stdout", out.String())
		}
	})

	t.Run("ServeDoesNotBootstrapAgain", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		started := make(chan serveInfo, 1)
		var logs syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- runWithHooks(ctx, []string{"scopegate", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"},
				&env{getenv: noEnv, stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, hooks: &testHooks{started: started}})
		}()
		select {
		case info := <-started:
			if info.AdminKey != "" {
				t.Error("serve on an initialized directory created another admin key")
			}
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, logs.String())
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not start")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
		if strings.Contains(logs.String(), "sga_") {
			t.Error("serve logged an admin key on an initialized directory")
		}
	})
}

func TestServeRefusesReadablePepper(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"scopegate", "init", "--data-dir", dir}, noEnv, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "pepper"), 0o644); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	err := run(t.Context(), []string{"scopegate", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, noEnv, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "readable by its owner only") {
		t.Errorf("serve with a 0644 pepper: err = %v, stderr %q; want a refusal", err, errOut.String())
	}
}

func TestServeBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("listen: :0\nstore:\n  drvier: sqlite\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"scopegate", "serve", "--config", path, "--data-dir", t.TempDir()}, noEnv, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(errOut.String(), `line 3: unknown field "drvier" in store`) {
		t.Errorf("serve with a typo in config: err = %v, stderr %q", err, errOut.String())
	}
}
