package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/adminclient"
	"github.com/scopegate/scopegate/internal/usage"
)

// usageFlags are the flags of usage.
type usageFlags struct {
	from, to string
	by       []string
	filter   adminclient.UsageFilter
}

func (u *usageFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&u.from, "from", "", "start, RFC 3339 or a UTC date such as 2026-11-01 (default: the start of the current UTC month)")
	fs.StringVar(&u.to, "to", "", "end, excluded, RFC 3339 or a UTC date (default: the end of the current hour)")
	fs.StringSliceVar(&u.by, "by", nil, `dimensions of each row, comma-separated: key, principal, team, feature, model, day, hour (default key; "" for totals only)`)
	fs.StringVar(&u.filter.Key, "key", "", "only the usage of this key id")
	fs.StringVar(&u.filter.Principal, "principal", "", "only the usage of this principal's keys")
	fs.StringVar(&u.filter.Team, "team", "", "only usage recorded for this team")
	fs.StringVar(&u.filter.Feature, "feature", "", "only the usage of this feature")
	fs.StringVar(&u.filter.Model, "model", "", "only the usage of this model")
}

// request checks the flags and returns the report to ask for. Mistakes
// the server would refuse are refused here too, before any request, so
// they are reported the same whatever the server.
func (u *usageFlags) request(fs *pflag.FlagSet) (adminclient.UsageFilter, error) {
	f := u.filter
	var err error
	if f.From, err = dayOrTime("from", u.from); err != nil {
		return f, err
	}
	if f.To, err = dayOrTime("to", u.to); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, fmt.Errorf("--to %s is not after --from %s", u.to, u.from)
	}
	if fs.Changed("by") {
		f.GroupBy = []string{}
		for _, d := range u.by {
			d = strings.TrimSpace(d)
			if !slices.Contains(usage.Dimensions(), usage.Dimension(d)) {
				return f, fmt.Errorf("--by %q: unknown dimension; use %s", d, dimensionNames())
			}
			if slices.Contains(f.GroupBy, d) {
				return f, fmt.Errorf("--by %q: given twice", d)
			}
			f.GroupBy = append(f.GroupBy, d)
		}
	}
	return f, nil
}

func dimensionNames() string {
	var names []string
	for _, d := range usage.Dimensions() {
		names = append(names, string(d))
	}
	return strings.Join(names, ", ")
}

// dayOrTime parses the value of flag name: RFC 3339, or a date meaning
// midnight UTC. Empty is the zero time, the server's default.
func dayOrTime(name, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, value); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z or a date such as 2026-11-01", name, value)
}

func newUsageCmd(e *env) *cobra.Command {
	var f adminFlags
	var u usageFlags
	cmd := &cobra.Command{
		Use:   "usage [--from TIME] [--to TIME] [--by DIMENSIONS] [filters]",
		Short: "Report requests, tokens and cost per key, principal, team, feature, model, day or hour",
		Long: `usage asks the admin API (--addr or SCOPEGATE_ADDR, authenticated with
--admin-key or SCOPEGATE_ADMIN_KEY) for the requests, input and output tokens
and cost (US dollars) of the gateway's calls, summed over every replica.

Usage is kept in hourly UTC buckets: --from is rounded down and --to up to
whole hours, and the first line says the range counted. --to is excluded, so
--from 2026-11-01 --to 2026-12-01 is November. Rows are grouped by the
dimensions of --by, in that order, and filtered exactly by --key,
--principal, --team, --feature and --model. A keys:team admin sees its
team's usage only, a keys:self admin its own. Counts lag the traffic by at
most the gateway's flush interval (a second by default).`,
		Example: `  scopegate usage
  scopegate usage --from 2026-11-01 --to 2026-12-01 --by principal,model
  scopegate usage --by day --team ml -o json
  scopegate usage --by "" --feature chatbot`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := u.request(cmd.Flags())
			if err != nil {
				return err
			}
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			r, err := s.client.Usage(cmd.Context(), filter)
			if err != nil {
				return fmt.Errorf("usage report: %w", err)
			}
			return printUsage(s, r)
		},
	}
	f.register(cmd)
	u.register(cmd.Flags())
	return cmd
}

// printUsage prints a report as the server sent it (-o json), or as the
// range counted, a table with a column per dimension and per sum, and a
// line of totals.
func printUsage(s *session, r adminclient.Record[admin.UsageReport]) error {
	if s.json {
		return writeJSONLine(s.stdout, r.JSON)
	}
	rep := r.Value
	fmt.Fprintf(s.stdout, "Usage from %s to %s (UTC hours; to excluded)\n", formatTime(rep.From), formatTime(rep.To))
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	var header []string
	for _, d := range rep.GroupBy {
		header = append(header, strings.ToUpper(d))
	}
	header = append(header, "REQUESTS", "INPUT_TOKENS", "OUTPUT_TOKENS", "COST")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rep.Rows {
		var cells []string
		for _, d := range rep.GroupBy {
			cells = append(cells, cell(usageValue(row, d)))
		}
		cells = append(cells, sumCells(row.Requests, row.InputTokens, row.OutputTokens, row.CostUSD.String())...)
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if len(rep.GroupBy) > 0 {
		// Totals under their columns, labelled in the first dimension's.
		total := make([]string, len(rep.GroupBy))
		total[0] = "TOTAL"
		t := rep.Totals
		total = append(total, sumCells(t.Requests, t.InputTokens, t.OutputTokens, t.CostUSD.String())...)
		fmt.Fprintln(tw, strings.Join(total, "\t"))
	} else if len(rep.Rows) == 0 {
		// Totals only, and nothing was used: say so with zeros.
		t := rep.Totals
		fmt.Fprintln(tw, strings.Join(sumCells(t.Requests, t.InputTokens, t.OutputTokens, t.CostUSD.String()), "\t"))
	}
	return tw.Flush()
}

func sumCells(requests, in, out int64, cost string) []string {
	return []string{strconv.FormatInt(requests, 10), strconv.FormatInt(in, 10), strconv.FormatInt(out, 10), cost}
}

// usageValue returns row's value of dimension d, as text.
func usageValue(row admin.UsageRow, d string) string {
	var p *string
	switch usage.Dimension(d) {
	case usage.ByKey:
		p = row.Key
	case usage.ByPrincipal:
		p = row.Principal
	case usage.ByTeam:
		p = row.Team
	case usage.ByFeature:
		p = row.Feature
	case usage.ByModel:
		p = row.Model
	case usage.ByDay:
		p = row.Day
	case usage.ByHour:
		if row.Hour != nil {
			return formatTime(*row.Hour)
		}
	}
	if p == nil {
		return ""
	}
	return *p
}
