package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scopegate/scopegate/internal/adminclient"
	"github.com/scopegate/scopegate/internal/apikey"
)

// The management commands (principals, keys) are clients of the admin API.
// This file holds what they share: the connection flags, the session they
// open, and the limit flags.

const defaultAdminAddr = "http://127.0.0.1:8081"

// adminFlags are the persistent flags of a management command group.
type adminFlags struct {
	addr     string
	adminKey string
	output   string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	// The defaults come from the environment at run time, not here: a
	// default would print the admin key in --help.
	fs.StringVar(&f.addr, "addr", "", "admin API address, host:port or URL (default $SCOPEGATE_ADDR, else "+defaultAdminAddr+")")
	fs.StringVar(&f.adminKey, "admin-key", "", "admin (sga_) key (default $SCOPEGATE_ADMIN_KEY; prefer the variable, since other users can see arguments)")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

// session is what a management command works with once its flags are
// checked: a client, the output mode and the streams.
type session struct {
	client *adminclient.Client
	json   bool
	stdout io.Writer
	stderr io.Writer
}

// open checks the flags and returns a session for cmd.
func (f *adminFlags) open(cmd *cobra.Command, e *env) (*session, error) {
	if f.output != "table" && f.output != "json" {
		return nil, fmt.Errorf("--output %q: want table or json", f.output)
	}
	addr := firstNonEmpty(f.addr, e.getenv("SCOPEGATE_ADDR"), defaultAdminAddr)
	key := firstNonEmpty(f.adminKey, e.getenv("SCOPEGATE_ADMIN_KEY"))
	if key == "" {
		return nil, errors.New("no admin key: set SCOPEGATE_ADMIN_KEY or pass --admin-key (an sga_ key from scopegate init, or from keys create --kind admin)")
	}
	c, err := adminclient.New(addr, key, nil)
	if err != nil {
		return nil, err
	}
	s := &session{client: c, json: f.output == "json", stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}
	if c.Cleartext() {
		fmt.Fprintf(s.stderr, "warning: the admin key travels unencrypted to %s; use https:// for a remote admin API\n", addr)
	}
	return s, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// limitFlags are the usage limit flags of principals and keys.
type limitFlags struct {
	apikey.Limits
}

func (l *limitFlags) register(fs *pflag.FlagSet) {
	fs.Int64Var(&l.RequestsPerMinute, "rpm", 0, "requests per minute (0: no limit)")
	fs.Int64Var(&l.TokensPerMinute, "tpm", 0, "tokens per minute (0: no limit)")
	fs.Int64Var(&l.Concurrent, "concurrent", 0, "concurrent requests (0: no limit)")
	fs.Int64Var(&l.TokensPerDay, "tokens-per-day", 0, "tokens per day (0: no limit)")
	fs.Int64Var(&l.TokensPerMonth, "tokens-per-month", 0, "tokens per month (0: no limit)")
	fs.Var(usdValue{&l.CostPerDay}, "cost-per-day", "cost per UTC day in US dollars, e.g. 12.50 (0: no limit)")
	fs.Var(usdValue{&l.CostPerMonth}, "cost-per-month", "cost per UTC month in US dollars, e.g. 250 (0: no limit)")
}

// limitField is one limit: its flag name, its JSON name and its value.
type limitField struct {
	flag, json string
	v          *int64
	// cost marks a limit in micro-US-dollars (apikey.Micros, held in v as
	// its int64): its flag takes dollars, and it prints as dollars.
	cost bool
}

// text returns the limit's value as people read it.
func (f limitField) text() string {
	if f.cost {
		return apikey.Micros(*f.v).String()
	}
	return strconv.FormatInt(*f.v, 10)
}

// usdValue is a pflag.Value for an amount of US dollars such as "12.50",
// kept exactly, in micros.
type usdValue struct{ m *apikey.Micros }

func (u usdValue) String() string {
	if u.m == nil {
		return "0"
	}
	return u.m.Decimal()
}

func (u usdValue) Set(s string) error {
	m, err := apikey.ParseUSD(s)
	if err != nil {
		return err
	}
	*u.m = m
	return nil
}

func (u usdValue) Type() string { return "usd" }

func (l *limitFlags) fields() []limitField {
	return []limitField{
		{"rpm", "requests_per_minute", &l.RequestsPerMinute, false},
		{"tpm", "tokens_per_minute", &l.TokensPerMinute, false},
		{"concurrent", "concurrent", &l.Concurrent, false},
		{"tokens-per-day", "tokens_per_day", &l.TokensPerDay, false},
		{"tokens-per-month", "tokens_per_month", &l.TokensPerMonth, false},
		// A Micros is an int64, so a pointer to one converts.
		{"cost-per-day", "cost_per_day", (*int64)(&l.CostPerDay), true},
		{"cost-per-month", "cost_per_month", (*int64)(&l.CostPerMonth), true},
	}
}

// changed reports whether the user set any limit flag.
func (l *limitFlags) changed(fs *pflag.FlagSet) bool {
	for _, f := range l.fields() {
		if fs.Changed(f.flag) {
			return true
		}
	}
	return false
}

// over returns base with the limits the user set replaced. The API replaces
// limits as a whole, so an update that sets one limit must send the others
// as they are.
func (l *limitFlags) over(fs *pflag.FlagSet, base apikey.Limits) *apikey.Limits {
	out := &limitFlags{Limits: base}
	dst := out.fields()
	for i, f := range l.fields() {
		if fs.Changed(f.flag) {
			*dst[i].v = *f.v
		}
	}
	return &out.Limits
}

// set returns the limits for a create request: nil when no flag was set,
// so the server applies its defaults.
func (l *limitFlags) set(fs *pflag.FlagSet) *apikey.Limits {
	if !l.changed(fs) {
		return nil
	}
	return l.over(fs, apikey.Limits{})
}

// timeFlag parses the RFC 3339 value of flag name, or returns nil when the
// user did not set it.
func timeFlag(fs *pflag.FlagSet, name, value string) (*time.Time, error) {
	if !fs.Changed(name) {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: want an RFC 3339 time such as 2026-05-01T00:00:00Z", name, value)
	}
	return &t, nil
}

// nonNil returns s, or an empty slice for nil, so a request says "no
// scopes" rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// newIdempotencyKey returns a random Idempotency-Key for one run of a
// command.
func newIdempotencyKey() string {
	return "cli-" + rand.Text()
}

// pageFlags are the paging flags of a list command.
type pageFlags struct {
	after string
	limit int
	all   bool
}

func (p *pageFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.after, "after", "", "start after this cursor (the next value of the previous page)")
	fs.IntVar(&p.limit, "limit", 0, "page size (default: the server's, 500)")
	fs.BoolVar(&p.all, "all", false, "follow next cursors and print every page as one list")
}

// collect fetches the page after p.after, or with --all that page and
// every one after it, joined into one list with an empty next.
func collect[T any](p *pageFlags, fetch func(after string) (adminclient.Page[T], error)) (adminclient.Page[T], error) {
	page, err := fetch(p.after)
	if err != nil || !p.all {
		return page, err
	}
	all := page
	for page.Next != "" {
		cursor := page.Next
		if page, err = fetch(cursor); err != nil {
			return adminclient.Page[T]{}, err
		}
		if page.Next == cursor {
			// A server bug must not turn into an endless loop.
			return adminclient.Page[T]{}, fmt.Errorf("list: the server answered cursor %q with itself", cursor)
		}
		all.Items = append(all.Items, page.Items...)
	}
	all.Next = ""
	return all, nil
}
