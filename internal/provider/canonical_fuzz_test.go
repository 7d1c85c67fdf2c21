package provider

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzForwardedModel checks the property the gateway's authorization rests
// on: the model it authorized is the model it forwards. For any body that
// ParseRequest accepts and any model id the policy could resolve (an
// alias's target, say), the body Canonical and CanonicalCapped build parses
// again, with that model as its Model, and has exactly one member named
// "model" in any letter case, whose value is that model; every other
// member is forwarded unchanged. FuzzParseRequest covers Canonical with
// the model as sent; this target covers the rewrite.
func FuzzForwardedModel(f *testing.F) {
	for _, s := range []string{chatWithTools, responsesWithMCP, anthropicWithServerTools, embeddings, benchChatBody,
		`{"model":"m"}`, `{"model":"m","stream":true}`, `{"model":"m","stream":true,"stream_options":null}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}`,
		`{"mod\u0065l":"m","x":1}`, `{"model":"m","Model":"n"}`, `{"model":"m","extra_body":{"model":"x"}}`,
		`{"model":"m","max_tokens":null}`, `{"dataset":"d"}`, `{"model":1}`, `{"x":{"model":"inner"},"model":"m"}`,
	} {
		for api := range 6 {
			f.Add(uint8(api), []byte(s), "gpt-4o", int64(100))
		}
	}
	f.Add(uint8(0), []byte(`{"model":"chatbot-v1","messages":[]}`), "gpt-4o-mini", int64(0))
	apis := []API{APIOpenAI, APIOpenAI, APIOpenAI, APIOpenAI, APIAnthropic, APIHTTP}
	endpoints := []string{"chat.completions", "responses", "completions", "embeddings", "messages", "POST /v1/retrieve"}
	f.Fuzz(func(t *testing.T, which uint8, body []byte, model string, outputCap int64) {
		api, endpoint := apis[int(which)%len(apis)], endpoints[int(which)%len(endpoints)]
		if checkModelID(model) != nil {
			return // the policy resolves only to model ids the gateway accepts
		}
		r, err := ParseRequest(api, endpoint, body)
		if err != nil {
			return
		}
		for _, out := range [][]byte{r.Canonical(model), r.CanonicalCapped(model, outputCap)} {
			r2, err := ParseRequest(api, endpoint, out)
			if err != nil {
				t.Fatalf("ParseRequest(Canonical(%q)) = %v; body %q", model, err, body)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(out, &top); err != nil {
				t.Fatalf("forwarded body %q is not a JSON object: %v", out, err)
			}
			var models []string
			for name := range top {
				if strings.EqualFold(name, "model") {
					models = append(models, name)
				}
			}
			if r.model < 0 {
				// APIHTTP without a string model: nothing to rewrite.
				if r2.Model != "" || len(models) > 1 {
					t.Fatalf("body without a string model forwarded as %q (Model %q)", out, r2.Model)
				}
				continue
			}
			if r2.Model != model {
				t.Fatalf("authorized %q but forward %q with Model %q; body %q", model, out, r2.Model, body)
			}
			if len(models) != 1 || models[0] != "model" {
				t.Fatalf("forwarded body %q has model members %q, want exactly \"model\"", out, models)
			}
			var got string
			if err := json.Unmarshal(top["model"], &got); err != nil || got != model {
				t.Fatalf("forwarded body %q: encoding/json reads model %q (%v), want %q", out, got, err, model)
			}
			if r2.Stream != r.Stream || r2.Choices != r.Choices || !slices.Equal(r2.Tools, r.Tools) {
				t.Fatalf("forwarding changed stream, choices or tools: %+v then %+v", r, r2)
			}
			if r.MaxOutputTokens != 0 && r2.MaxOutputTokens != r.MaxOutputTokens {
				t.Fatalf("forwarding changed MaxOutputTokens %d to %d", r.MaxOutputTokens, r2.MaxOutputTokens)
			}
			for _, m := range r.members {
				name := string(m.name)
				if name == "model" || name == "stream_options" {
					continue
				}
				v1, ok1 := r.Field(name)
				v2, ok2 := r2.Field(name)
				if v1 != v2 || ok1 != ok2 {
					t.Fatalf("member %q changed in forwarding: %q, %v then %q, %v", name, v1, ok1, v2, ok2)
				}
				if !bytes.Equal(compact(t, top[name]), compact(t, r.body[m.val.start:m.val.end])) {
					t.Fatalf("member %q forwarded as %s, sent as %s", name, top[name], r.body[m.val.start:m.val.end])
				}
			}
		}
	})
}

func compact(t *testing.T, v []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		t.Fatalf("compact %q: %v", v, err)
	}
	return b.Bytes()
}
