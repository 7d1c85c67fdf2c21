package audit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scopegate/scopegate/internal/apikey"
)

var testTime = time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		idx  uint64
		e    Event
		want string
	}{
		{"Authz", 0, Authz{RequestID: "req-1", KeyID: "K1", Principal: "alice", Team: "ml", Feature: "chatbot",
			Scope: "chatbot:gpt-4o-mini", Endpoint: "/v1/chat/completions", Resource: "gpt-4o-mini",
			ClientIP: "10.0.0.1", Decision: "allow", Reason: "allowed"},
			`{"v":1,"idx":0,"ts":"2026-11-28T10:00:00.123Z","event":"authz","req":"req-1","key":"K1","principal":"alice","team":"ml","feature":"chatbot","scope":"chatbot:gpt-4o-mini","endpoint":"/v1/chat/completions","resource":"gpt-4o-mini","client_ip":"10.0.0.1","decision":"allow","reason":"allowed","status":0}`},
		{"AuthzDenied", 42, Authz{RequestID: "r", Decision: "deny", Reason: "invalid_key", Status: 401},
			`{"v":1,"idx":42,"ts":"2026-11-28T10:00:00.123Z","event":"authz","req":"r","key":"","principal":"","team":"","feature":"","scope":"","endpoint":"","resource":"","client_ip":"","decision":"deny","reason":"invalid_key","status":401}`},
		{"Usage", 7, Usage{RequestID: "r", KeyID: "K", Status: 200, InputTokens: 11, OutputTokens: 7, UsageKnown: true,
			Latency: 1500*time.Microsecond + 999*time.Nanosecond, Outcome: "ok"},
			`{"v":1,"idx":7,"ts":"2026-11-28T10:00:00.123Z","event":"usage","req":"r","key":"K","status":200,"tokens_in":11,"tokens_out":7,"usage_known":1,"latency_ms":1,"outcome":"ok"}`},
		{"UsageUnknown", 8, Usage{RequestID: "r", Status: 502, InputTokens: -1, Outcome: "upstream_error"},
			`{"v":1,"idx":8,"ts":"2026-11-28T10:00:00.123Z","event":"usage","req":"r","key":"","status":502,"tokens_in":-1,"tokens_out":0,"usage_known":0,"latency_ms":0,"outcome":"upstream_error"}`},
		{"Admin", 9, Admin{Action: "key.revoke", Actor: "admin/ID", Target: "KEYID", Principal: "alice",
			Fields: []apikey.FieldChange{{Name: "status", Before: "active", After: "revoked"}, {Name: "note", Before: "\"q\"\\\n\t\x01\x7f</é>\u2028"}}},
			`{"v":1,"idx":9,"ts":"2026-11-28T10:00:00.123Z","event":"key.revoke","actor":"admin/ID","target":"KEYID","principal":"alice","changes":[{"field":"status","before":"active","after":"revoked"},{"field":"note","before":"\"q\"\\\n\t\u0001` + "\x7f</é>\u2028" + `","after":""}]}`},
		{"AdminNoChanges", 10, Admin{Action: "principal.create"},
			`{"v":1,"idx":10,"ts":"2026-11-28T10:00:00.123Z","event":"principal.create","actor":"","target":"","principal":"","changes":[]}`},
		{"AdminPointer", 10, &Admin{Action: "principal.create"},
			`{"v":1,"idx":10,"ts":"2026-11-28T10:00:00.123Z","event":"principal.create","actor":"","target":"","principal":"","changes":[]}`},
		{"InvalidUTF8", 11, Authz{RequestID: "a\xffb"},
			`{"v":1,"idx":11,"ts":"2026-11-28T10:00:00.123Z","event":"authz","req":"a` + "\uFFFD" + `b","key":"","principal":"","team":"","feature":"","scope":"","endpoint":"","resource":"","client_ip":"","decision":"","reason":"","status":0}`},
		{"Override", 12, Override{Reason: ReasonTruncated, SignedSize: 20, SignedRoot: "abc=", Records: 12, Superseded: "checkpoints/superseded-000000000012-1"},
			`{"v":1,"idx":12,"ts":"2026-11-28T10:00:00.123Z","event":"audit.override","reason":"truncated_below_checkpoint","signed_size":20,"signed_root":"abc=","records":12,"superseded":"checkpoints/superseded-000000000012-1"}`},
		{"Alert", 13, Alert{Rule: "budget", Subject: "key:K1", Principal: "alice", Figures: "kind=tokens_per_day threshold_pct=80 used=8000 max=10000"},
			`{"v":1,"idx":13,"ts":"2026-11-28T10:00:00.123Z","event":"alert.budget","subject":"key:K1","principal":"alice","figures":"kind=tokens_per_day threshold_pct=80 used=8000 max=10000"}`},
		{"AlertPointer", 14, &Alert{Rule: "new_network"},
			`{"v":1,"idx":14,"ts":"2026-11-28T10:00:00.123Z","event":"alert.new_network","subject":"","principal":"","figures":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.idx, testTime, tt.e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Encode =\n%s\nwant\n%s", got, tt.want)
			}
			r, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode(Encode(x)): %v", err)
			}
			if again, _ := Encode(r.Index, r.Time, r.Event); string(again) != tt.want {
				t.Errorf("Encode(Decode(line)) =\n%s\nwant\n%s", again, tt.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		ts   time.Time
		e    Event
	}{
		{"Nil", testTime, nil},
		{"NilPointer", testTime, (*Authz)(nil)},
		{"AdminNamedAuthz", testTime, Admin{Action: "authz"}},
		{"AdminNoDot", testTime, Admin{Action: "keycreate"}},
		{"AdminAuditNamespace", testTime, Admin{Action: "audit.override"}},
		{"AdminAlertNamespace", testTime, Admin{Action: "alert.spike"}},
		{"AdminUppercase", testTime, Admin{Action: "Key.create"}},
		{"AlertNoRule", testTime, Alert{}},
		{"AlertDottedRule", testTime, Alert{Rule: "budget.day"}},
		{"AlertUppercase", testTime, Alert{Rule: "Budget"}},
		{"AlertLeadingDigit", testTime, Alert{Rule: "1x"}},
		{"AlertNilPointer", testTime, (*Alert)(nil)},
		{"AdminEmptyWord", testTime, Admin{Action: "key..create"}},
		{"AdminTrailingDot", testTime, Admin{Action: "key."}},
		{"AdminLeadingDigit", testTime, Admin{Action: "key.1x"}},
		{"AdminQuote", testTime, Admin{Action: `key."x`}},
		{"Year10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Authz{}},
		{"TooLong", testTime, Authz{RequestID: strings.Repeat("x", maxLine)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Encode(1, tt.ts, tt.e); err == nil {
				t.Errorf("Encode = %s, want an error", got)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	const valid = `{"v":1,"idx":3,"ts":"2026-11-28T10:00:00.123Z","event":"usage","req":"r","key":"K","status":200,"tokens_in":11,"tokens_out":7,"usage_known":1,"latency_ms":1,"outcome":"ok"}`
	if _, err := Decode([]byte(valid)); err != nil {
		t.Fatalf("Decode(valid): %v", err)
	}
	admin := `{"v":1,"idx":3,"ts":"2026-11-28T10:00:00.123Z","event":"key.create","actor":"a","target":"t","principal":"p","changes":[{"field":"f","before":"b","after":"a"}]}`
	if _, err := Decode([]byte(admin)); err != nil {
		t.Fatalf("Decode(admin): %v", err)
	}
	replace := func(s, old, new string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("test case: %q not in %s", old, s)
		}
		return strings.Replace(s, old, new, 1)
	}
	tests := []struct{ name, line string }{
		{"Empty", ""},
		{"TrailingNewline", valid + "\n"},
		{"TrailingData", valid + " "},
		{"Whitespace", replace(valid, `"idx":3`, `"idx": 3`)},
		{"Version2", replace(valid, `"v":1`, `"v":2`)},
		{"LeadingZero", replace(valid, `"idx":3`, `"idx":03`)},
		{"NegativeIdx", replace(valid, `"idx":3`, `"idx":-3`)},
		{"IdxOverflow", replace(valid, `"idx":3`, `"idx":18446744073709551616`)},
		{"NegativeZero", replace(valid, `"status":200`, `"status":-0`)},
		{"FloatStatus", replace(valid, `"status":200`, `"status":200.0`)},
		{"StringStatus", replace(valid, `"status":200`, `"status":"200"`)},
		{"UsageKnown2", replace(valid, `"usage_known":1`, `"usage_known":2`)},
		{"UsageKnownBool", replace(valid, `"usage_known":1`, `"usage_known":true`)},
		{"LatencyOverflow", replace(valid, `"latency_ms":1`, `"latency_ms":9223372036854776`)},
		{"FieldOrder", replace(valid, `"req":"r","key":"K"`, `"key":"K","req":"r"`)},
		{"UnknownField", replace(valid, `"outcome":"ok"`, `"outcome":"ok","prompt":"hi"`)},
		{"MissingField", replace(valid, `,"outcome":"ok"`, ``)},
		{"UnknownEvent", replace(valid, `"event":"usage"`, `"event":"bogus"`)},
		{"AlertWithUsageFields", replace(valid, `"event":"usage"`, `"event":"alert.spike"`)},
		{"AlertEmptyRule", `{"v":1,"idx":3,"ts":"2026-11-28T10:00:00.123Z","event":"alert.","subject":"","principal":"","figures":""}`},
		{"AlertDottedRule", `{"v":1,"idx":3,"ts":"2026-11-28T10:00:00.123Z","event":"alert.a.b","subject":"","principal":"","figures":""}`},
		{"AlertExtraField", `{"v":1,"idx":3,"ts":"2026-11-28T10:00:00.123Z","event":"alert.budget","subject":"","principal":"","figures":"","x":""}`},
		{"TimeNoMillis", replace(valid, `10:00:00.123Z`, `10:00:00Z`)},
		{"TimeOffset", replace(valid, `10:00:00.123Z`, `10:00:00.123+00:00`)},
		{"TimeMicros", replace(valid, `10:00:00.123Z`, `10:00:00.123456Z`)},
		{"TimeBadDay", replace(valid, `2026-11-28`, `2026-02-30`)},
		{"EscapedSlash", replace(valid, `"req":"r"`, `"req":"\/"`)},
		{"EscapedLetter", replace(valid, `"req":"r"`, `"req":"\u0072"`)},
		{"EscapedNewlineLong", replace(valid, `"req":"r"`, `"req":"\u000a"`)},
		{"UppercaseHex", replace(valid, `"req":"r"`, `"req":"\u001F"`)},
		{"Surrogate", replace(valid, `"req":"r"`, `"req":"\ud83d\ude00"`)},
		{"RawControl", replace(valid, `"req":"r"`, "\"req\":\"\x01\"")},
		{"RawNewline", replace(valid, `"req":"r"`, "\"req\":\"\n\"")},
		{"InvalidUTF8", replace(valid, `"req":"r"`, "\"req\":\"\xff\"")},
		{"Unterminated", `{"v":1,"idx":3,"ts":"2026-11-28T10:00:00.123Z","event":"usage","req":"r`},
		{"AdminChangesExtraField", replace(admin, `"after":"a"}`, `"after":"a","x":""}`)},
		{"AdminChangesTrailingComma", replace(admin, `"after":"a"}]`, `"after":"a"},]`)},
		{"AdminChangesNull", replace(admin, `[{"field":"f","before":"b","after":"a"}]`, `null`)},
		{"AdminBadName", replace(admin, `"key.create"`, `"Key.create"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.line))
			if err == nil {
				t.Fatalf("Decode(%q) = %+v, want an error", tt.line, r)
			}
			if _, ok := errors.AsType[*DecodeError](err); !ok {
				t.Errorf("Decode error %T, want *DecodeError", err)
			}
		})
	}
}

// FuzzDecode checks that Decode and decodeHeader never panic, that every
// line Decode accepts is the one Encode writes for what it decoded (and
// passes recovery's header check), and that events built from arbitrary
// values survive Encode then Decode.
func FuzzDecode(f *testing.F) {
	for i, e := range []Event{
		Authz{RequestID: "r", KeyID: "K", Decision: "deny", Status: 403},
		Usage{RequestID: "r", Status: 200, InputTokens: 5, UsageKnown: true, Latency: time.Second, Outcome: "ok"},
		Admin{Action: "key.create", Actor: "a", Fields: []apikey.FieldChange{{Name: "n", Before: "\x00\"", After: "é"}}},
		Override{Reason: ReasonTruncated, SignedSize: 9, Records: 3},
		Alert{Rule: "budget", Subject: "key:K", Figures: "used=1"},
	} {
		line, err := Encode(uint64(i), testTime, e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line, "s\n\"", int64(i))
	}
	f.Add([]byte(`{"v":1,"idx":0,"ts":"2026-11-28T10:00:00.123Z","event":"x.y","actor":"","target":"","principal":"","changes":[]}`), "", int64(-1))
	f.Fuzz(func(t *testing.T, line []byte, s string, n int64) {
		idx, _, headerErr := decodeHeader(line)
		if r, err := Decode(line); err == nil {
			if headerErr != nil || idx != r.Index {
				t.Fatalf("decodeHeader(%q) = %d, %v; Decode accepted it as record %d", line, idx, headerErr, r.Index)
			}
			again, err := Encode(r.Index, r.Time, r.Event)
			if err != nil {
				t.Fatalf("Encode(Decode(%q)): %v", line, err)
			}
			if string(again) != string(line) {
				t.Fatalf("Encode(Decode(line)) =\n%q\nwant\n%q", again, line)
			}
		}

		ts := time.UnixMilli(n % 253402300800000).UTC() // years 1970-9999 and before
		if checkTime(ts) != nil {
			ts = testTime
		}
		events := []Event{
			Authz{RequestID: s, KeyID: s, Principal: s, Team: s, Feature: s, Scope: s, Endpoint: s, Resource: s,
				ClientIP: s, Decision: s, Reason: s, Status: int(n)},
			Usage{RequestID: s, KeyID: s, Status: int(n), InputTokens: n, OutputTokens: -n, UsageKnown: n%2 == 0,
				Latency: time.Duration(n), Outcome: s},
			Admin{Action: "key.update", Actor: s, Target: s, Principal: apikey.PrincipalID(s),
				Fields: []apikey.FieldChange{{Name: s, Before: s, After: s}, {}}},
			Override{Reason: s, SignedSize: uint64(n), SignedRoot: s, Records: uint64(n) / 2, Superseded: s},
			Alert{Rule: "budget", Subject: s, Principal: s, Figures: s},
		}
		valid := string([]rune(s)) // each invalid byte becomes U+FFFD, as in Encode
		wantEvents := []Event{
			Authz{RequestID: valid, KeyID: valid, Principal: valid, Team: valid, Feature: valid, Scope: valid, Endpoint: valid,
				Resource: valid, ClientIP: valid, Decision: valid, Reason: valid, Status: int(n)},
			Usage{RequestID: valid, KeyID: valid, Status: int(n), InputTokens: n, OutputTokens: -n, UsageKnown: n%2 == 0,
				Latency: time.Duration(n).Truncate(time.Millisecond), Outcome: valid},
			Admin{Action: "key.update", Actor: valid, Target: valid, Principal: apikey.PrincipalID(valid),
				Fields: []apikey.FieldChange{{Name: valid, Before: valid, After: valid}, {}}},
			Override{Reason: valid, SignedSize: uint64(n), SignedRoot: valid, Records: uint64(n) / 2, Superseded: valid},
			Alert{Rule: "budget", Subject: valid, Principal: valid, Figures: valid},
		}
		for i, e := range events {
			line, err := Encode(uint64(n), ts, e)
			if err != nil {
				if len(s) > maxLine/16 {
					continue // too long for a line
				}
				t.Fatalf("Encode(%+v): %v", e, err)
			}
			r, err := Decode(line)
			if err != nil {
				t.Fatalf("Decode(Encode(%+v)) = %v\nline %q", e, err, line)
			}
			want := Record{Index: uint64(n), Time: ts, Event: wantEvents[i]}
			if diff := cmp.Diff(want, r, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decode(Encode(x)) mismatch (-want +got):\n%s", diff)
			}
		}
	})
}
