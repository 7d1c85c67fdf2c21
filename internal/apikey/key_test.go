package apikey

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestKeyUsable(t *testing.T) {
	nb := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	exp := nb.Add(30 * 24 * time.Hour)
	tests := []struct {
		name      string
		status    Status
		notBefore time.Time
		expires   time.Time
		now       time.Time
		want      error
	}{
		{"OK", StatusActive, nb, exp, nb.Add(time.Hour), nil},
		{"NoLimits", StatusActive, time.Time{}, time.Time{}, nb, nil},
		{"ErrKeySuspended", StatusSuspended, nb, exp, nb.Add(time.Hour), ErrKeySuspended},
		{"ErrKeyRevoked", StatusRevoked, nb, exp, nb.Add(time.Hour), ErrKeyRevoked},
		{"UnknownStatusFailsClosed", "paused", nb, exp, nb.Add(time.Hour), ErrKeyRevoked},
		{"EmptyStatusFailsClosed", "", nb, exp, nb.Add(time.Hour), ErrKeyRevoked},
		{"SuspendedBeatsExpired", StatusSuspended, nb, exp, exp.Add(time.Hour), ErrKeySuspended},
		{"NotYetValidJustBefore", StatusActive, nb, exp, nb.Add(-time.Nanosecond), ErrKeyNotYetValid},
		{"ValidAtNotBefore", StatusActive, nb, exp, nb, nil},
		{"ValidJustBeforeExpiry", StatusActive, nb, exp, exp.Add(-time.Nanosecond), nil},
		{"ExpiredAtExpiresAt", StatusActive, nb, exp, exp, ErrKeyExpired},
		{"ExpiredAfter", StatusActive, nb, exp, exp.Add(time.Hour), ErrKeyExpired},
		{"OnlyExpiry", StatusActive, time.Time{}, exp, exp.Add(-time.Second), nil},
		{"OnlyNotBefore", StatusActive, nb, time.Time{}, nb.Add(1000 * 24 * time.Hour), nil},
		{"OtherTimeZone", StatusActive, nb, exp, exp.In(time.FixedZone("X", 5*3600)), ErrKeyExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := Key{Status: tt.status, NotBefore: tt.notBefore, ExpiresAt: tt.expires}
			if got := k.Usable(tt.now); !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Errorf("Usable(%v) = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}

func TestKeyAllowsClient(t *testing.T) {
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tests := []struct {
		name  string
		cidrs []netip.Prefix
		addr  string
		want  bool
	}{
		{"NoNetworksAllowsIPv4", nil, "203.0.113.7", true},
		{"NoNetworksAllowsIPv6", nil, "2001:db8::1", true},
		{"IPv4Inside", prefixes("10.0.0.0/8"), "10.1.2.3", true},
		{"IPv4Outside", prefixes("10.0.0.0/8"), "11.0.0.1", false},
		{"IPv4Single", prefixes("192.0.2.10/32"), "192.0.2.10", true},
		{"IPv4SingleNeighbour", prefixes("192.0.2.10/32"), "192.0.2.11", false},
		{"IPv6Inside", prefixes("2001:db8::/32"), "2001:db8:1::5", true},
		{"IPv6Outside", prefixes("2001:db8::/32"), "2001:db9::1", false},
		{"IPv4MappedClientInsideIPv4", prefixes("10.0.0.0/8"), "::ffff:10.1.2.3", true},
		{"IPv4MappedClientOutsideIPv4", prefixes("10.0.0.0/8"), "::ffff:11.1.2.3", false},
		{"IPv4ClientNotInIPv6", prefixes("::/0"), "10.1.2.3", false},
		{"IPv6ClientNotInIPv4", prefixes("0.0.0.0/0"), "2001:db8::1", false},
		{"SecondNetwork", prefixes("10.0.0.0/8", "2001:db8::/32"), "2001:db8::1", true},
		{"ZonedLinkLocal", prefixes("fe80::/10"), "fe80::1%eth0", true},
		{"ZonedOutside", prefixes("2001:db8::/32"), "fe80::1%eth0", false},
		{"Loopback", prefixes("127.0.0.0/8", "::1/128"), "::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := Key{CIDRs: tt.cidrs}
			addr := netip.MustParseAddr(tt.addr)
			if got := k.AllowsClient(addr); got != tt.want {
				t.Errorf("Key{CIDRs: %v}.AllowsClient(%s) = %v, want %v", tt.cidrs, addr, got, tt.want)
			}
		})
	}
	t.Run("InvalidAddrWithNetworks", func(t *testing.T) {
		k := Key{CIDRs: prefixes("0.0.0.0/0", "::/0")}
		if k.AllowsClient(netip.Addr{}) {
			t.Error("AllowsClient(invalid address) = true with networks set, want false")
		}
	})
}

func TestParseCIDRs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{"None", nil, nil, false},
		{"IPv4Prefix", []string{"10.0.0.0/8"}, []string{"10.0.0.0/8"}, false},
		{"IPv4HostBitsMasked", []string{"10.1.2.3/8"}, []string{"10.0.0.0/8"}, false},
		{"IPv4Address", []string{"192.0.2.10"}, []string{"192.0.2.10/32"}, false},
		{"IPv6Prefix", []string{"2001:db8::/32"}, []string{"2001:db8::/32"}, false},
		{"IPv6Address", []string{"2001:db8::1"}, []string{"2001:db8::1/128"}, false},
		{"IPv4MappedPrefix", []string{"::ffff:10.0.0.0/104"}, []string{"10.0.0.0/8"}, false},
		{"IPv4MappedAddress", []string{"::ffff:192.0.2.10"}, []string{"192.0.2.10/32"}, false},
		{"Several", []string{"10.0.0.0/8", "::1"}, []string{"10.0.0.0/8", "::1/128"}, false},
		{"BadBits", []string{"10.0.0.0/33"}, nil, true},
		{"NotAnAddress", []string{"example.com"}, nil, true},
		{"Empty", []string{""}, nil, true},
		{"Range", []string{"10.0.0.1-10.0.0.9"}, nil, true},
		{"OneBadAmongGood", []string{"10.0.0.0/8", "nope"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCIDRs(tt.in)
			if tt.wantErr {
				ve, ok := errors.AsType[*ValidationError](err)
				if !ok || ve.Field != "cidrs" {
					t.Errorf("parseCIDRs(%q) = %v, %v; want a ValidationError for cidrs", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCIDRs(%q) error: %v", tt.in, err)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if len(gotS) != len(tt.want) {
				t.Fatalf("parseCIDRs(%q) = %v, want %v", tt.in, gotS, tt.want)
			}
			for i := range gotS {
				if gotS[i] != tt.want[i] {
					t.Errorf("parseCIDRs(%q) = %v, want %v", tt.in, gotS, tt.want)
				}
			}
		})
	}
}

// TestParsedCIDRsAllowClients checks the two halves together: a network as
// an operator writes it admits the clients it names.
func TestParsedCIDRsAllowClients(t *testing.T) {
	tests := []struct {
		cidr, addr string
		want       bool
	}{
		{"::ffff:10.0.0.0/104", "10.1.2.3", true},
		{"::ffff:10.0.0.0/104", "::ffff:10.1.2.3", true},
		{"::ffff:10.0.0.0/104", "11.1.2.3", false},
		{"10.0.0.0/8", "::ffff:10.9.9.9", true},
		{"fe80::/10", "fe80::1%eth0", true},
	}
	for _, tt := range tests {
		cidrs, err := parseCIDRs([]string{tt.cidr})
		if err != nil {
			t.Fatalf("parseCIDRs(%q): %v", tt.cidr, err)
		}
		k := Key{CIDRs: cidrs}
		if got := k.AllowsClient(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("key for %s: AllowsClient(%s) = %v, want %v", tt.cidr, tt.addr, got, tt.want)
		}
	}
}
