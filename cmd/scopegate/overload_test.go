package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOverload holds max_in_flight requests at an upstream that blocks and
// checks that one more is answered 503 with Retry-After at once, without
// reaching the upstream, and that the held ones complete once the
// upstream answers.
func TestOverload(t *testing.T) {
	const max = 3
	var arrived atomic.Int64
	gate := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		io.Copy(io.Discard, r.Body)
		<-gate
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(func() { release(); up.Close() })
	g := startServe(t, ledgerFeatures(up.URL)+fmt.Sprintf("proxy: {max_in_flight: %d}\n", max), nil)
	key := createChatKey(g, g.info.AdminKey)
	call := func() (*http.Response, []byte) {
		req, err := http.NewRequest("POST", "http://"+g.info.DataAddr+"/v1/chat/completions", strings.NewReader(chatBody))
		if err != nil {
			t.Error(err)
			return nil, nil
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return nil, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	var wg sync.WaitGroup
	codes := make([]int, max)
	for i := range max {
		wg.Go(func() {
			if resp, _ := call(); resp != nil {
				codes[i] = resp.StatusCode
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); arrived.Load() < max; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests reached the upstream", arrived.Load(), max)
		}
	}

	start := time.Now()
	resp, body := call()
	if resp == nil {
		t.FailNow()
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Error.Code != "overloaded" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("request %d = %d %q (Retry-After %q), want 503 overloaded with Retry-After", max+1, resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refusal took %s", d)
	}
	if n := arrived.Load(); n != max {
		t.Errorf("the upstream received %d requests, want %d", n, max)
	}
	// The leak endpoints, served in front of the gateway, are under the
	// same cap: a flood of reports cannot pass it.
	leakResp, err := http.Post("http://"+g.info.DataAddr+"/v1/keys/revoke-leaked", "text/plain", strings.NewReader(key))
	if err != nil {
		t.Fatal(err)
	}
	leakResp.Body.Close()
	if leakResp.StatusCode != http.StatusServiceUnavailable || leakResp.Header.Get("Retry-After") == "" {
		t.Errorf("revoke-leaked while overloaded = %d (Retry-After %q), want 503 with Retry-After", leakResp.StatusCode, leakResp.Header.Get("Retry-After"))
	}
	// The admin listener is not capped.
	if code, _ := g.do("GET", "http://"+g.info.AdminAddr+"/healthz", "", nil, nil); code != http.StatusOK {
		t.Errorf("/healthz while overloaded = %d", code)
	}

	release()
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("held request %d = %d, want 200", i, c)
		}
	}
	if resp, body := call(); resp == nil || resp.StatusCode != http.StatusOK {
		t.Errorf("after the load: %v %s, want 200", resp, body)
	}
}
