package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// The column encodings are described in the package comment. Every value
// written goes through these functions, and every value read comes back
// through their inverses.

// timeValue encodes t as Unix microseconds, or NULL for the zero time.
func timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeOf decodes a column written by timeValue.
func timeOf(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// norm returns t as it will read back: in UTC, truncated to microseconds,
// or the zero time. Records are normalized before they are written, so
// that what an update returns is exactly what a later read returns.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func scopesValue(s scope.Set) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode scopes: %w", err)
	}
	return string(b), nil
}

func scopesOf(text string) (scope.Set, error) {
	var s scope.Set
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return scope.Set{}, fmt.Errorf("decode scopes %q: %w", text, err)
	}
	return s, nil
}

func cidrsValue(ps []netip.Prefix) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.String()
	}
	return strings.Join(ss, " ")
}

func cidrsOf(text string) ([]netip.Prefix, error) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, len(fields))
	for i, f := range fields {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("decode cidrs: %w", err)
		}
		out[i] = p
	}
	return out, nil
}

func hashOf(b []byte) (apikey.Hash, error) {
	var h apikey.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("decode hash: %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}
