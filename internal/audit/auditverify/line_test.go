package auditverify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		pos  int64
		want string // the Reason, or "" for a good line
	}{
		{"authz", string(testLine(0, "")), 0, ""},
		{"usage", string(testLine(1, "")), 1, ""},
		{"admin with nested array", string(testLine(2, "")), 2, ""},
		{"large idx", `{"v":1,"idx":123456789012,"ts":"x","event":"e"}`, 123456789012, ""},
		{"all JSON kinds", `{"v":1,"idx":0,"ts":"x","event":"e","a":[true,false,null,-1.5e+3,{}],"b":"\u00e9\n"}`, 0, ""},
		{"empty", ``, 3, "record 3: empty line"},
		{"version 2", `{"v":2,"idx":3,"ts":"x","event":"e"}`, 3, `record 3: does not start with {"v":1,"idx":`},
		{"idx first", `{"idx":3,"v":1,"ts":"x","event":"e"}`, 3, `record 3: does not start with {"v":1,"idx":`},
		{"idx differs", `{"v":1,"idx":4,"ts":"x","event":"e"}`, 3, "record 3: idx is 4"},
		{"idx leading zero", `{"v":1,"idx":03,"ts":"x","event":"e"}`, 3, "record 3: idx is not a canonical decimal number"},
		{"idx string", `{"v":1,"idx":"3","ts":"x","event":"e"}`, 3, "record 3: idx is not a canonical decimal number"},
		{"idx too long", `{"v":1,"idx":1234567890123456789,"ts":"x","event":"e"}`, 3, "record 3: idx is not a canonical decimal number"},
		{"idx negative", `{"v":1,"idx":-3,"ts":"x","event":"e"}`, 3, "record 3: idx is not a canonical decimal number"},
		{"idx fraction", `{"v":1,"idx":3.0,"ts":"x","event":"e"}`, 3, `record 3: "ts" does not follow "idx"`},
		{"no ts", `{"v":1,"idx":3,"event":"e"}`, 3, `record 3: "ts" does not follow "idx"`},
		{"no event", `{"v":1,"idx":3,"ts":"x","kind":"e"}`, 3, `record 3: "event" does not follow "ts"`},
		{"unterminated ts", `{"v":1,"idx":3,"ts":"x`, 3, `record 3: "event" does not follow "ts"`},
		{"trailing data", `{"v":1,"idx":3,"ts":"x","event":"e"}{}`, 3, "record 3: not one compact JSON object"},
		{"space", `{"v":1,"idx":3,"ts":"x","event":"e", "a":1}`, 3, "record 3: not one compact JSON object"},
		{"carriage return", "{\"v\":1,\"idx\":3,\"ts\":\"x\",\"event\":\"e\"}\r", 3, "record 3: not one compact JSON object"},
		{"unterminated", `{"v":1,"idx":3,"ts":"x","event":"e"`, 3, "record 3: not one compact JSON object"},
		{"bad escape", `{"v":1,"idx":3,"ts":"x","event":"\x"}`, 3, "record 3: not one compact JSON object"},
		{"control character", "{\"v\":1,\"idx\":3,\"ts\":\"x\",\"event\":\"\t\"}", 3, "record 3: not one compact JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLine([]byte(tt.line), tt.pos)
			got := ""
			if err != nil {
				ve := err.(*VerifyError)
				if ve.Position != tt.pos {
					t.Errorf("Position = %d, want %d", ve.Position, tt.pos)
				}
				got = ve.Reason
			}
			if got != tt.want {
				t.Errorf("checkLine(%s) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestValidCompactObjectDepth(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + "}")
	}
	if !validCompactObject(deep(maxDepth)) {
		t.Errorf("nesting %d refused", maxDepth)
	}
	if validCompactObject(deep(maxDepth + 1)) {
		t.Errorf("nesting %d accepted", maxDepth+1)
	}
}

// FuzzValidCompactObject checks the hand-written validator against
// encoding/json: it must accept exactly the JSON objects that json.Compact
// leaves unchanged.
func FuzzValidCompactObject(f *testing.F) {
	for i := range int64(3) {
		f.Add(testLine(i, ""))
	}
	for _, s := range []string{`{}`, `{"a":[]}`, `{"a":1e5}`, `{"a":-0.0E-0}`, `{"a":"\ud800"}`, `{"a":01}`,
		`{"a":1.}`, `{"a":.1}`, `{"a":tru}`, `{"a":"\u12"}`, `{"a" :1}`, `[1]`, `"x"`, "{\"a\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var compact bytes.Buffer
		want := len(b) > 0 && b[0] == '{' && json.Valid(b) && json.Compact(&compact, b) == nil && bytes.Equal(compact.Bytes(), b)
		if got := validCompactObject(b); got != want {
			t.Fatalf("validCompactObject(%q) = %v, want %v", b, got, want)
		}
	})
}
