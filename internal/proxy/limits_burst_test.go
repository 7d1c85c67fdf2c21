package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/proxy"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// The burst: n streamed calls at once against a budget of budget tokens a
// day. Each reserves 10 tokens (an estimate of 5, max_tokens 5) and the
// mock reports 8 (3 in, 5 out).
const (
	burstN        = 20
	burstBudget   = 75
	burstReserved = 10
	burstUsed     = 8
	burstBody     = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"one two three"}],"max_tokens":5}`
)

// burstResult is the answer to one call of a burst.
type burstResult struct {
	status int
	code   string
}

// burst sends burstN streamed calls with key at once, reads each answer
// whole, and sends its result on the returned channel.
func burst(t *testing.T, e *limitEnv, key string) <-chan burstResult {
	t.Helper()
	results := make(chan burstResult, burstN)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range burstN {
		wg.Go(func() {
			<-start
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.url("/v1/chat/completions"),
				strings.NewReader(burstBody))
			if err != nil {
				t.Error(err)
				results <- burstResult{}
				return
			}
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Errorf("burst call: %v", err)
				results <- burstResult{}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Errorf("burst call: read answer: %v", err)
			}
			r := burstResult{status: resp.StatusCode}
			if resp.StatusCode != http.StatusOK {
				var eb errorBody
				if err := json.Unmarshal(b, &eb); err != nil {
					t.Errorf("burst call: error body %q: %v", b, err)
				}
				r.code = eb.code()
			}
			results <- r
		})
	}
	close(start)
	t.Cleanup(wg.Wait)
	return results
}

// TestBurstHeldUpstream sends the burst while the upstream holds every
// call it receives, so that every reservation is taken before any is
// settled: exactly ⌊budget/reserved⌋ calls are admitted, each is charged
// the mock's usage, and the rest are refused with budget_exceeded before
// reaching the upstream.
func TestBurstHeldUpstream(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{TokensPerDay: burstBudget})
	arrived, release := make(chan struct{}, burstN), make(chan struct{})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	mock := mockUpstream()
	e.up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		mock(w, r)
	})
	results := burst(t, e, key)
	t.Cleanup(releaseAll) // first, if the test fails before it releases

	// Until the upstream is released, only refusals can finish.
	var admitted, refused int
	for admitted+refused < burstN {
		select {
		case r := <-results:
			if r.status != http.StatusTooManyRequests || r.code != "budget_exceeded" {
				t.Fatalf("a call finished with %d %q while the upstream held the admitted ones, want 429 budget_exceeded", r.status, r.code)
			}
			refused++
		case <-arrived:
			admitted++
		}
	}
	releaseAll()
	for range admitted {
		if r := <-results; r.status != http.StatusOK {
			t.Errorf("an admitted call finished with %d %q, want 200", r.status, r.code)
		}
	}
	if want := burstBudget / burstReserved; admitted != want {
		t.Errorf("%d calls admitted, want %d: every reservation of %d taken before any settled, in %d", admitted, want, burstReserved, burstBudget)
	}
	var charged int64
	for range admitted {
		u := e.auditor.waitUsage(t)
		if u.Outcome != "ok" || !u.UsageKnown || u.InputTokens+u.OutputTokens != burstUsed {
			t.Errorf("usage event = %+v, want ok with %d tokens known", u, burstUsed)
		}
		charged += u.InputTokens + u.OutputTokens
	}
	e.auditor.noUsage(t)
	if want := int64(admitted * burstUsed); charged != want {
		t.Errorf("charged %d tokens, want %d", charged, want)
	}
	if got := e.remainingOf(t, keyLimit(id, ratelimit.TokensPerDay, burstBudget)); got != burstBudget-charged {
		t.Errorf("budget left = %d, want %d", got, burstBudget-charged)
	}
	if n := e.up.count(); n != admitted {
		t.Errorf("the upstream received %d calls, want the %d admitted", n, admitted)
	}
}

// TestBurst sends the burst as it comes, calls settling while others are
// still being admitted. Whatever the interleaving, the calls admitted are
// charged no more than the budget and one call's reservation, the store's
// count is their sum, and their number lies between what fits when every
// reservation is held (⌊75/10⌋ = 7) and what fits when the last admitted
// finds all the others settled (⌊(75 − 10)/8⌋ + 1 = 9).
func TestBurst(t *testing.T) {
	e := newLimitEnv(t, proxy.LimiterConfig{}, envOptions{})
	key, id := e.limitedKey(t, internalID, apikey.Limits{TokensPerDay: burstBudget})
	e.up.setHandler(mockUpstream())
	results := burst(t, e, key)
	var admitted int
	for range burstN {
		switch r := <-results; {
		case r.status == http.StatusOK:
			admitted++
		case r.status != http.StatusTooManyRequests || r.code != "budget_exceeded":
			t.Errorf("a call finished with %d %q, want 200, or 429 budget_exceeded", r.status, r.code)
		}
	}
	var charged int64
	for range admitted {
		u := e.auditor.waitUsage(t)
		charged += u.InputTokens + u.OutputTokens
	}
	e.auditor.noUsage(t)
	if charged > burstBudget+burstReserved {
		t.Errorf("charged %d tokens, more than the budget %d and one reservation %d", charged, burstBudget, burstReserved)
	}
	if want := int64(admitted * burstUsed); charged != want {
		t.Errorf("charged %d tokens for %d calls, want %d", charged, admitted, want)
	}
	if got := e.remainingOf(t, keyLimit(id, ratelimit.TokensPerDay, burstBudget)); got != burstBudget-charged {
		t.Errorf("budget left = %d, want %d", got, burstBudget-charged)
	}
	if lo, hi := burstBudget/burstReserved, (burstBudget-burstReserved)/burstUsed+1; admitted < lo || admitted > hi {
		t.Errorf("%d calls admitted, want from %d to %d", admitted, lo, hi)
	}
	if n := e.up.count(); n != admitted {
		t.Errorf("the upstream received %d calls, want the %d admitted", n, admitted)
	}
}
