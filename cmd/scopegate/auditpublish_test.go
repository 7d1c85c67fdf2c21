package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// posted is one request a checkpoint receiver got.
type posted struct {
	method, contentType string
	body                []byte
}

// A configured url receives each new checkpoint, and the configured
// directory a copy of it: the very checkpoint the log signed and keeps.
func TestServePublishesCheckpoints(t *testing.T) {
	got := make(chan posted, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- posted{r.Method, r.Header.Get("Content-Type"), b}:
		default:
		}
	}))
	t.Cleanup(receiver.Close) // after the gateway stops
	pubDir := filepath.Join(t.TempDir(), "published")
	cfg := e2eFeatures + "audit:\n  checkpoint_interval: 50ms\n  publish:\n    dir: " + pubDir + "\n    url: " + receiver.URL + "/checkpoints\n    interval: 50ms\n"
	// Bootstrapping the first admin is recorded, so the log has a checkpoint
	// to publish without any request.
	g := startGateway(t, backend{"SQLite", func(t *testing.T) (string, map[string]string) { return cfg, nil }})

	var p posted
	select {
	case p = <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("no checkpoint was posted\n%s", g.logs)
	}
	if p.method != http.MethodPost || !strings.HasPrefix(p.contentType, "text/plain") {
		t.Errorf("checkpoint sent as %s %q, want POST text/plain", p.method, p.contentType)
	}
	lines := strings.SplitN(string(p.body), "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("posted body is not a checkpoint: %q", p.body)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || size == 0 {
		t.Fatalf("posted checkpoint size %q: %v", lines[1], err)
	}
	kept, err := os.ReadFile(filepath.Join(g.dataDir, "audit", "checkpoints", fmt.Sprintf("%012d.note", size)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.body, kept) {
		t.Errorf("posted %q, the log signed %q", p.body, kept)
	}
	copied, err := os.ReadFile(filepath.Join(pubDir, fmt.Sprintf("checkpoint-%012d.note", size)))
	if err != nil {
		t.Fatalf("published directory: %v", err)
	}
	if !bytes.Equal(copied, kept) {
		t.Errorf("published directory holds %q, the log signed %q", copied, kept)
	}

	// At shutdown the final checkpoint, over every record, is published too.
	g.stop()
	final, err := os.ReadFile(filepath.Join(g.dataDir, "audit", "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	published, err := os.ReadFile(filepath.Join(pubDir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(published, final) {
		t.Errorf("after shutdown the published checkpoint is\n%s\nwant the final one\n%s", published, final)
	}
}
