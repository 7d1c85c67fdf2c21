package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// The query parameters of GET /admin/v1/audit/events, besides principal,
// after and limit.
const (
	paramKey      = "key"
	paramEvent    = "event"
	paramDecision = "decision"
	paramFeature  = "feature"
	paramSince    = "since"
	paramUntil    = "until"
)

// parseAuditFilter reads the filter of an events request. Every value is
// checked here, so the AuditReader receives only well-formed ones and
// Limit is always 1 to maxAuditPage.
func parseAuditFilter(r *http.Request) (AuditFilter, error) {
	values, err := strictQuery(r, paramKey, paramPrincipal, paramEvent, paramDecision, paramFeature,
		paramSince, paramUntil, paramAfter, paramLimit)
	if err != nil {
		return AuditFilter{}, err
	}
	f := AuditFilter{
		Key:       values.Get(paramKey),
		Principal: values.Get(paramPrincipal),
		Event:     values.Get(paramEvent),
		Decision:  values.Get(paramDecision),
		Feature:   values.Get(paramFeature),
		Limit:     maxAuditPage,
	}
	if f.Feature != "" && !isToken(f.Feature, 128) {
		return AuditFilter{}, badRequest(paramFeature, "is not a feature name")
	}
	if f.Key != "" && !isToken(f.Key, 128) {
		return AuditFilter{}, badRequest(paramKey, "is not a key id")
	}
	if f.Principal != "" && !apikey.ValidPrincipalID(apikey.PrincipalID(f.Principal)) {
		return AuditFilter{}, badRequest(paramPrincipal, "is not a valid principal id (or pseudonym)")
	}
	if f.Event != "" && !isEventName(f.Event) {
		return AuditFilter{}, badRequest(paramEvent, "is not an event type, such as authz, usage or key.create")
	}
	switch f.Decision {
	case "", "allow", "deny":
	default:
		return AuditFilter{}, badRequest(paramDecision, `must be "allow" or "deny"`)
	}
	if f.Since, err = parseTime(paramSince, values.Get(paramSince)); err != nil {
		return AuditFilter{}, err
	}
	if f.Until, err = parseTime(paramUntil, values.Get(paramUntil)); err != nil {
		return AuditFilter{}, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return AuditFilter{}, badRequest(paramUntil, "must be later than since")
	}
	if s := values.Get(paramAfter); s != "" {
		if f.After, err = parsePosition(paramAfter, s); err != nil {
			return AuditFilter{}, err
		}
	}
	if s := values.Get(paramLimit); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditPage {
			return AuditFilter{}, badRequest(paramLimit, "must be a whole number from 1 to %d", maxAuditPage)
		}
		f.Limit = n
	}
	return f, nil
}

// parseTime reads an RFC 3339 time; empty is the zero time.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest(name, "must be an RFC 3339 time, such as 2026-11-28T10:00:00Z")
	}
	return t.UTC(), nil
}

// parsePosition reads a record position: a decimal number, 0 or more.
func parsePosition(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(name, "must be a record position: a whole number, 0 or more")
	}
	return n, nil
}

// isToken reports whether s is 1 to n printable ASCII characters
// without spaces, as ids are.
func isToken(s string, n int) bool {
	if len(s) == 0 || len(s) > n {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// isEventName reports whether s looks like an event type: dotted words of
// lowercase letters, digits and underscores, at most 64 bytes. Whether the
// type exists is the log's business: an unknown one simply matches
// nothing.
func isEventName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
