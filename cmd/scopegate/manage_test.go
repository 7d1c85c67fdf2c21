package main

import (
	"errors"
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
	if err := fs.Parse([]string{"--tpm", "500", "--rpm", "0"}); err != nil {
		t.Fatal(err)
	}
	base := apikey.Limits{RequestsPerMinute: 60, TokensPerDay: 1000}
	got := *l.over(fs, base)
	want := apikey.Limits{TokensPerMinute: 500, TokensPerDay: 1000}
	if got != want {
		t.Errorf("over(%+v) = %+v, want %+v", base, got, want)
	}
	if l.set(pflag.NewFlagSet("empty", pflag.ContinueOnError)) != nil {
		t.Error("set with no limit flags given is not nil")
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
