package proxy_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Names a random request may ask for: served models, aliases, models
// served on another endpoint, and names that only look like served ones.
var propertyModels = []string{
	"gpt-4o-mini", "gpt-4o", "o3-mini", "o3-pro", "dead-model", "chatbot-v1", "big", "coder",
	"claude-sonnet-4-5", "claude-sonnet-4-0", "claude-haiku-4-5",
	"gpt-5", "GPT-4o", "gpt-4o-mini-2024-07-18", "o3", "o3-", "gpt-4o-", "Big", "chatbot-v1 ",
	"gpt-4\u043e", "gpt-4o\u200b", "claude-haiku-4-5\u00a0",
}

// servedModels is how many names at the start of propertyModels some
// feature serves.
const servedModels = 11

// propertyScopes are drawn from for keys.
var propertyScopes = []string{
	"chat", "chat:gpt-4o-mini", "chat:gpt-4o", "chat:o3-*", "chat:o3-mini", "chat:big", "offline",
	"code", "code:claude-sonnet-4-*", "code:claude-haiku-4-5", "code:coder",
}

// aliasOf is the canonical model of each alias, on the endpoints whose
// feature declares it.
var aliasOf = map[string]map[string]string{
	"/v1/chat/completions": {"chatbot-v1": "gpt-4o-mini", "big": "gpt-4o"},
	"/v1/responses":        {"chatbot-v1": "gpt-4o-mini", "big": "gpt-4o"},
	"/v1/messages":         {"coder": "claude-sonnet-4-5"},
}

// TestForwardedModelIsAuthorizedModel sends random requests with random
// keys and checks, for each, that the upstream received a request only if
// it was allowed, and then with exactly the model the policy authorized:
// the canonical name of the one the client sent.
func TestForwardedModelIsAuthorizedModel(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	r := rand.New(rand.NewPCG(20300102, 3))
	paths := []string{"/v1/chat/completions", "/v1/chat/completions", "/v1/responses", "/v1/messages"}
	var allowed, forwarded, denied int
	for i := range 300 {
		var scopes []string
		for _, s := range propertyScopes {
			if r.IntN(3) == 0 {
				scopes = append(scopes, s)
			}
		}
		p := internalID
		if r.IntN(3) == 0 {
			p = externalID
		}
		key, _, _ := e.mintKey(t, keySpec{principal: p, scopes: scopes})
		path := paths[r.IntN(len(paths))]
		model := propertyModels[r.IntN(len(propertyModels))]
		if r.IntN(2) == 0 { // half the time, a name served somewhere
			model = propertyModels[r.IntN(servedModels)]
		}
		body := randomBody(r, model)

		calls, events := e.up.count(), len(e.auditor.authzEvents())
		resp, answer := e.post(t, key, path, body)
		evs := e.auditor.authzEvents()[events:]
		if len(evs) != 1 {
			t.Fatalf("request %d: %d authz events, want 1", i, len(evs))
		}
		ev := evs[0]
		if ev.Decision == "allow" {
			e.auditor.waitUsage(t) // the call is over before the next one starts
		}
		where := fmt.Sprintf("request %d: key %q of %s, POST %s %s → %d %s (%s)", i, scopes, p, path, body, resp.StatusCode, ev.Reason, answer)
		switch n := e.up.count() - calls; {
		case n > 1:
			t.Fatalf("%s: the upstream received %d requests", where, n)
		case n == 1:
			forwarded++
			if ev.Decision != "allow" {
				t.Fatalf("%s: forwarded, but the decision was %s", where, ev.Decision)
			}
			var got struct {
				Model string `json:"model"`
			}
			up := e.up.last(t)
			if err := json.Unmarshal(up.Body, &got); err != nil {
				t.Fatalf("%s: the upstream received a body that is not JSON: %s", where, up.Body)
			}
			if got.Model != ev.Resource {
				t.Fatalf("%s: the upstream received model %q, the policy authorized %q", where, got.Model, ev.Resource)
			}
		}
		switch ev.Decision {
		case "allow":
			allowed++
			want := model
			if c, ok := aliasOf[path][model]; ok {
				want = c
			}
			if ev.Resource != want {
				t.Fatalf("%s: authorized %q, want the canonical %q", where, ev.Resource, want)
			}
		default:
			denied++
			if resp.StatusCode < 400 {
				t.Fatalf("%s: denied but answered %d", where, resp.StatusCode)
			}
		}
	}
	t.Logf("%d allowed (%d forwarded), %d denied", allowed, forwarded, denied)
	if allowed < 30 || forwarded < 30 || denied < 30 {
		t.Errorf("%d allowed, %d forwarded, %d denied: the random requests do not exercise both outcomes", allowed, forwarded, denied)
	}
}

// randomBody returns a request body naming model, with random other
// members around it, the model sometimes escaped, and now and then a
// member that names another model.
func randomBody(r *rand.Rand, model string) string {
	other := func() string { return propertyModels[r.IntN(len(propertyModels))] }
	members := []string{`"model":` + encodeString(r, model)}
	extras := []func() string{
		func() string { return `"messages":[{"role":"user","content":"hello"}]` },
		func() string { return `"input":"hello"` },
		func() string { return fmt.Sprintf(`"max_tokens":%d`, r.IntN(100)) },
		func() string { return `"temperature":0.` + fmt.Sprint(r.IntN(10)) },
		func() string { return `"stream":false` },
		func() string { return `"metadata":{"model":` + encodeString(r, other()) + `}` },
		func() string { return `"user":` + encodeString(r, other()) },
		func() string { return `"n" : 1` },
		func() string { return `"stop":null` },
	}
	for range r.IntN(5) {
		members = append(members, extras[r.IntN(len(extras))]())
	}
	if r.IntN(12) == 0 {
		hostile := []string{`"model":"gpt-4o"`, `"MODEL":"gpt-4o"`, `"models":["gpt-4o"]`, `"fallbacks":["gpt-4o"]`,
			`"extra_body":{"model":"gpt-4o"}`, `"Model":"gpt-4o"`}
		members = append(members, hostile[r.IntN(len(hostile))])
	}
	r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	return "{" + strings.Join(members, ",") + "}"
}

// encodeString writes s as a JSON string, escaping some of its characters
// as \uXXXX at random.
func encodeString(r *rand.Rand, s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		if r.IntN(6) == 0 || c > 0x7e || c < 0x20 {
			fmt.Fprintf(&b, `\u%04x`, c)
			continue
		}
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}
