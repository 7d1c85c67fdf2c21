package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/maphash"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestFoldHash(t *testing.T) {
	seed := maphash.MakeSeed()
	// Runes whose case-folding orbits reach beyond ASCII or have more
	// than two members.
	runes := []rune{'k', 'K', 'K', 's', 'S', 'ſ', 'µ', 'μ', 'Μ', 'σ', 'ς', 'Σ', 'ß', 'ẞ', 'i', 'I', 'İ', 'ı',
		'é', 'É', 'ǅ', 'Ǆ', 'ǆ', 'θ', 'ϑ', 'Θ', 'a', '_', '1', 'ꙋ', 'ᲈ', 'Ꙋ'}
	for _, a := range runes {
		for _, b := range runes {
			x, y := []byte("m"+string(a)), []byte("m"+string(b))
			if got, want := foldHash(seed, x) == foldHash(seed, y), bytes.EqualFold(x, y); got != want {
				t.Errorf("foldHash(%q) == foldHash(%q) is %v, bytes.EqualFold is %v", x, y, got, want)
			}
		}
	}
}

// FuzzParseRequest checks that ParseRequest never panics, that it accepts
// exactly what encoding/json accepts once the strict rules are applied
// (checked independently with json.Decoder), and that an accepted body's
// Canonical form parses to the same Request.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{chatWithTools, responsesWithMCP, anthropicWithServerTools, embeddings, benchChatBody,
		`{"model":"m","x":{"k":1,"\u212a":2}}`, `{"mod\u0065l":"m","model":"n"}`, `{"model":"m"} {}`,
		`{"model":"m","s":"\ud83d\ude00\ud800"}`, "{\"model\":\"m\",\"s\":\"\xed\xa0\x80\"}", `{"dataset":"a","Dataset":"b"}`,
		`{"model":"m","extra_body":{"Model":"x"}}`, `{"model":"m","tools":[{"type":"namespace","tools":[{"type":"mcp","server_url":"u"}]}]}`,
		`{"model":"m","n":-0.5e+10,"a":[true,false,null,{}],"s":"\"\\\/\b\f\n\r\t"}`, manyMembers(40, "MEMBER7"),
		`{"model":"m","x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
	} {
		for api := range 3 {
			f.Add(uint8(api), []byte(s))
		}
	}
	apis := []API{APIOpenAI, APIAnthropic, APIHTTP}
	endpoints := []string{"chat.completions", "messages", "POST /v1/retrieve"}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		api, endpoint := apis[int(which)%3], endpoints[int(which)%3]
		s := scanner{data: body}
		scanErr := s.scan()
		if want := strictOracle(body); (scanErr == nil) != want {
			t.Fatalf("scan(%q) = %v, but encoding/json with the strict rules says accepted=%v", body, scanErr, want)
		}
		r, err := ParseRequest(api, endpoint, body)
		if err != nil {
			if _, ok := errors.AsType[*RequestError](err); !ok {
				t.Fatalf("ParseRequest(%q) error %T, want *RequestError", body, err)
			}
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if len(top) != len(r.members) {
			t.Fatalf("accepted %q with %d members, encoding/json decodes %d", body, len(r.members), len(top))
		}
		if est := estimateTokens(t, body); r.InputTokens != est {
			t.Fatalf("InputTokens = %d, want %d from encoding/json", r.InputTokens, est)
		}
		if api != APIHTTP {
			var m struct{ Model string }
			json.Unmarshal(top["model"], &m.Model)
			if m.Model != r.Model {
				t.Fatalf("Model = %q, encoding/json decodes %q", r.Model, m.Model)
			}
		}
		out := r.Canonical(r.Model)
		r2, err := ParseRequest(api, endpoint, out)
		if err != nil {
			t.Fatalf("ParseRequest(Canonical(%q)) = %v; body %q", out, err, body)
		}
		if diff := cmp.Diff(r, r2, cmpopts.IgnoreUnexported(Request{})); diff != "" {
			t.Fatalf("Canonical(%q) parses differently (-orig +canonical):\n%s", out, diff)
		}
		for _, m := range r.members {
			v1, ok1 := r.Field(string(m.name))
			v2, ok2 := r2.Field(string(m.name))
			if v1 != v2 || ok1 != ok2 {
				t.Fatalf("Field(%q) = %q, %v; after Canonical %q, %v", m.name, v1, ok1, v2, ok2)
			}
		}
	})
}

// strictOracle decides with encoding/json whether body passes the strict
// scanner: one valid JSON object, valid UTF-8, no unpaired surrogate
// escapes, no two member names of one object equal in any case, nesting
// at most maxDepth.
func strictOracle(body []byte) bool {
	if !json.Valid(body) || !utf8.Valid(body) {
		return false
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return false
	}
	if hasLoneSurrogate(body) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	ok, err := oracleValue(dec, 0)
	if err != nil {
		panic(err) // json.Valid said it was valid
	}
	return ok
}

func oracleValue(dec *json.Decoder, depth int) (bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	delim, isDelim := tok.(json.Delim)
	if !isDelim {
		return true, nil
	}
	if depth++; depth > maxDepth {
		return false, nil
	}
	ok := true
	var names []string
	for dec.More() {
		if delim == '{' {
			k, err := dec.Token()
			if err != nil {
				return false, err
			}
			name := k.(string)
			for _, n := range names {
				if strings.EqualFold(n, name) {
					ok = false
				}
			}
			names = append(names, name)
		}
		vok, err := oracleValue(dec, depth)
		if err != nil {
			return false, err
		}
		ok = ok && vok
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return false, err
	}
	return ok, nil
}

// hasLoneSurrogate finds a \u escape of a surrogate not part of a pair, by
// walking the string tokens of a valid JSON text.
func hasLoneSurrogate(body []byte) bool {
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if body[i+1] != 'u' {
				i++
				continue
			}
			r, _ := hex4(body, i+2)
			switch {
			case utf16IsLow(r):
				return true
			case utf16IsHigh(r):
				lo, ok := hex4(body, i+8)
				if !ok || body[i+6] != '\\' || body[i+7] != 'u' || !utf16IsLow(lo) {
					return true
				}
				i += 6
			}
			i += 5
		}
	}
	return false
}
