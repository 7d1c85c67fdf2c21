package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCanonicalStreamUsage(t *testing.T) {
	const model = "gpt-4o-mini-2024-07-18"
	tests := []struct {
		name     string
		api      API
		endpoint string
		body     string
		// want is the canonical body; "" means it is body with the model
		// resolved and nothing else changed.
		want string
	}{
		{"Added", APIOpenAI, "chat.completions", `{"model":"m","stream":true,"messages":[]}`,
			`{"model":"` + model + `","stream":true,"messages":[],"stream_options":{"include_usage":true}}`},
		{"AddedCompletions", APIOpenAI, "completions", `{"model":"m", "prompt":"hi", "stream":true}`,
			`{"model":"` + model + `","prompt":"hi","stream":true,"stream_options":{"include_usage":true}}`},
		{"NullReplacedInPlace", APIOpenAI, "chat.completions", `{"model":"m","stream":true,"stream_options":null,"n":1}`,
			`{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true},"n":1}`},
		{"EmptyObject", APIOpenAI, "chat.completions", `{"stream_options":{},"model":"m","stream":true}`,
			`{"stream_options":{"include_usage":true},"model":"` + model + `","stream":true}`},
		{"EmptyObjectSpaces", APIOpenAI, "chat.completions", "{\"model\":\"m\",\"stream\":true,\"stream_options\":{ \n\t}}",
			`{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true}}`},
		{"OtherMembersKept", APIOpenAI, "chat.completions",
			`{"model":"m","stream":true,"stream_options":{ "include_obfuscation" : false, "x":{"a" : [1, 2]} }}`,
			`{"model":"` + model + `","stream":true,"stream_options":{ "include_obfuscation" : false, "x":{"a" : [1, 2]},"include_usage":true}}`},
		{"FalseReplaced", APIOpenAI, "chat.completions",
			`{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":"\u00e9"}}`,
			`{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true,"x":"\u00e9"}}`},
		{"NullValueReplaced", APIOpenAI, "chat.completions",
			`{"model":"m","stream":true,"stream_options":{"a":1, "include_usage" : null }}`,
			`{"model":"` + model + `","stream":true,"stream_options":{"a":1, "include_usage" : true }}`},
		{"EscapedName", APIOpenAI, "chat.completions",
			`{"model":"m","stream":true,"stream_options":{"include\u005fusage":false}}`,
			`{"model":"` + model + `","stream":true,"stream_options":{"include\u005fusage":true}}`},
		{"ClientAsked", APIOpenAI, "chat.completions",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}}`, ""},
		{"NotStreamed", APIOpenAI, "chat.completions", `{"model":"m","stream":false,"stream_options":{"include_usage":false}}`, ""},
		{"StreamNull", APIOpenAI, "chat.completions", `{"model":"m","stream":null}`, ""},
		{"NoStream", APIOpenAI, "completions", `{"model":"m","prompt":"hi"}`, ""},
		{"Responses", APIOpenAI, "responses", `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}`, ""},
		{"Embeddings", APIOpenAI, "embeddings", `{"model":"m","stream":true,"input":"x"}`, ""},
		{"Anthropic", APIAnthropic, "messages", `{"model":"m","stream":true,"max_tokens":1,"stream_options":"anything"}`, ""},
		{"HTTP", APIHTTP, "POST /v1/retrieve", `{"model":"m","stream":true,"Stream_Options":1}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest(tt.api, tt.endpoint, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			inject := tt.want != ""
			if got := r.InjectsStreamUsage(); got != inject {
				t.Errorf("InjectsStreamUsage() = %v, want %v", got, inject)
			}
			got := r.Canonical(model)
			if !inject {
				checkCanonical(t, r, []byte(tt.body))
				return
			}
			if string(got) != tt.want {
				t.Errorf("Canonical =\n%s\nwant\n%s", got, tt.want)
			}
			checkStreamUsage(t, r, []byte(tt.body), got, model)
		})
	}
}

// checkStreamUsage checks out, the canonical form of r (parsed from body)
// with include_usage injected: it parses strictly to the same request,
// now asking for usage itself, and decodes as body does but for the model
// and stream_options.include_usage; the other members of stream_options
// are kept byte for byte.
func checkStreamUsage(t *testing.T, r *Request, body, out []byte, model string) {
	t.Helper()
	r2, err := ParseRequest(r.API, r.Endpoint, out)
	if err != nil {
		t.Fatalf("ParseRequest(Canonical) = %v", err)
	}
	if r2.Model != model {
		t.Errorf("Canonical has model %q, want %q", r2.Model, model)
	}
	r2.Model = r.Model
	if diff := cmp.Diff(r, r2, cmpopts.IgnoreUnexported(Request{})); diff != "" {
		t.Errorf("Canonical parses differently (-orig +canonical):\n%s", diff)
	}
	if !r2.clientUsage || r2.InjectsStreamUsage() {
		t.Errorf("Canonical = %s does not ask for usage", out)
	}
	if again := r2.Canonical(model); !bytes.Equal(again, out) {
		t.Errorf("Canonical of Canonical = %s, want it unchanged: %s", again, out)
	}
	var want, got map[string]any
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("Canonical = %s: %v", out, err)
	}
	want["model"] = model
	opts, _ := want["stream_options"].(map[string]any)
	if opts == nil {
		opts = map[string]any{}
	}
	opts["include_usage"] = true
	want["stream_options"] = opts
	if !reflect.DeepEqual(want, got) {
		t.Errorf("Canonical decodes differently (-want +got):\n%s", cmp.Diff(want, got))
	}
	// The members of stream_options but include_usage, byte for byte.
	before, _ := lookup(body, "stream_options")
	after, _ := lookup(out, "stream_options")
	type kv struct{ k, v string }
	others := func(obj []byte) []kv {
		var l []kv
		for k, v := range members(obj) {
			if string(k) != "include_usage" {
				l = append(l, kv{string(k), string(v)})
			}
		}
		return l
	}
	if a, b := others(before), others(after); !reflect.DeepEqual(a, b) {
		t.Errorf("stream_options members %q became %q", a, b)
	}
}

func TestParseRequestStreamOptionsRefused(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantMsg   string
	}{
		{"String", `{"model":"m","stream":true,"stream_options":"include_usage"}`, "stream_options", "stream_options must be a JSON object or null"},
		{"Array", `{"model":"m","stream_options":[{"include_usage":true}]}`, "stream_options", "must be a JSON object or null"},
		{"Bool", `{"model":"m","stream_options":true}`, "stream_options", "must be a JSON object or null"},
		{"CaseVariant", `{"model":"m","Stream_Options":{"include_usage":false}}`, "Stream_Options",
			`member "Stream_Options" differs from "stream_options" only in letter case; send "stream_options"`},
		{"CaseVariantEscaped", `{"model":"m","STREAM\u005fOPTIONS":null}`, "STREAM_OPTIONS", `differs from "stream_options"`},
		{"CaseVariantLongS", `{"model":"m","\u017ftream_options":{}}`, `"\u017ftream_options"`, `differs from "stream_options"`},
		{"IncludeUsageCaseVariant", `{"model":"m","stream":true,"stream_options":{"Include_Usage":false}}`, "stream_options.Include_Usage",
			`member "Include_Usage" differs from "include_usage" only in letter case (in stream_options)`},
		{"IncludeUsageLongS", `{"model":"m","stream_options":{"include_uſage":false}}`, `stream_options."include_u\u017fage"`,
			`differs from "include_usage"`},
		{"IncludeUsageString", `{"model":"m","stream_options":{"include_usage":"true"}}`, "stream_options.include_usage",
			"stream_options.include_usage must be true or false"},
		{"IncludeUsageNumber", `{"model":"m","stream_options":{"include_usage":1}}`, "stream_options.include_usage", "must be true or false"},
		{"IncludeUsageObject", `{"model":"m","stream_options":{"include_usage":{}}}`, "stream_options.include_usage", "must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, endpoint := range []string{"chat.completions", "completions", "responses"} {
				r, err := ParseRequest(APIOpenAI, endpoint, []byte(tt.body))
				re, ok := errors.AsType[*RequestError](err)
				if !ok {
					t.Fatalf("ParseRequest(%s, %q) = %+v, %v; want a *RequestError", endpoint, tt.body, r, err)
				}
				if re.Param != tt.wantParam || !strings.Contains(re.Message, tt.wantMsg) {
					t.Errorf("ParseRequest(%s, %q) = {Param: %q, Message: %q}, want {Param: %q, Message containing %q}",
						endpoint, tt.body, re.Param, re.Message, tt.wantParam, tt.wantMsg)
				}
			}
			// Only OpenAI has stream_options.
			if _, err := ParseRequest(APIAnthropic, "messages", []byte(tt.body)); err != nil {
				t.Errorf("ParseRequest(APIAnthropic, %q) = %v, want it accepted", tt.body, err)
			}
		})
	}
}

// FuzzCanonicalStreamUsage checks that whatever OpenAI body is accepted,
// its canonical form parses strictly to the same request and asks for
// usage exactly when InjectsStreamUsage says so, changing nothing else.
func FuzzCanonicalStreamUsage(f *testing.F) {
	for _, s := range []string{chatWithTools, benchChatBody, `{"model":"m","stream":true}`,
		`{"model":"m","stream":true,"stream_options":null}`, `{"model":"m","stream":true,"stream_options":{ }}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false,"a":[1,{"b":null}]}}`,
		`{"stream_options":{"x":1 , "include\u005fusage" : null } ,"model":"m","stream":true}`,
		`{"model":"m","stream":true,"stream_options":{"Include_Usage":true}}`,
		`{"model":"m","stream":true,"STREAM_OPTIONS":{}}`,
	} {
		for endpoint := range 3 {
			f.Add(uint8(endpoint), []byte(s))
		}
	}
	endpoints := []string{"chat.completions", "completions", "responses"}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		endpoint := endpoints[int(which)%len(endpoints)]
		r, err := ParseRequest(APIOpenAI, endpoint, body)
		if err != nil {
			return
		}
		out := r.Canonical(r.Model)
		if !r.InjectsStreamUsage() {
			checkCanonical(t, r, body)
			return
		}
		if endpoint == "responses" || !r.Stream {
			t.Fatalf("InjectsStreamUsage() for %s %q", endpoint, body)
		}
		checkStreamUsage(t, r, body, out, r.Model)
	})
}
