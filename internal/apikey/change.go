package apikey

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Recorder receives every change an Issuer makes, for the audit log. It is
// declared here, where it is used; the audit package provides it.
type Recorder interface {
	// Record makes the change durable. An error means it was not recorded.
	Record(ctx context.Context, c Change) error
}

// Change is one admin change: who did what to which object, and the before
// and after of each field that changed. It never holds a secret.
type Change struct {
	// Action is e.g. "key.create", "key.rotate", "principal.disable".
	Action string
	// Actor is Actor.String() of who made the change.
	Actor string
	// Target is the id of the principal or key changed.
	Target string
	// Principal is the principal concerned (the key's owner for key
	// changes).
	Principal PrincipalID
	// Fields are the fields that changed, sorted by name.
	Fields []FieldChange
}

// FieldChange is one field's value before and after a change, as text.
type FieldChange struct {
	Name   string
	Before string
	After  string
}

// keyFields returns the audited fields of a key as text. The hash is left
// out: it is not a secret, but it has no business in a log either.
func keyFields(k *Key) map[string]string {
	if k == nil {
		return nil
	}
	cidrs := make([]string, len(k.CIDRs))
	for i, p := range k.CIDRs {
		cidrs[i] = p.String()
	}
	return map[string]string{
		"class":        string(k.Class),
		"name":         k.Name,
		"principal":    string(k.Principal),
		"scopes":       k.Scopes.String(),
		"env":          string(k.Env),
		"not_before":   formatTime(k.NotBefore),
		"expires_at":   formatTime(k.ExpiresAt),
		"cidrs":        strings.Join(cidrs, " "),
		"limits":       formatLimits(k.Limits),
		"status":       string(k.Status),
		"last4":        k.Last4,
		"rotated_from": string(k.RotatedFrom),
		"replaced_by":  string(k.ReplacedBy),
	}
}

func principalFields(p *Principal) map[string]string {
	if p == nil {
		return nil
	}
	return map[string]string{
		"kind":     string(p.Kind),
		"audience": string(p.Audience),
		"team":     p.Team,
		"scopes":   p.Ceiling.String(),
		"status":   string(p.Status),
		"limits":   formatLimits(p.Limits),
	}
}

// diff returns the fields whose text differs between before and after.
func diff(before, after map[string]string) []FieldChange {
	var out []FieldChange
	for name, a := range after {
		if b := before[name]; a != b {
			out = append(out, FieldChange{Name: name, Before: b, After: a})
		}
	}
	for name, b := range before {
		if _, ok := after[name]; !ok && b != "" {
			out = append(out, FieldChange{Name: name, Before: b})
		}
	}
	slices.SortFunc(out, func(x, y FieldChange) int { return strings.Compare(x.Name, y.Name) })
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func formatLimits(l Limits) string {
	var parts []string
	add := func(name string, v int64) {
		if v != 0 {
			parts = append(parts, name+"="+strconv.FormatInt(v, 10))
		}
	}
	add("requests_per_minute", l.RequestsPerMinute)
	add("tokens_per_minute", l.TokensPerMinute)
	add("concurrent", l.Concurrent)
	add("tokens_per_day", l.TokensPerDay)
	add("tokens_per_month", l.TokensPerMonth)
	// Costs are written as the API writes them, in US dollars, so that an
	// audit reader sees the number an operator typed.
	if l.CostPerDay != 0 {
		parts = append(parts, "cost_per_day="+l.CostPerDay.Decimal())
	}
	if l.CostPerMonth != 0 {
		parts = append(parts, "cost_per_month="+l.CostPerMonth.Decimal())
	}
	return strings.Join(parts, " ")
}
