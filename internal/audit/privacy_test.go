package audit

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPrivacy(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name      string
		p         Privacy
		addr      string
		principal string
		wantIP    string
		wantP     string
	}{
		{"Plain", Privacy{}, "192.0.2.77", "alice", "192.0.2.77", "alice"},
		{"TruncateV4", Privacy{TruncateIPs: true}, "192.0.2.77", "alice", "192.0.2.0/24", "alice"},
		{"TruncateMapped", Privacy{TruncateIPs: true}, "::ffff:192.0.2.77", "alice", "192.0.2.0/24", "alice"},
		{"TruncateV6", Privacy{TruncateIPs: true}, "2001:db8:abcd:12::1", "alice", "2001:db8:abcd::/48", "alice"},
		{"Pseudonym", Privacy{PseudonymKey: key}, "192.0.2.77", "alice", "192.0.2.77", Pseudonym(key, "alice")},
		{"EmptyPrincipalStaysEmpty", Privacy{PseudonymKey: key}, "192.0.2.77", "", "192.0.2.77", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.ClientIP(netip.MustParseAddr(tt.addr)); got != tt.wantIP {
				t.Errorf("ClientIP(%s) = %q, want %q", tt.addr, got, tt.wantIP)
			}
			if got := tt.p.Principal(tt.principal); got != tt.wantP {
				t.Errorf("Principal(%q) = %q, want %q", tt.principal, got, tt.wantP)
			}
		})
	}
	a, b := Pseudonym(key, "alice"), Pseudonym(key, "bob")
	if a == b || !strings.HasPrefix(a, "p_") || len(a) != 34 || strings.Contains(a, "alice") {
		t.Errorf("pseudonyms %q, %q: want distinct p_<32 hex>", a, b)
	}
	if Pseudonym([]byte("another key, also 32 bytes long!"), "alice") == a {
		t.Error("pseudonym does not depend on the key")
	}
	if (Privacy{}).ClientIP(netip.Addr{}) != "" {
		t.Error("invalid address not recorded as empty")
	}
}
