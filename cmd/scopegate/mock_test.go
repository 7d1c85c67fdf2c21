package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMockUpstreamCmd(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logR, logW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"scopegate", "mock-upstream", "--listen", "127.0.0.1:0"}, noEnv, strings.NewReader(""), io.Discard, logW)
		logW.Close()
	}()

	// Read the log: the first line names the address; the rest must be
	// drained, or the server's log writes would block on the pipe.
	addrc := make(chan string, 1)
	linesc := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "mock upstream serving" {
				addrc <- rec.Addr
			}
		}
		linesc <- lines
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("mock-upstream exited before serving: %v", err)
	}

	// A stream that hangs must not hold up the stop.
	hungCtx, hungCancel := context.WithCancel(t.Context())
	defer hungCancel()
	req, err := http.NewRequestWithContext(hungCtx, http.MethodPost, "http://"+addr+"/v1/chat/completions",
		strings.NewReader(`{"model":"mock-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-mock-hang-after", "1")
	hung, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	defer hung.Body.Close()

	resp, err := http.Get("http://" + addr + "/v1/models")
	if err != nil {
		t.Fatalf("GET /v1/models: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"mock-small"`) {
		t.Errorf("GET /v1/models = %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil after the context is cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mock-upstream did not stop within 10s of its context being cancelled")
	}
	lines := <-linesc
	if !strings.Contains(strings.Join(lines, "\n"), `"msg":"mock upstream stopped"`) {
		t.Errorf("log = %q, want a stopped line", lines)
	}
}
