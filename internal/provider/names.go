package provider

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Member names: the strict scanner refuses two names of one object that
// are equal in any letter case, and error messages quote names safely.

// unique checks name against the names already seen in the object whose
// names start at s.names[base]. Past foldMapAt names it keeps a map from
// a hash of each folded name to its index; a hit is confirmed with
// bytes.EqualFold, and a hash collision (random seed, 64 bits: not
// something a client can aim for) falls back to comparing with every
// name, so the answer never depends on the hash.
func (s *scanner) unique(base int, name []byte, folded *map[uint64]int) *scanError {
	seen := s.names[base:]
	if *folded == nil && len(seen) < foldMapAt {
		return clashIn(seen, name)
	}
	if *folded == nil {
		if s.seed == (maphash.Seed{}) {
			s.seed = maphash.MakeSeed()
		}
		*folded = make(map[uint64]int, 2*len(seen))
		for j, prev := range seen {
			(*folded)[foldHash(s.seed, prev)] = j
		}
	}
	h := foldHash(s.seed, name)
	if j, ok := (*folded)[h]; ok {
		if bytes.EqualFold(seen[j], name) {
			return nameClash(seen[j], name)
		}
		if err := clashIn(seen, name); err != nil {
			return err
		}
	}
	(*folded)[h] = len(seen)
	return nil
}

// clashIn compares name with each of seen.
func clashIn(seen [][]byte, name []byte) *scanError {
	for _, prev := range seen {
		if bytes.EqualFold(prev, name) {
			return nameClash(prev, name)
		}
	}
	return nil
}

func nameClash(prev, name []byte) *scanError {
	e := &scanError{atMember: true}
	if bytes.Equal(prev, name) {
		e.msg = fmt.Sprintf("duplicate member %s; member names must be unique", quoteName(name))
	} else {
		e.msg = fmt.Sprintf("member %s differs from member %s only in letter case; member names must be unique in any case",
			quoteName(name), quoteName(prev))
	}
	return e.within(pathName(name))
}

// foldHash hashes a name's case-folding class: each rune is replaced by
// the smallest rune of its simple-folding orbit, so names that
// bytes.EqualFold says are equal hash the same.
func foldHash(seed maphash.Seed, name []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var buf [utf8.UTFMax]byte
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			h.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(name[i:])
		i += size
		h.Write(utf8.AppendRune(buf[:0], foldLeast(r)))
	}
	return h.Sum64()
}

// foldLeast returns the smallest rune of r's simple-folding orbit.
func foldLeast(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// maxShown caps how much of a client's name or value an error message
// repeats.
const maxShown = 64

// quoteName quotes a member name for a message, in ASCII so look-alike
// and invisible characters show.
func quoteName(name []byte) string {
	return strconv.QuoteToASCII(shorten(string(name)))
}

// pathName is a member name as a segment of a Param path: plain names as
// they are, others quoted.
func pathName(name []byte) string {
	plain := len(name) > 0 && len(name) <= maxShown
	for _, c := range name {
		if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return string(name)
	}
	return quoteName(name)
}

func shorten(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
