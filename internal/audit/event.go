package audit

import (
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Event is the content of one audit record: an [Authz], a [Usage], an
// [Admin] change, an [Alert] or an [Override]. The set is closed (the method that
// writes an event's fields is unexported) so that the encoder writes only
// the fields the format names, in its order.
type Event interface {
	// EventName returns the line's "event" field: "authz", "usage", an admin
	// action such as "key.create", or "audit.override".
	EventName() string

	// appendFields appends the event's fields, each as `,"name":value`.
	appendFields(e *encoder)
}

// Record is one decoded line of the log: its position, the time the log
// assigned it, and its event.
type Record struct {
	// Index is the record's position in the log, from 0.
	Index uint64
	// Time is in UTC with millisecond precision.
	Time  time.Time
	Event Event
}

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

// EventName returns "authz".
func (Authz) EventName() string { return "authz" }

func (a Authz) appendFields(e *encoder) {
	e.str("req", a.RequestID)
	e.str("key", a.KeyID)
	e.str("principal", a.Principal)
	e.str("team", a.Team)
	e.str("feature", a.Feature)
	e.str("scope", a.Scope)
	e.str("endpoint", a.Endpoint)
	e.str("resource", a.Resource)
	e.str("client_ip", a.ClientIP)
	e.str("decision", a.Decision)
	e.str("reason", a.Reason)
	e.int("status", int64(a.Status))
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
	// Latency is recorded in whole milliseconds (truncated).
	Latency time.Duration
	// Outcome is "ok", "upstream_error", "client_abort" or "timeout".
	Outcome string
}

// EventName returns "usage".
func (Usage) EventName() string { return "usage" }

func (u Usage) appendFields(e *encoder) {
	known := int64(0)
	if u.UsageKnown {
		known = 1
	}
	e.str("req", u.RequestID)
	e.str("key", u.KeyID)
	e.int("status", int64(u.Status))
	e.int("tokens_in", u.InputTokens)
	e.int("tokens_out", u.OutputTokens)
	e.int("usage_known", known)
	e.int("latency_ms", u.Latency.Milliseconds())
	e.str("outcome", u.Outcome)
}

// Admin is an admin change (an [apikey.Change]) as an event: its Action is
// the event name. Convert with Admin(c).
type Admin apikey.Change

// EventName returns the change's action, e.g. "key.create".
func (a Admin) EventName() string { return a.Action }

func (a Admin) appendFields(e *encoder) {
	e.str("actor", a.Actor)
	e.str("target", a.Target)
	e.str("principal", string(a.Principal))
	e.changes("changes", a.Fields)
}

// OverrideEvent is the event name of [Override].
const OverrideEvent = "audit.override"

// ReasonTruncated is the [Override] reason for opening a log that has fewer
// records than its last signed checkpoint.
const ReasonTruncated = "truncated_below_checkpoint"

// Override records that an operator opened the log although it no longer
// extends its last signed checkpoint (LogOptions.AllowTruncatedBelowCheckpoint).
// It is the first record written after the cut, so it sits at index
// Records.
type Override struct {
	// Reason is [ReasonTruncated].
	Reason string
	// SignedSize and SignedRoot (base64) are the tree of the largest
	// checkpoint that the records no longer reach.
	SignedSize uint64
	SignedRoot string
	// Records is how many records were found: SignedSize-Records records
	// that were signed are missing.
	Records uint64
	// Superseded is the directory, relative to the log directory, that the
	// checkpoints above Records were moved to (kept as evidence, out of the
	// way of the new checkpoints of the same sizes).
	Superseded string
}

// EventName returns [OverrideEvent].
func (Override) EventName() string { return OverrideEvent }

func (o Override) appendFields(e *encoder) {
	e.str("reason", o.Reason)
	e.uint("signed_size", o.SignedSize)
	e.str("signed_root", o.SignedRoot)
	e.uint("records", o.Records)
	e.str("superseded", o.Superseded)
}

// AlertPrefix starts the event name of every [Alert].
const AlertPrefix = "alert."

// Alert records that something needs an operator's attention: a budget
// threshold crossed, a detector firing. Its event name is "alert." + Rule.
// An alert changes nothing by itself; an action it triggers (a key
// suspended) is an [Admin] event of its own.
type Alert struct {
	// Rule names what raised the alert: "budget", …; one lowercase word
	// of a-z, 0-9 and _, starting with a letter.
	Rule string
	// Subject is what the alert is about: "key:<id>" or "principal:<id>".
	Subject string
	// Principal is the subject's principal, so an owner can be told.
	Principal string
	// Figures are what tripped the alert, as space-separated name=value
	// pairs ("kind=tokens_per_day threshold_pct=80 used=8000 max=10000"),
	// readable by people and by tools.
	Figures string
}

// EventName returns "alert." + Rule.
func (a Alert) EventName() string { return AlertPrefix + a.Rule }

func (a Alert) appendFields(e *encoder) {
	e.str("subject", a.Subject)
	e.str("principal", a.Principal)
	e.str("figures", a.Figures)
}
