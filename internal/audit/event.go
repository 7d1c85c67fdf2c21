package audit

import (
	"bytes"
	"strconv"
	"time"
)

// Authz is the event written before a request is forwarded, or when it is
// refused: the decision and everything it was made on. It is durable before
// anything is forwarded: no record, no call.
type Authz struct {
	RequestID string
	// KeyID is the presented key's id when it could be read, even for a
	// refused key; never the secret.
	KeyID     string
	Principal string
	Team      string
	Feature   string
	// Scope is the scope that granted the request, or the one that was
	// missing.
	Scope    string
	Endpoint string
	// Resource is the canonical model or dataset.
	Resource string
	ClientIP string
	// Decision is "allow" or "deny".
	Decision string
	// Reason is machine-readable: "allowed", "missing_scope",
	// "invalid_key", "key_revoked", "rate_limited", ….
	Reason string
	// Status is the HTTP status a denial answered (0 for allow).
	Status int
}

// Usage is the event written after an allowed request finished.
type Usage struct {
	RequestID    string
	KeyID        string
	Status       int
	InputTokens  int64
	OutputTokens int64
	// UsageKnown is false when the upstream reported no usage.
	UsageKnown bool
	Latency    time.Duration
	// Outcome is "ok", "upstream_error", "client_abort" or "timeout".
	Outcome string
}

// line builds one event line: {"v":1,"ts":…,"event":…, fields…}. Fields
// are written in the order given, strings and integers only, so the bytes
// are fixed by this code and never by a library's choices.
type line struct{ b bytes.Buffer }

func newLine(ts time.Time, event string) *line {
	l := &line{}
	l.b.WriteString(`{"v":1,"ts":`)
	writeString(&l.b, ts.UTC().Format("2006-01-02T15:04:05.000Z"))
	l.str("event", event)
	return l
}

func (l *line) str(k, v string) *line {
	l.b.WriteString(`,"` + k + `":`)
	writeString(&l.b, v)
	return l
}

func (l *line) int(k string, v int64) *line {
	l.b.WriteString(`,"` + k + `":`)
	l.b.WriteString(strconv.FormatInt(v, 10))
	return l
}

func (l *line) bytes() []byte {
	l.b.WriteString("}\n")
	return l.b.Bytes()
}

// EncodeAuthz returns the version 1 line of an authz event.
func EncodeAuthz(ts time.Time, e Authz) []byte {
	return newLine(ts, "authz").
		str("request_id", e.RequestID).str("key_id", e.KeyID).str("principal", e.Principal).str("team", e.Team).
		str("feature", e.Feature).str("scope", e.Scope).str("endpoint", e.Endpoint).str("resource", e.Resource).
		str("client_ip", e.ClientIP).str("decision", e.Decision).str("reason", e.Reason).int("status", int64(e.Status)).
		bytes()
}

// EncodeUsage returns the version 1 line of a usage event.
func EncodeUsage(ts time.Time, e Usage) []byte {
	known := int64(0)
	if e.UsageKnown {
		known = 1
	}
	return newLine(ts, "usage").
		str("request_id", e.RequestID).str("key_id", e.KeyID).int("status", int64(e.Status)).
		int("tokens_in", e.InputTokens).int("tokens_out", e.OutputTokens).int("usage_known", known).
		int("latency_ms", e.Latency.Milliseconds()).str("outcome", e.Outcome).
		bytes()
}
