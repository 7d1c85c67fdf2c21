package anomaly

import "testing"

func TestParseNetwork(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when it does not parse
	}{
		{"203.0.113.7", "203.0.113.0/24"},
		{"203.0.113.0/24", "203.0.113.0/24"},
		{"203.0.113.77/32", "203.0.113.0/24"},
		{"203.0.113.128/25", "203.0.113.0/24"},
		{"::ffff:203.0.113.7", "203.0.113.0/24"},
		{"::ffff:203.0.113.0/120", "203.0.113.0/24"},
		{"2001:db8:1:2::5", "2001:db8:1::/48"},
		{"2001:db8:1::/48", "2001:db8:1::/48"},
		{"2001:db8:1:ff00::/56", "2001:db8:1::/48"},
		{"fe80::1%eth0", "fe80::/48"},
		{"::1", "::/48"},
		{"::", "::/48"},
		{"0.0.0.0", "0.0.0.0/24"},
		{"", ""},
		{"garbage", ""},
		{"203.0.113.7:443", ""},
		{"[2001:db8::1]:443", ""},
		{"203.0.113.0/16", ""}, // not canonical, and coarser than a /24
		{"10.0.0.0/8", ""},
		{"2001:db8::/32", ""},
		{"::ffff:10.0.0.0/104", ""},
		{"203.0.113.0/33", ""},
		{"1.2.3.4.5", ""},
		{" 203.0.113.7", ""},
	}
	for _, tt := range tests {
		id, ok := parseNetwork(tt.in)
		got := ""
		if ok {
			got = id.String()
		}
		if got != tt.want {
			t.Errorf("parseNetwork(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	// IPv4 networks and IPv6 networks never collide.
	v4, _ := parseNetwork("0.0.0.0")
	v6, _ := parseNetwork("::")
	if v4 == v6 {
		t.Errorf("0.0.0.0/24 and ::/48 have the same netID %v", v4)
	}
}

func TestParseNetworkAllocates(t *testing.T) {
	for _, in := range []string{"203.0.113.7", "203.0.113.0/24", "2001:db8:1:2::5", "2001:db8:1::/48"} { // (an unparseable one allocates its error)
		if n := testing.AllocsPerRun(100, func() { parseNetwork(in) }); n != 0 {
			t.Errorf("parseNetwork(%q): %v allocations, want 0", in, n)
		}
	}
}
