package apikey_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
)

func TestParseUSD(t *testing.T) {
	tests := []struct {
		in   string
		want apikey.Micros
	}{
		{"0", 0},
		{"12.5", 12_500_000},
		{"12.50", 12_500_000},
		{"0.000001", 1},
		{"1.5000000000", 1_500_000}, // zeros past the sixth place are exact
		{"3", 3_000_000},
		{"1e3", 1_000_000_000},
		{"1E+2", 100_000_000},
		{"25e-2", 250_000},
		{"1e-6", 1},
		{"0.1e1", 1_000_000},
		{"0e999999999999999999999", 0},
		{"-0", 0},
		{"-0.0e-99", 0},
		{"007.25", 7_250_000},
		{"9223372036854.775807", math.MaxInt64},
	}
	for _, tt := range tests {
		got, err := apikey.ParseUSD(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseUSDErrors(t *testing.T) {
	tests := []struct {
		in, msg string
	}{
		{"", "is not a number"},
		{"abc", "is not a number"},
		{"$12", "is not a number"},
		{"1.", "is not a number"},
		{".5", "is not a number"},
		{"1e", "is not a number"},
		{"1.5x", "is not a number"},
		{"1,5", "is not a number"},
		{" 1", "is not a number"},
		{"+1", "is not a number"},
		{"NaN", "is not a number"},
		{"Inf", "is not a number"},
		{"-1", "must not be negative"},
		{"-0.000001", "must not be negative"},
		{"0.0000001", "more than 6 decimal places"},
		{"12.3456789", "more than 6 decimal places"},
		{"1e-7", "more than 6 decimal places"},
		{"1e-99999999999999999999", "more than 6 decimal places"},
		{"9223372036854.775808", "too large"},
		{"10000000000000", "too large"},
		{"1e13", "too large"},
		{"1e99999999999999999999", "too large"},
		{strings.Repeat("9", 100), "too large"},
	}
	for _, tt := range tests {
		got, err := apikey.ParseUSD(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseUSD(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.msg)
		}
	}
	// A long input is quoted shortened: it may be a megabyte of digits.
	_, err := apikey.ParseUSD(strings.Repeat("1", 1000))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("ParseUSD(1000 digits) = %v; want a short error", err)
	}
}

func TestMicrosText(t *testing.T) {
	tests := []struct {
		m                 apikey.Micros
		decimal, asString string
	}{
		{0, "0", "$0.00"},
		{1, "0.000001", "$0.000001"},
		{10_000, "0.01", "$0.01"},
		{12_500_000, "12.5", "$12.50"},
		{3_000_000, "3", "$3.00"},
		{1_234_567, "1.234567", "$1.234567"},
		{-3_250_000, "-3.25", "-$3.25"},
		{math.MaxInt64, "9223372036854.775807", "$9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808", "-$9223372036854.775808"},
	}
	for _, tt := range tests {
		if got := tt.m.Decimal(); got != tt.decimal {
			t.Errorf("Micros(%d).Decimal() = %q, want %q", int64(tt.m), got, tt.decimal)
		}
		if got := tt.m.String(); got != tt.asString {
			t.Errorf("Micros(%d).String() = %q, want %q", int64(tt.m), got, tt.asString)
		}
	}
}

func TestMicrosJSON(t *testing.T) {
	l := apikey.Limits{TokensPerDay: 10, CostPerDay: 12_500_000, CostPerMonth: 1}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"tokens_per_day":10,"cost_per_day":12.5,"cost_per_month":0.000001}`; string(b) != want {
		t.Errorf("Marshal(%+v) = %s, want %s", l, b, want)
	}
	var back apikey.Limits
	if err := json.Unmarshal(b, &back); err != nil || back != l {
		t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, l)
	}
	// Zero costs are left out, as the other limits are.
	if b, _ := json.Marshal(apikey.Limits{}); string(b) != "{}" {
		t.Errorf("Marshal(Limits{}) = %s, want {}", b)
	}

	for _, tt := range []struct{ in, msg string }{
		{`{"cost_per_day":"12.5"}`, "must be a number of US dollars"},
		{`{"cost_per_day":true}`, "must be a number of US dollars"},
		{`{"cost_per_day":[1]}`, "must be a number of US dollars"},
		{`{"cost_per_day":{}}`, "must be a number of US dollars"},
		{`{"cost_per_day":-1}`, "must not be negative"},
		{`{"cost_per_day":0.0000001}`, "more than 6 decimal places"},
		{`{"cost_per_month":1e400}`, "too large"},
	} {
		var got apikey.Limits
		err := json.Unmarshal([]byte(tt.in), &got)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Unmarshal(%s) = %+v, %v; want an error containing %q", tt.in, got, err, tt.msg)
		}
	}
	// null leaves the value alone, as it does for the other numbers.
	got := apikey.Limits{CostPerDay: 5}
	if err := json.Unmarshal([]byte(`{"cost_per_day":null}`), &got); err != nil || got.CostPerDay != 5 {
		t.Errorf("Unmarshal(null) = %+v, %v; want CostPerDay unchanged", got, err)
	}
}

// FuzzParseUSD checks that ParseUSD never panics, that what it accepts is
// never negative, and that an accepted amount round-trips through its
// JSON form (Decimal) and its String form exactly.
func FuzzParseUSD(f *testing.F) {
	for _, s := range []string{"0", "12.5", "0.000001", "1e3", "25e-2", "-1", "1e-7", "9223372036854.775807",
		"9223372036854.775808", "1e99999", "abc", "", "1.", "-0", "0.1000000", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := apikey.ParseUSD(s)
		if err != nil {
			return
		}
		if m < 0 {
			t.Fatalf("ParseUSD(%q) = %d, negative", s, m)
		}
		back, err := apikey.ParseUSD(m.Decimal())
		if err != nil || back != m {
			t.Fatalf("ParseUSD(%q) = %d, but ParseUSD(Decimal() = %q) = %d, %v", s, m, m.Decimal(), back, err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var j apikey.Micros
		if err := json.Unmarshal(b, &j); err != nil || j != m {
			t.Fatalf("JSON round trip of %d: %s = %d, %v", m, b, j, err)
		}
		str := strings.TrimPrefix(m.String(), "$")
		if back, err := apikey.ParseUSD(str); err != nil || back != m {
			t.Fatalf("String() = %q does not parse back to %d: %d, %v", m.String(), m, back, err)
		}
	})
}
