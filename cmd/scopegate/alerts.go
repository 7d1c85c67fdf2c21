package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/adminclient"
)

// newAlertsCmd returns "scopegate alerts", which lists and acknowledges the
// alerts the anomaly rules and the budget thresholds raised.
func newAlertsCmd(e *env) *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List and acknowledge alerts: probing, credential bursts, rate spikes, new networks, budgets",
		Long: `alerts reads the alerts of the gateway through the admin API (--addr or
SCOPEGATE_ADDR, authenticated with --admin-key or SCOPEGATE_ADMIN_KEY).

An alert is a group: the first time a rule trips about a subject (a key, a
principal or a client network) opens it, and the same rule tripping again
about the same subject only adds to its count, until the group has been
quiet for the configured group window (15 minutes by default). A keys:team
admin sees the alerts about its team's principals, a keys:self admin its
own; alerts about a network are for admins only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.register(cmd)
	cmd.AddCommand(newAlertsListCmd(e, &f), newAlertsAckCmd(e, &f))
	return cmd
}

// alertListFlags are the flags of alerts list.
type alertListFlags struct {
	filter         adminclient.AlertFilter
	since, until   string
	unacked, acked bool
	pages          pageFlags
}

// request checks the flags and returns the filter to send, at now.
func (l *alertListFlags) request(now time.Time) (adminclient.AlertFilter, error) {
	f := l.filter
	var err error
	if f.Since, err = sinceTime("since", l.since, now); err != nil {
		return f, err
	}
	if f.Until, err = sinceTime("until", l.until, now); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, fmt.Errorf("--until %s is not after --since %s", l.until, l.since)
	}
	switch {
	case l.unacked && l.acked:
		return f, errors.New("--acked and --unacked exclude each other")
	case l.unacked:
		f.Acked = "no"
	case l.acked:
		f.Acked = "yes"
	}
	f.Limit = l.pages.limit
	return f, nil
}

// sinceTime parses the value of flag name: RFC 3339, a date meaning
// midnight UTC, or a duration ago ("90m", "12h", "7d"). Empty is the zero
// time: no bound.
func sinceTime(name, value string, now time.Time) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, value); err == nil {
		return t, nil
	}
	if d, err := agoDuration(value); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z, a date such as 2026-11-01, or a duration ago such as 90m, 12h or 7d", name, value)
}

// agoDuration parses a positive Go duration, or whole days ("7d").
func agoDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			return 0, errors.New("bad days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

func newAlertsListCmd(e *env, f *adminFlags) *cobra.Command {
	var l alertListFlags
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List alerts, newest first",
		Example: `  scopegate alerts list --unacked
  scopegate alerts list --rule probing --since 24h
  scopegate alerts list --subject key:AbCdEfGh01234567 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := l.request(time.Now())
			if err != nil {
				return err
			}
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			page, err := collect(&l.pages, func(after string) (adminclient.Page[admin.Alert], error) {
				filter.After = after
				return s.client.Alerts(cmd.Context(), filter)
			})
			if err != nil {
				return fmt.Errorf("list alerts: %w", err)
			}
			return printPage(s, page, alertHeader, alertRow)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&l.filter.Rule, "rule", "", "only alerts of this rule: probing, credential_burst, rate_spike, new_network, budget, key_expiring")
	fs.StringVar(&l.filter.Subject, "subject", "", "only alerts about this subject: key:<id>, principal:<id> or net:<prefix>")
	fs.StringVar(&l.filter.Principal, "principal", "", "only alerts about this principal")
	fs.StringVar(&l.filter.Team, "team", "", "only alerts about principals of this team")
	fs.BoolVar(&l.unacked, "unacked", false, "only alerts nobody acknowledged yet")
	fs.BoolVar(&l.acked, "acked", false, "only acknowledged alerts")
	fs.StringVar(&l.since, "since", "", "only groups active since: RFC 3339, a UTC date, or a duration ago such as 24h or 7d")
	fs.StringVar(&l.until, "until", "", "only groups that opened before: RFC 3339, a UTC date, or a duration ago")
	l.pages.register(fs)
	return cmd
}

func newAlertsAckCmd(e *env, f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "ack ID",
		Short: "Acknowledge an alert",
		Long: `ack records that you acknowledged the alert (who and when, also as an
alert_group.ack event in the audit log). Acknowledging changes nothing else:
a key an action suspended stays suspended until "scopegate keys resume".
Acknowledging an acknowledged alert shows who did it first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return fmt.Errorf("alert id %q: want a whole number, as alerts list shows", args[0])
			}
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			r, err := s.client.AckAlert(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("ack alert %d: %w", id, err)
			}
			return printRecord(s, r, alertBlock)
		},
	}
}

const alertHeader = "ID\tRULE\tSUBJECT\tPRINCIPAL\tCOUNT\tFIRST\tLAST\tACKED_BY\tFIGURES"

func alertRow(a admin.Alert) []string {
	return []string{strconv.FormatInt(a.ID, 10), a.Rule, a.Subject, a.Principal, strconv.FormatInt(a.Count, 10),
		formatTime(a.FirstAt), formatTime(a.LastAt), a.AckedBy, a.Figures}
}

// alertBlock describes an alert; optional fields appear only when set.
func alertBlock(a admin.Alert) []field {
	fs := []field{
		{"id", strconv.FormatInt(a.ID, 10)},
		{"rule", a.Rule},
		{"subject", a.Subject},
		{"principal", a.Principal},
		{"team", a.Team},
	}
	if a.Key != "" {
		fs = append(fs, field{"key", a.Key})
	}
	fs = append(fs,
		field{"figures", a.Figures},
		field{"count", strconv.FormatInt(a.Count, 10)},
		field{"first_at", formatTime(a.FirstAt)},
		field{"last_at", formatTime(a.LastAt)},
	)
	if a.AckedAt != nil {
		fs = append(fs, field{"acked_at", formatBy(*a.AckedAt, a.AckedBy)})
	} else {
		fs = append(fs, field{"acked_at", "not acknowledged"})
	}
	return fs
}
