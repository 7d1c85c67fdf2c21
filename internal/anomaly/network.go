package anomaly

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"
)

// The network sizes the detectors group client addresses by: the ones
// audit.Privacy truncates addresses to.
const (
	v4NetworkBits = 24
	v6NetworkBits = 48
)

// netID is a client network, an IPv4 /24 or an IPv6 /48, as the 16 bytes
// of its first address in two words: an IPv4 network in its IPv4-mapped
// form (::ffff:a.b.c.0), which no IPv6 /48 has, since a /48 zeroes bytes 6
// to 15. It has no pointers, so tables keyed by it cost the garbage
// collector nothing.
type netID struct{ hi, lo uint64 }

// parseNetwork returns the network of a client address as audit events
// record it: an address ("203.0.113.7", "2001:db8::1", "fe80::1%eth0"),
// or a network already truncated by audit.truncate_client_ips
// ("203.0.113.0/24", "2001:db8:1::/48"). An IPv4-mapped IPv6 address is
// its IPv4 address. It reports false for "", for what does not parse, and
// for a network coarser than a /24 or /48, which names no one network.
func parseNetwork(s string) (netID, bool) {
	if s == "" {
		return netID{}, false
	}
	var a netip.Addr
	bits := -1
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netID{}, false
		}
		a, bits = p.Addr(), p.Bits()
	} else {
		var err error
		if a, err = netip.ParseAddr(s); err != nil {
			return netID{}, false
		}
		if a.Zone() != "" {
			a = a.WithZone("")
		}
	}
	if a.Is4In6() {
		a = a.Unmap()
		if bits >= 0 {
			bits -= 128 - 32 // ::ffff:a.b.c.0/120 is a.b.c.0/24
		}
	}
	want := v6NetworkBits
	if a.Is4() {
		want = v4NetworkBits
	}
	if bits >= 0 && bits < want {
		return netID{}, false
	}
	p, err := a.Prefix(want)
	if err != nil {
		return netID{}, false
	}
	b := p.Addr().As16()
	return netID{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, true
}

// prefix returns n as a netip.Prefix: "203.0.113.0/24", "2001:db8:1::/48".
func (n netID) prefix() netip.Prefix {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], n.hi)
	binary.BigEndian.PutUint64(b[8:], n.lo)
	a := netip.AddrFrom16(b)
	if a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), v4NetworkBits)
	}
	return netip.PrefixFrom(a, v6NetworkBits)
}

// String returns n as a prefix.
func (n netID) String() string { return n.prefix().String() }

// seenNet is a network a key has been used from, and when it last was.
type seenNet struct {
	id   netID
	last int64 // ms
}

// netLearner is the new-network rule's state of one key: the networks it
// was used from (its MaxNetworks most recent), and its episode.
type netLearner struct {
	nets   []seenNet
	hot    int64 // ms: the latest call from a network it had not used, during an episode
	firing bool  // in an episode
}

// observe records an allowed call of the key from id at now and reports
// whether it trips the rule, with the number of networks known before it.
// learning says whether the key is in its learning period; maxNets and
// hold (ms) are the thresholds. added counts the networks it adds (1 or
// 0; replacing the least recently used one adds none).
func (l *netLearner) observe(id netID, now int64, learning bool, maxNets int, hold int64) (fire bool, known, added int) {
	oldest := 0
	for i := range l.nets {
		s := &l.nets[i]
		if s.id == id {
			s.last = now
			return false, 0, 0
		}
		if s.last < l.nets[oldest].last {
			oldest = i
		}
	}
	known = len(l.nets)
	if len(l.nets) < maxNets {
		if len(l.nets) == cap(l.nets) {
			nets := make([]seenNet, len(l.nets), min(maxNets, max(2, 2*cap(l.nets))))
			copy(nets, l.nets)
			l.nets = nets
		}
		l.nets = append(l.nets, seenNet{id, now})
		added = 1
	} else {
		l.nets[oldest] = seenNet{id, now}
	}
	if learning {
		return false, known, added
	}
	fire = !l.firing || now-l.hot >= hold
	l.firing, l.hot = true, now
	return fire, known, added
}

// newNetworkAlert returns the alert about key id, used from network id
// after its learning period; known networks were remembered before it.
func (d *Detectors) newNetworkAlert(key string, ks *keyState, id netID, known int, now int64, at time.Time) Alert {
	var f figureList
	f.str("network", id.String())
	f.int("known", int64(known))
	f.dur("key_age", time.Duration(now-ks.first)*time.Millisecond)
	f.dur("learning", d.t.NewNetwork.Learning)
	return newAlert(RuleNewNetwork, keySubject(key), ks.principal, key, f, at)
}
