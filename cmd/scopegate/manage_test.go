package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/scopegate/scopegate/internal/adminclient"
	"github.com/scopegate/scopegate/internal/apikey"
)

func TestRotateErrorHint(t *testing.T) {
	netErr := errors.New(`Post "http://127.0.0.1:8081/admin/v1/keys/k/rotate": EOF`)
	tests := []struct {
		name      string
		generated bool
		err       error
		wantHint  bool
	}{
		{"NetworkGenerated", true, netErr, true},
		{"ServerErrorGenerated", true, &adminclient.APIError{Status: http.StatusInternalServerError, Message: "internal error"}, true},
		{"ClientErrorGenerated", true, &adminclient.APIError{Status: http.StatusNotFound, Message: "not found"}, false},
		{"NetworkGiven", false, netErr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rotateError("k", "cli-XYZ", tt.generated, tt.err)
			if !errors.Is(err, tt.err) {
				t.Errorf("rotateError does not wrap %v", tt.err)
			}
			if got := strings.Contains(err.Error(), "--idempotency-key cli-XYZ"); got != tt.wantHint {
				t.Errorf("rotateError = %q; hint shown: %v, want %v", err, got, tt.wantHint)
			}
		})
	}
}

func TestLimitFlagsOver(t *testing.T) {
	var l limitFlags
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	l.register(fs)
	if err := fs.Parse([]string{"--tpm", "500", "--rpm", "0", "--cost-per-month", "99.95"}); err != nil {
		t.Fatal(err)
	}
	base := apikey.Limits{RequestsPerMinute: 60, TokensPerDay: 1000, CostPerDay: 5_000_000, CostPerMonth: 1}
	got := *l.over(fs, base)
	want := apikey.Limits{TokensPerMinute: 500, TokensPerDay: 1000, CostPerDay: 5_000_000, CostPerMonth: 99_950_000}
	if got != want {
		t.Errorf("over(%+v) = %+v, want %+v", base, got, want)
	}
	if l.set(pflag.NewFlagSet("empty", pflag.ContinueOnError)) != nil {
		t.Error("set with no limit flags given is not nil")
	}
}

func TestLimitFlagsCost(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want apikey.Limits
		err  string
	}{
		{"Dollars", []string{"--cost-per-day", "12.50", "--cost-per-month", "250"}, apikey.Limits{CostPerDay: 12_500_000, CostPerMonth: 250_000_000}, ""},
		{"MicroDollar", []string{"--cost-per-day", "0.000001"}, apikey.Limits{CostPerDay: 1}, ""},
		{"ZeroClears", []string{"--cost-per-day", "0"}, apikey.Limits{}, ""},
		{"TooFine", []string{"--cost-per-day", "0.0000001"}, apikey.Limits{}, "more than 6 decimal places"},
		{"Negative", []string{"--cost-per-month=-1"}, apikey.Limits{}, "must not be negative"},
		{"DollarSign", []string{"--cost-per-month", "$5"}, apikey.Limits{}, "not a number of US dollars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l limitFlags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			l.register(fs)
			err := fs.Parse(tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("Parse(%q) = %v, want an error containing %q", tt.args, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.args, err)
			}
			if got := l.set(fs); got == nil || *got != tt.want {
				t.Errorf("set after %q = %+v, want %+v", tt.args, got, tt.want)
			}
		})
	}
}

func TestFormatLimits(t *testing.T) {
	tests := []struct {
		l    apikey.Limits
		want string
	}{
		{apikey.Limits{}, "none"},
		{apikey.Limits{RequestsPerMinute: 5, CostPerDay: 12_500_000, CostPerMonth: 1},
			"requests_per_minute=5 cost_per_day=$12.50 cost_per_month=$0.000001"},
	}
	for _, tt := range tests {
		if got := formatLimits(tt.l); got != tt.want {
			t.Errorf("formatLimits(%+v) = %q, want %q", tt.l, got, tt.want)
		}
	}
}

func TestCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "-"},
		{"laptop", "laptop"},
		{"a\tb\nc", "a?b?c"},
		{"\x1b[31mred", "?[31mred"},
	}
	for _, tt := range tests {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
