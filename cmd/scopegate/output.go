package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/adminclient"
	"github.com/scopegate/scopegate/internal/apikey"
)

// How management commands print: -o json prints records exactly as the
// admin API sent them (lists as {"items":[…],"next":"…"}), for scripts;
// the default prints a table for lists and a "field: value" block for one
// record, for people. Block field names are the JSON names, so what people
// read maps onto what scripts parse.

// oneTimeKeyWarning goes to stderr whenever a new key is printed.
const oneTimeKeyWarning = "This key is shown once; it cannot be shown again. Store it now."

// field is one line of a record block.
type field struct{ name, value string }

// printRecord prints r as JSON or as the block that block describes.
func printRecord[T any](s *session, r adminclient.Record[T], block func(T) []field) error {
	if s.json {
		return writeJSONLine(s.stdout, r.JSON)
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	for _, f := range block(r.Value) {
		fmt.Fprintf(tw, "%s:\t%s\n", f.name, cell(f.value))
	}
	return tw.Flush()
}

// printPage prints a list as JSON or as a table with header (tab-separated
// column names) and one row per item.
func printPage[T any](s *session, p adminclient.Page[T], header string, row func(T) []string) error {
	if s.json {
		if p.Items == nil {
			p.Items = []adminclient.Record[T]{}
		}
		enc := json.NewEncoder(s.stdout)
		enc.SetEscapeHTML(false) // keep the server's text as it is
		return enc.Encode(p)
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range p.Items {
		cells := row(it.Value)
		for i, c := range cells {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.Next != "" {
		fmt.Fprintf(s.stderr, "More results: pass --after %s for the next page, or --all.\n", p.Next)
	}
	return nil
}

func writeJSONLine(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// cell makes server text safe for one table cell: "-" for nothing, and
// control characters (tabs, newlines, terminal escapes in a key name)
// replaced so they cannot break the table or drive the terminal.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

func joinList(s []string) string { return strings.Join(s, ",") }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

// formatBy appends who did something to when it was done.
func formatBy(t time.Time, by string) string {
	if by == "" {
		return formatTime(t)
	}
	return formatTime(t) + " by " + by
}

// formatLimits lists the limits that are set, by their JSON names.
func formatLimits(l apikey.Limits) string {
	var parts []string
	for _, f := range (&limitFlags{Limits: l}).fields() {
		if *f.v != 0 {
			parts = append(parts, f.json+"="+f.text())
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

const principalHeader = "ID\tKIND\tAUDIENCE\tTEAM\tSTATUS\tSCOPES"

func principalRow(p admin.Principal) []string {
	return []string{p.ID, p.Kind, p.Audience, p.Team, p.Status, joinList(p.Scopes)}
}

func principalBlock(p admin.Principal) []field {
	return []field{
		{"id", p.ID},
		{"kind", p.Kind},
		{"audience", p.Audience},
		{"team", p.Team},
		{"status", p.Status},
		{"scopes", joinList(p.Scopes)},
		{"limits", formatLimits(p.Limits)},
		{"created_at", formatBy(p.CreatedAt, p.CreatedBy)},
		{"updated_at", formatBy(p.UpdatedAt, p.UpdatedBy)},
	}
}

const keyHeader = "ID\tNAME\tPRINCIPAL\tKIND\tENV\tSTATUS\tSCOPES\tEXPIRES\tLAST4"

func keyRow(k admin.Key) []string {
	return []string{k.ID, k.Name, k.Principal, k.Kind, k.Env, k.Status, joinList(k.Scopes), formatTime(k.ExpiresAt), k.Last4}
}

// keyBlock describes a key record; optional fields appear only when set.
func keyBlock(k admin.Key) []field {
	fs := []field{
		{"id", k.ID},
		{"name", k.Name},
		{"principal", k.Principal},
		{"kind", k.Kind},
		{"env", k.Env},
		{"status", k.Status},
		{"scopes", joinList(k.Scopes)},
	}
	if k.NotBefore != nil {
		fs = append(fs, field{"not_before", formatTimePtr(k.NotBefore)})
	}
	fs = append(fs, field{"expires_at", formatTime(k.ExpiresAt)})
	cidrs := joinList(k.CIDRs)
	if cidrs == "" {
		cidrs = "any"
	}
	fs = append(fs,
		field{"cidrs", cidrs},
		field{"limits", formatLimits(k.Limits)},
		field{"last4", k.Last4},
	)
	fs = appendIfSet(fs, "rotated_from", k.RotatedFrom)
	fs = appendIfSet(fs, "replaced_by", k.ReplacedBy)
	lastUsed := formatTimePtr(k.LastUsedAt)
	if lastUsed == "" {
		lastUsed = "never"
	}
	fs = append(fs,
		field{"last_used_at", lastUsed},
		field{"created_at", formatBy(k.CreatedAt, k.CreatedBy)},
		field{"updated_at", formatBy(k.UpdatedAt, k.UpdatedBy)},
	)
	if k.RevokedAt != nil {
		fs = append(fs, field{"revoked_at", formatBy(*k.RevokedAt, k.RevokedBy)})
	}
	// Last, so it stands out, and only in the answer to create and rotate.
	return appendIfSet(fs, "key", k.Key)
}

func appendIfSet(fs []field, name, value string) []field {
	if value == "" {
		return fs
	}
	return append(fs, field{name, value})
}
