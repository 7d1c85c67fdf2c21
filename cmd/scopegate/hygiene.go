package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/adminclient"
	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
)

// hygieneFlags are the flags of keys hygiene.
type hygieneFlags struct {
	unusedDays, unexercisedDays, sprawlKeys int
}

func (h *hygieneFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&h.unusedDays, "unused-days", anomaly.DefaultUnusedDays, "days without use after which a data key is unused (0 lists every data key)")
	fs.IntVar(&h.unexercisedDays, "unexercised-days", anomaly.DefaultUnexercisedDays, "days of usage in which a key's scopes must have served a call")
	fs.IntVar(&h.sprawlKeys, "sprawl-keys", anomaly.DefaultSprawlKeys, "active keys a principal may hold before it is named")
}

// filter returns the thresholds to send: only the flags given, so the
// server's defaults apply to the others.
func (h *hygieneFlags) filter(fs *pflag.FlagSet) (adminclient.HygieneFilter, error) {
	var f adminclient.HygieneFilter
	for _, fl := range []struct {
		name string
		v    int
		dst  **int
	}{
		{"unused-days", h.unusedDays, &f.UnusedDays},
		{"unexercised-days", h.unexercisedDays, &f.UnexercisedDays},
		{"sprawl-keys", h.sprawlKeys, &f.SprawlKeys},
	} {
		if !fs.Changed(fl.name) {
			continue
		}
		if fl.v < 0 {
			return f, fmt.Errorf("--%s %d: want 0 or more", fl.name, fl.v)
		}
		*fl.dst = new(fl.v)
	}
	return f, nil
}

func newKeysHygieneCmd(e *env, f *adminFlags) *cobra.Command {
	var h hygieneFlags
	cmd := &cobra.Command{
		Use:   "hygiene [--unused-days N] [--unexercised-days N] [--sprawl-keys N]",
		Short: "Report keys and scopes that outlive their need",
		Long: `hygiene reports, for the keys the admin key reaches:

  - data keys not used for --unused-days days (counted from their last use,
    or from their creation if never used);
  - data keys at least --unexercised-days days old holding scopes that
    served no call in that many days, or broader than the calls needed, with
    a narrower set of scopes that covers what they did call;
  - keys that never expire or live longer than the server's keys.max_ttl
    (issued before it was lowered);
  - principals with more than --sprawl-keys active keys.

Revoked and expired keys, and keys a rotation replaced, are left out.`,
		Example: `  scopegate keys hygiene
  scopegate keys hygiene --unused-days 90 --sprawl-keys 5
  scopegate keys hygiene --unused-days 0 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := h.filter(cmd.Flags())
			if err != nil {
				return err
			}
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			r, err := s.client.Hygiene(cmd.Context(), filter)
			if err != nil {
				return fmt.Errorf("key hygiene report: %w", err)
			}
			if s.json {
				return writeJSONLine(s.stdout, r.JSON)
			}
			return printHygiene(s.stdout, r.Value)
		},
	}
	h.register(cmd.Flags())
	return cmd
}

// printHygiene prints a report as a heading and a table per section, or
// "none" under the heading of an empty one.
func printHygiene(w io.Writer, r admin.HygieneReport) error {
	p := r.Policy
	fmt.Fprintf(w, "Key hygiene at %s: %d keys checked\n", formatTime(r.GeneratedAt), r.KeysChecked)
	unused := make([][]string, 0, len(r.Unused))
	for _, k := range r.Unused {
		unused = append(unused, []string{k.ID, k.Name, k.Principal, k.Status, formatTime(k.CreatedAt),
			orNever(formatTimePtr(k.LastUsedAt)), strconv.Itoa(k.IdleDays)})
	}
	unexercised := make([][]string, 0, len(r.Unexercised))
	for _, k := range r.Unexercised {
		suggested := joinList(k.Suggested)
		if suggested == "" {
			suggested = "none (no calls)"
		}
		unexercised = append(unexercised, []string{k.ID, k.Principal, joinList(k.Scopes), joinList(k.Unexercised), suggested})
	}
	long := make([][]string, 0, len(r.LongLived))
	for _, k := range r.LongLived {
		long = append(long, []string{k.ID, k.Name, k.Principal, k.Kind, k.Status, formatTime(k.CreatedAt),
			orNever(formatTimePtr(k.ExpiresAt)), orNever(k.Lifetime)})
	}
	sprawl := make([][]string, 0, len(r.Sprawl))
	for _, s := range r.Sprawl {
		sprawl = append(sprawl, []string{s.Principal, s.Team, strconv.Itoa(s.ActiveKeys)})
	}
	sections := []struct {
		title, header string
		rows          [][]string
	}{
		{fmt.Sprintf("Unused keys (no use in %d days)", p.UnusedDays),
			"ID\tNAME\tPRINCIPAL\tSTATUS\tCREATED\tLAST_USED\tIDLE_DAYS", unused},
		{fmt.Sprintf("Unexercised scopes (no call from %s to %s)", formatTime(r.UsageFrom), formatTime(r.UsageTo)),
			"ID\tPRINCIPAL\tSCOPES\tUNEXERCISED\tSUGGESTED", unexercised},
		{fmt.Sprintf("Keys living longer than the max TTL (%s)", p.MaxTTL),
			"ID\tNAME\tPRINCIPAL\tKIND\tSTATUS\tCREATED\tEXPIRES\tLIFETIME", long},
		{fmt.Sprintf("Key sprawl (principals with more than %d active keys)", p.SprawlKeys),
			"PRINCIPAL\tTEAM\tACTIVE_KEYS", sprawl},
	}
	for _, sec := range sections {
		fmt.Fprintf(w, "\n%s:\n", sec.title)
		if len(sec.rows) == 0 {
			fmt.Fprintln(w, "none")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, sec.header)
		for _, row := range sec.rows {
			for i, c := range row {
				row[i] = cell(c)
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func orNever(s string) string {
	if s == "" {
		return "never"
	}
	return s
}

// systemKeys lists every key through the Issuer as the system actor, for
// the key expiry scanner: anomaly.ExpiryKeys over an *apikey.Issuer.
type systemKeys struct{ issuer *apikey.Issuer }

var _ anomaly.ExpiryKeys = systemKeys{}

// Keys implements anomaly.ExpiryKeys.
func (k systemKeys) Keys(ctx context.Context, f apikey.KeyFilter) (apikey.Page[apikey.Key], error) {
	return k.issuer.Keys(ctx, apikey.SystemActor, f)
}

// expiryScannerConfig is what newExpiryScanner needs besides the stack:
// where alerts go, the alert store that remembers them (nil: in memory
// only, so a restart raises again the alerts of keys still in their
// notice), and the notice and scan interval (zero: 7 days, 1 hour).
type expiryScannerConfig struct {
	raiser   anomaly.ExpiryRaiser
	alerts   anomaly.Store
	notice   time.Duration
	interval time.Duration
}

// newExpiryScanner returns the scanner that raises key_expiring alerts for
// the keys of s, through the alert pipeline's dispatcher; serve runs its
// Run.
func newExpiryScanner(s *stack, c expiryScannerConfig) *anomaly.ExpiryScanner {
	cfg := anomaly.ExpiryConfig{Keys: systemKeys{s.issuer}, Raiser: c.raiser, Notice: c.notice, Interval: c.interval,
		Logger: s.logger, Now: s.now}
	if c.alerts != nil {
		cfg.Ledger = anomaly.AlertLedger{Store: c.alerts}
	}
	return anomaly.NewExpiryScanner(cfg)
}
