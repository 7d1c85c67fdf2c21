package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"

	"github.com/scopegate/scopegate/internal/provider"
)

// budgetPrompt is six words, which the mock counts as 6 input tokens and
// the gateway estimates at 6 as well: the body's string values but the
// model, "user" and the prompt, are 21 bytes, and ⌈21/4⌉ = 6. So a call's
// reservation is exactly its input plus its output cap. The mock replies
// "mock-small says: ab ab ab ab ab ab", 8 words.
const (
	budgetPrompt      = "ab ab ab ab ab ab"
	budgetPromptWords = 6
	budgetReplyWords  = 8
)

// chatJSON is a chat completion body for model with budgetPrompt, capped
// at maxTokens, streamed or not.
func chatJSON(model string, maxTokens int, stream bool) string {
	s := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}],"max_tokens":%d`, model, budgetPrompt, maxTokens)
	if stream {
		s += `,"stream":true`
	}
	return s + "}"
}

// estimate is the gateway's input estimate of a chat completion body.
func estimate(t *testing.T, body string) int64 {
	t.Helper()
	r, err := provider.ParseRequest(provider.APIOpenAI, "chat.completions", []byte(body))
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", body, err)
	}
	return r.InputTokens
}

// openaiClient is an OpenAI SDK client of g's data plane with key, which
// does not retry.
func openaiClient(g *gateway, key string) openai.Client {
	return openai.NewClient(ooption.WithBaseURL("http://"+g.info.DataAddr+"/v1/"), ooption.WithAPIKey(key), ooption.WithMaxRetries(0))
}

// streamParams asks for budgetPrompt streamed, with usage, capped at
// maxTokens.
func streamParams(model string, maxTokens int64) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:         model,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(budgetPrompt)},
		MaxTokens:     openai.Int(maxTokens),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
}

// streamed is a streamed call the SDK read to its end: its request id
// and the usage its last chunk reported.
type streamed struct {
	id                 string
	prompt, completion int64
}

// streamChat makes one streamed chat completion with the SDK and reads it
// to its end. A refusal comes back as the *openai.Error.
func streamChat(ctx context.Context, c openai.Client, params openai.ChatCompletionNewParams, opts ...ooption.RequestOption) (streamed, error) {
	var resp *http.Response
	stream := c.Chat.Completions.NewStreaming(ctx, params, append(opts, ooption.WithResponseInto(&resp))...)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			return streamed{}, errors.New("a chunk was not accepted by the accumulator")
		}
	}
	if err := stream.Err(); err != nil {
		return streamed{}, err
	}
	return streamed{id: resp.Header.Get("X-Request-Id"), prompt: acc.Usage.PromptTokens, completion: acc.Usage.CompletionTokens}, nil
}

// abortStream sends body (a streamed chat completion) with extra headers,
// reads the stream until `content` chunks with text have arrived, and
// goes away. It returns the request id.
func abortStream(t *testing.T, g *gateway, key, body string, header http.Header, content int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+g.info.DataAddr+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("streamed call = %d, want 200", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	got := 0
	for got < content && sc.Scan() {
		if hasContent(sc.Text()) {
			got++
		}
	}
	if got < content {
		t.Fatalf("stream ended after %d content chunks, want %d (%v)", got, content, sc.Err())
	}
	return resp.Header.Get("X-Request-Id")
}

// hasContent reports whether line is the data line of a chat completion
// chunk with text.
func hasContent(line string) bool {
	data, ok := strings.CutPrefix(line, "data: ")
	if !ok {
		return false
	}
	var ch struct {
		Choices []struct{ Delta struct{ Content string } }
	}
	return json.Unmarshal([]byte(data), &ch) == nil && len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != ""
}

// post sends a data-plane POST with key and returns the status, the
// headers and the body.
func post(t *testing.T, g *gateway, path, key, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+g.info.DataAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// waitEvent returns the one audit event of kind event for request id. A
// usage event is written once the client has the whole answer, so it may
// land a moment after the call returns: the log is read again until the
// event is there, for up to 10 s.
func waitEvent(t *testing.T, g *gateway, event, id string) auditEvent {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		var found []auditEvent
		for _, e := range auditEventsIn(t, g.dataDir, event) {
			if e.str("req") == id {
				found = append(found, e)
			}
		}
		switch len(found) {
		case 0:
		case 1:
			return found[0]
		default:
			t.Fatalf("audit log has %d %s events for request %s, want 1", len(found), event, id)
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("audit log has no %s event for request %s after 10s", event, id)
		}
	}
}

// rateLimitRemaining reads r of item name from a RateLimit header.
func rateLimitRemaining(h http.Header, name string) (int64, bool) {
	m := regexp.MustCompile(`"` + regexp.QuoteMeta(name) + `";r=(\d+)`).FindStringSubmatch(h.Get("RateLimit"))
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n, err == nil
}

// TestLimitsStreamBudget holds a key with a daily token budget to it under
// a burst of streamed calls: each call reserves its worst case, settles to
// the usage the mock reported, and a stream the client leaves is charged
// what it delivered.
func TestLimitsStreamBudget(t *testing.T) {
	t.Parallel()
	const budget, maxTokens, clients = 100, 20, 12
	for _, be := range limitsBackends {
		t.Run(be.name, func(t *testing.T) {
			g := startLimited(t, be.open(t), "")
			k := limitedKey(g, "streamer", map[string]any{"tokens_per_day": budget})
			body := chatJSON("mock-small", maxTokens, true)
			est := estimate(t, body)
			reservation := est + maxTokens
			if est != budgetPromptWords {
				t.Fatalf("the gateway estimates %d input tokens, want %d (see budgetPrompt)", est, budgetPromptWords)
			}

			// The client leaves after two words: it is charged the input
			// estimate (the stream's usage comes last) and two words.
			id := abortStream(t, g, k.Key, body, http.Header{"X-Mock-Chunk-Delay": {"300ms"}}, 2)
			u := waitEvent(t, g, "usage", id)
			if u.str("outcome") != "client_abort" || u.num("tokens_in") != est || u.num("tokens_out") != 2 || u.num("usage_known") != 0 {
				t.Errorf("usage event of the aborted stream = %v, want outcome client_abort, %d in, 2 out, usage_known 0", u, est)
			}

			// A burst: for 1.5 s, every client streams again as soon as its
			// stream ends or is refused.
			oc := openaiClient(g, k.Key)
			var mu sync.Mutex
			var done []streamed
			var refused []*openai.Error
			var problems []string
			var wg sync.WaitGroup
			deadline := time.Now().Add(1500 * time.Millisecond)
			for range clients {
				wg.Go(func() {
					for time.Now().Before(deadline) {
						s, err := streamChat(t.Context(), oc, streamParams("mock-small", maxTokens), ooption.WithHeader("X-Mock-Chunk-Delay", "10ms"))
						mu.Lock()
						apiErr, isAPI := errors.AsType[*openai.Error](err)
						switch {
						case err == nil:
							done = append(done, s)
						case isAPI && apiErr.StatusCode == http.StatusTooManyRequests && apiErr.Code == "budget_exceeded":
							refused = append(refused, apiErr)
						default:
							problems = append(problems, describe(err))
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			for _, p := range problems {
				t.Errorf("streamed call failed: %s", p)
			}
			if len(done) == 0 || len(refused) == 0 {
				t.Fatalf("%d streams completed and %d were refused, want some of each", len(done), len(refused))
			}
			for _, e := range refused {
				if e.Response.Header.Get("Retry-After") == "" || !strings.Contains(e.Message, "tokens_per_day") {
					t.Errorf("budget refusal: Retry-After %q, message %q; want a Retry-After and a message naming tokens_per_day",
						e.Response.Header.Get("Retry-After"), e.Message)
				}
			}

			// Each complete stream is charged what the mock reported.
			charged := u.num("tokens_in") + u.num("tokens_out")
			for _, s := range done {
				if s.prompt != budgetPromptWords || s.completion != budgetReplyWords {
					t.Errorf("stream %s reported usage %d/%d, want the mock's %d/%d", s.id, s.prompt, s.completion, budgetPromptWords, budgetReplyWords)
				}
				e := waitEvent(t, g, "usage", s.id)
				if e.str("outcome") != "ok" || e.num("usage_known") != 1 || e.num("tokens_in") != s.prompt || e.num("tokens_out") != s.completion {
					t.Errorf("usage event of stream %s = %v, want outcome ok and the stream's usage %d/%d", s.id, e, s.prompt, s.completion)
				}
				charged += e.num("tokens_in") + e.num("tokens_out")
			}
			t.Logf("budget %d, reservation %d: %d streams completed, %d refused, %d tokens charged", budget, reservation, len(done), len(refused), charged)

			// The limiter counts what the audit log says was charged: a
			// last call of one token reserves est+1 and reports what is
			// left after it.
			last := chatJSON("mock-small", 1, false)
			code, hdr, _ := post(t, g, "/v1/chat/completions", k.Key, last)
			switch left := budget - charged - (est + 1); {
			case left < 0 && code != http.StatusTooManyRequests:
				t.Errorf("a call of %d tokens with %d charged of %d = %d, want 429", est+1, charged, budget, code)
			case left >= 0 && code != http.StatusOK:
				t.Errorf("a call of %d tokens with %d charged of %d = %d, want 200", est+1, charged, budget, code)
			case left >= 0:
				if r, ok := rateLimitRemaining(hdr, "key_tokens_per_day"); !ok || r != left {
					t.Errorf("RateLimit = %q, want key_tokens_per_day r=%d (budget %d − charged %d − reserved %d)",
						hdr.Get("RateLimit"), left, budget, charged, est+1)
				}
			}

			g.stop()
			// Every usage event of the key is one of the calls above, and
			// all of them together stay within the budget and one
			// reservation.
			all := usageEventTotals(t, k.ID, g.dataDir)
			wantAll := charged
			if code == http.StatusOK {
				wantAll += est + 1 // the last call: est in, 1 out
			}
			if got := all.InputTokens + all.OutputTokens; got != wantAll {
				t.Errorf("usage events of the key sum to %d tokens, want %d", got, wantAll)
			}
			if charged > budget+reservation {
				t.Errorf("usage events of the burst sum to %d tokens, want at most the budget %d + one reservation %d", charged, budget, reservation)
			}
			var denied int
			for _, e := range auditEventsIn(t, g.dataDir, "authz") {
				if e.str("key") == k.ID && e.str("decision") == "deny" {
					if e.str("reason") != "budget_exceeded" || e.num("status") != 429 {
						t.Errorf("deny event %v, want reason budget_exceeded, status 429", e)
					}
					denied++
				}
			}
			if want := len(refused) + btoi(code == http.StatusTooManyRequests); denied != want {
				t.Errorf("audit log has %d deny events for the key, want %d", denied, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestLimitsUsageReport makes calls of known usage (non-streamed,
// streamed with and without include_usage, and a stream the client
// leaves), and checks that the usage report, from the API and from
// "scopegate usage -o json", is the sum of the usage events.
func TestLimitsUsageReport(t *testing.T) {
	t.Parallel()
	g := startLimited(t, limitsStore{}, "")
	root := g.info.AdminKey
	k1 := limitedKey(g, "reporter-1", nil)
	k2 := limitedKey(g, "reporter-2", nil)
	data := "http://" + g.info.DataAddr + "/v1/chat/completions"

	// want is what the clients saw, per key and model.
	type group struct{ Key, Model string }
	want := map[group]usageTotals{}
	add := func(key, model string, in, out int64) {
		w := want[group{key, model}]
		w.Requests++
		w.InputTokens += in
		w.OutputTokens += out
		want[group{key, model}] = w
	}
	plain := func(k keyRecord, model string) {
		t.Helper()
		code, b := g.do("POST", data, k.Key, nil, chatJSON(model, 64, false))
		var resp struct {
			Usage struct {
				Prompt     int64 `json:"prompt_tokens"`
				Completion int64 `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(b, &resp); code != http.StatusOK || err != nil || resp.Usage.Completion == 0 {
			t.Fatalf("chat completion = %d %s", code, b)
		}
		add(k.ID, model, resp.Usage.Prompt, resp.Usage.Completion)
	}
	plain(k1, "mock-small")
	plain(k1, "mock-small")
	plain(k2, "mock-large")

	// Streamed with include_usage, read by the SDK.
	s, err := streamChat(t.Context(), openaiClient(g, k1.Key), streamParams("mock-large", 64))
	if err != nil {
		t.Fatalf("streamed call: %v", describe(err))
	}
	add(k1.ID, "mock-large", s.prompt, s.completion)

	// Streamed without include_usage: the gateway asks for the usage and
	// keeps it from the client, which counts the words it got.
	code, b := g.do("POST", data, k2.Key, nil, chatJSON("mock-small", 64, true))
	if code != http.StatusOK || bytes.Contains(b, []byte(`"prompt_tokens"`)) {
		t.Fatalf("stream without include_usage = %d, with usage shown to the client:\n%s", code, b)
	}
	words := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if hasContent(line) {
			words++
		}
	}
	if words != budgetReplyWords {
		t.Errorf("stream without include_usage had %d words, want the mock's %d", words, budgetReplyWords)
	}
	add(k2.ID, "mock-small", budgetPromptWords, int64(words))

	// A stream the client leaves after two words (the mock hangs after
	// the role and two words): the input estimate and two words.
	body := chatJSON("mock-small", 64, true)
	id := abortStream(t, g, k2.Key, body, http.Header{"X-Mock-Hang-After": {"3"}}, 2)
	add(k2.ID, "mock-small", estimate(t, body), 2)
	if u := waitEvent(t, g, "usage", id); u.str("outcome") != "client_abort" {
		t.Errorf("usage event of the left stream = %v, want outcome client_abort", u)
	}

	var total usageTotals
	for _, w := range want {
		total.Requests += w.Requests
		total.InputTokens += w.InputTokens
		total.OutputTokens += w.OutputTokens
	}
	q := usageDay(url.Values{"group_by": {"key,model"}})
	rep := waitUsage(t, g, root, q, total)
	if rep.Totals != total {
		t.Fatalf("usage report totals = %v, want %v", rep.Totals, total)
	}
	got := map[group]usageTotals{}
	for _, r := range rep.Rows {
		if r.Key == nil || r.Model == nil {
			t.Fatalf("report row without key or model: %+v", r)
		}
		got[group{*r.Key, *r.Model}] = r.usageTotals
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("usage report rows (-want +got):\n%s", d)
	}

	// The CLI prints the same report.
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"SCOPEGATE_ADDR": "http://" + g.info.AdminAddr, "SCOPEGATE_ADMIN_KEY": root}[k]
	}
	err = run(t.Context(), []string{"scopegate", "usage", "--by", "key,model", "--from", q.Get("from"), "--to", q.Get("to"), "-o", "json"},
		getenv, strings.NewReader(""), &out, &errOut)
	if err != nil {
		t.Fatalf("scopegate usage: %v\n%s", err, errOut.String())
	}
	api := g.admin(root, "GET", "/admin/v1/usage?"+q.Encode(), nil, http.StatusOK, nil)
	var cli, apiJSON bytes.Buffer
	if err := json.Compact(&cli, out.Bytes()); err != nil {
		t.Fatalf("scopegate usage -o json printed %s: %v", out.String(), err)
	}
	json.Compact(&apiJSON, api)
	if cli.String() != apiJSON.String() {
		t.Errorf("scopegate usage -o json =\n%s\nthe API answered\n%s", cli.String(), apiJSON.String())
	}

	// The audit log's usage events sum to the same.
	g.stop()
	for _, k := range []keyRecord{k1, k2} {
		var w usageTotals
		for gr, u := range want {
			if gr.Key == k.ID {
				w.Requests += u.Requests
				w.InputTokens += u.InputTokens
				w.OutputTokens += u.OutputTokens
			}
		}
		if ev := usageEventTotals(t, k.ID, g.dataDir); ev != w {
			t.Errorf("usage events of key %s sum to %v, want %v (what its calls reported, as the usage report)", k.ID, ev, w)
		}
	}
}

// TestLimitsBudgetAlerts spends a key's daily budget of 100 tokens in
// calls of known size, crossing 80 %, 90 % and 100 % on different calls:
// the audit log holds one alert.budget event per threshold, with the use
// at the crossing, and still verifies.
func TestLimitsBudgetAlerts(t *testing.T) {
	t.Parallel()
	for _, be := range limitsBackends {
		t.Run(be.name, func(t *testing.T) {
			g := startLimited(t, be.open(t), "")
			k := limitedKey(g, "alerts", map[string]any{"tokens_per_day": 100})
			data := "http://" + g.info.DataAddr + "/v1/chat/completions"
			// Each call reserves and is charged budgetPromptWords plus its
			// cap: 14 tokens six times (84: past 80 %), then 7 (91: past
			// 90 %), then 9 (100 %).
			for i, maxTokens := range []int{8, 8, 8, 8, 8, 8, 1, 3} {
				if code, b := g.do("POST", data, k.Key, nil, chatJSON("mock-small", maxTokens, false)); code != http.StatusOK {
					t.Fatalf("call %d = %d %s, want 200", i, code, b)
				}
			}
			for range 2 {
				code, b := g.do("POST", data, k.Key, nil, chatJSON("mock-small", 1, false))
				if code != http.StatusTooManyRequests || !strings.Contains(string(b), "budget_exceeded") {
					t.Errorf("call past the budget = %d %s, want 429 budget_exceeded", code, b)
				}
			}
			g.stop()

			var alerts []string
			for _, e := range auditEventsIn(t, g.dataDir, "alert.budget") {
				if e.str("subject") != "key:"+k.ID || e.str("principal") != "alerts" {
					t.Errorf("alert %v, want subject key:%s and principal alerts", e, k.ID)
				}
				alerts = append(alerts, e.str("figures"))
			}
			window := "2026-11-28" // the frozen clock's day
			if !be.frozen {
				window = `\d{4}-\d{2}-\d{2}` // the Redis server's day
			}
			wantRE := []string{
				"kind=tokens_per_day threshold_pct=80 used=84 max=100 window=" + window,
				"kind=tokens_per_day threshold_pct=90 used=91 max=100 window=" + window,
				"kind=tokens_per_day threshold_pct=100 used=100 max=100 window=" + window,
			}
			// Alerts are recorded in the background: their order in the
			// log is not the order of the crossings.
			if len(alerts) != len(wantRE) {
				t.Errorf("audit log holds %d alert.budget events %q, want one per threshold", len(alerts), alerts)
			}
			for _, re := range wantRE {
				n := 0
				for _, a := range alerts {
					if regexp.MustCompile("^" + re + "$").MatchString(a) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d alerts match %s, want 1; alerts: %q", n, re, alerts)
				}
			}

			vkey := filepath.Join(g.dataDir, "audit", "verifier.key")
			if _, err := os.Stat(vkey); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"scopegate", "audit", "verify", "--vkey", "@" + vkey, g.dataDir},
				func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
			if err != nil || !strings.HasPrefix(out.String(), "ok: ") {
				t.Errorf("scopegate audit verify = %v\n%s%s", err, out.String(), errOut.String())
			}
		})
	}
}
