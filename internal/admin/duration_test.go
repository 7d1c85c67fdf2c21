package admin

import (
	"errors"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"24h", 24 * time.Hour, true},
		{"20m", 20 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"0s", 0, true},
		{"0", 0, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0d", 0, true},
		{"1d0s", 24 * time.Hour, true},
		{"", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"-1h", 0, false},
		{"-1d", 0, false},
		{"+1d", 0, false},
		{"1d-1h", 0, false},
		{"1dd", 0, false},
		{"1d2d", 0, false},
		{"90 days", 0, false},
		{"1w", 0, false},
		{"106751d", 106751 * 24 * time.Hour, true},
		{"106752d", 0, false},
		{"106751d24h", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration("ttl", tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil {
				if e, ok := errors.AsType[*requestError](err); !ok || e.field != "ttl" {
					t.Errorf("parseDuration(%q) error = %#v, want a requestError for field ttl", tt.in, err)
				}
			}
		})
	}
}
