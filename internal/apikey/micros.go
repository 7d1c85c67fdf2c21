package apikey

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Micros is an amount of money in micro-US-dollars: 1 USD = 1,000,000
// micros, so the smallest amount is 0.000001 USD. Money is counted in
// integers, never in floats, so that sums of many small per-call costs are
// exact and every store and replica adds them up to the same total; a
// micro-dollar is finer than any provider's per-token price, and an int64
// of them still holds more than nine trillion dollars.
//
// Its JSON form is a number of US dollars with at most 6 decimal places,
// such as 12.5 or 0.000001, never a string; [Micros.UnmarshalJSON] refuses
// anything it could not hold exactly.
type Micros int64

// MicrosPerUSD is the number of micros in one US dollar.
const MicrosPerUSD Micros = 1_000_000

// microsDigits is the number of decimal places a Micros amount has in USD.
const microsDigits = 6

// maxUSD is the largest amount, as text, for error messages.
const maxUSD = "9223372036854.775807"

// errNotUSD is the answer to JSON that is not a number at all.
var errNotUSD = errors.New("must be a number of US dollars such as 12.5")

// ParseUSD parses an amount of US dollars written as a decimal number, such
// as "12.5", "0.000001" or "1e3", into micros. It refuses negative amounts,
// more than 6 decimal places (digits beyond the sixth that are all zero are
// fine: "1.50000000" is 1.5), and amounts too large for a Micros. Its error
// messages describe the problem and never need the caller's context, so
// callers prefix the field or flag name.
func ParseUSD(s string) (Micros, error) {
	d, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	return d.micros(s)
}

// decimal is a number as digits × 10^exp, digits without leading or
// trailing zeros ("" for zero).
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// maxExp bounds exponents while parsing: any number with a larger one is
// too large or too fine for a Micros, and the bound keeps the arithmetic
// from overflowing on input such as "1e99999999999999999999".
const maxExp = 1000

// parseDecimal parses the JSON number grammar: -?digits(.digits)?([eE][+-]?digits)?.
func parseDecimal(s string) (decimal, error) {
	var d decimal
	rest := s
	if strings.HasPrefix(rest, "-") {
		d.neg, rest = true, rest[1:]
	}
	intPart, rest := leadingDigits(rest)
	if intPart == "" {
		return decimal{}, notUSD(s)
	}
	var frac string
	if strings.HasPrefix(rest, ".") {
		if frac, rest = leadingDigits(rest[1:]); frac == "" {
			return decimal{}, notUSD(s)
		}
	}
	exp := 0
	if rest != "" && (rest[0] == 'e' || rest[0] == 'E') {
		rest = rest[1:]
		sign := 1
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			if rest[0] == '-' {
				sign = -1
			}
			rest = rest[1:]
		}
		var digits string
		if digits, rest = leadingDigits(rest); digits == "" {
			return decimal{}, notUSD(s)
		}
		for i := range len(digits) {
			exp = min(exp*10+int(digits[i]-'0'), maxExp)
		}
		exp *= sign
	}
	if rest != "" {
		return decimal{}, notUSD(s)
	}
	d.digits = strings.TrimLeft(intPart+frac, "0")
	d.exp = exp - len(frac)
	trimmed := strings.TrimRight(d.digits, "0")
	d.exp += len(d.digits) - len(trimmed)
	d.digits = trimmed
	return d, nil
}

// micros returns d in micros; s is the text it came from, for messages.
func (d decimal) micros(s string) (Micros, error) {
	if d.digits == "" {
		return 0, nil // zero, however it is written ("0e999", "-0.0")
	}
	if d.neg {
		return 0, fmt.Errorf("%s must not be negative", quoteAmount(s))
	}
	shift := d.exp + microsDigits // micros = digits × 10^shift
	if shift < 0 {
		return 0, fmt.Errorf("%s has more than %d decimal places; the smallest amount is 0.000001 USD", quoteAmount(s), microsDigits)
	}
	if len(d.digits)+shift > 19 { // MaxInt64 has 19 digits
		return 0, fmt.Errorf("%s is too large; the largest amount is %s USD", quoteAmount(s), maxUSD)
	}
	n, err := strconv.ParseUint(d.digits+strings.Repeat("0", shift), 10, 64)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("%s is too large; the largest amount is %s USD", quoteAmount(s), maxUSD)
	}
	return Micros(n), nil
}

func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

func notUSD(s string) error {
	return fmt.Errorf("%s is not a number of US dollars such as 12.5", quoteAmount(s))
}

// quoteAmount quotes s for an error message, shortened: a request body can
// hold a megabyte of digits.
func quoteAmount(s string) string {
	const max = 32
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// Decimal returns m in US dollars as the shortest decimal number that is
// exact: "12.5", "0.000001", "3", "-0.25". It is the JSON form, without the
// trailing zeros and dollar sign of String.
func (m Micros) Decimal() string {
	var b strings.Builder
	u := uint64(m) // the magnitude, correct for math.MinInt64 too
	if m < 0 {
		b.WriteByte('-')
		u = -u
	}
	whole, frac := u/uint64(MicrosPerUSD), u%uint64(MicrosPerUSD)
	b.WriteString(strconv.FormatUint(whole, 10))
	if frac != 0 {
		f := fmt.Sprintf("%06d", frac)
		b.WriteByte('.')
		b.WriteString(strings.TrimRight(f, "0"))
	}
	return b.String()
}

// String returns m for people, as dollars with at least two decimal
// places, and more only when they are not zero: "$12.50", "$0.000001",
// "$0.00", "-$3.25".
func (m Micros) String() string {
	d := m.Decimal()
	sign := ""
	if strings.HasPrefix(d, "-") {
		sign, d = "-", d[1:]
	}
	whole, frac, _ := strings.Cut(d, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + "$" + whole + "." + frac
}

// MarshalJSON implements json.Marshaler: m as a number of US dollars.
func (m Micros) MarshalJSON() ([]byte, error) {
	return []byte(m.Decimal()), nil
}

// UnmarshalJSON implements json.Unmarshaler. It accepts a JSON number of
// US dollars, with the rules of [ParseUSD]; null leaves m unchanged, as for
// other numbers. Strings are refused even when they hold a number: an
// amount has one form on the wire.
func (m *Micros) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if s == "" || !(s[0] == '-' || '0' <= s[0] && s[0] <= '9') {
		return errNotUSD // a string, true, false, an object or an array
	}
	v, err := ParseUSD(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}
