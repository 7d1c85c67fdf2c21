package auditverify

import (
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"
)

// tree recomputes a log's Merkle tree from its records, in order, while
// holding O(log n) hashes instead of the 2n stored hashes tlog works from.
//
// It keeps, for each level, the latest stored hash tlog computed. That is
// exactly what tlog reads to add the next record (the left siblings the new
// leaf completes subtrees with), and to hash the tree at the current size
// (the complete subtrees that make it up). A proof reads other hashes; the
// caller names them in advance with want, and they are kept as they go by.
type tree struct {
	n        int64
	frontier [64]storedHash
	want     []int64 // sorted stored-hash indexes still to keep
	kept     map[int64]tlog.Hash
	buf      []tlog.Hash // ReadHashes' result, reused: tlog reads it before returning
}

// storedHash is a tlog stored hash with its storage index.
type storedHash struct {
	index int64
	hash  tlog.Hash
}

var _ tlog.HashReader = (*tree)(nil)

// newTree returns an empty tree that keeps the stored hashes named in want
// (in any order) as they are computed.
func newTree(want []int64) *tree {
	t := &tree{kept: make(map[int64]tlog.Hash)}
	for i := range t.frontier {
		t.frontier[i].index = -1
	}
	t.want = slices.Compact(slices.Sorted(slices.Values(want)))
	return t
}

// add appends the record whose leaf hash is leaf.
func (t *tree) add(leaf tlog.Hash) error {
	hashes, err := tlog.StoredHashesForRecordHash(t.n, leaf, t)
	if err != nil {
		return err
	}
	// The stored hashes of record n are contiguous from
	// StoredHashIndex(0, n), one per level from the leaf up.
	first := tlog.StoredHashIndex(0, t.n)
	for level, h := range hashes {
		t.frontier[level] = storedHash{first + int64(level), h}
	}
	end := first + int64(len(hashes))
	for len(t.want) > 0 && t.want[0] < end {
		if w := t.want[0]; w >= first {
			t.kept[w] = hashes[w-first]
		}
		t.want = t.want[1:]
	}
	t.n++
	return nil
}

// root returns the tree hash at the current size.
func (t *tree) root() (tlog.Hash, error) {
	return tlog.TreeHash(t.n, t)
}

// ReadHashes serves tlog the hashes it asks for: the frontier, or hashes
// kept for a proof. Anything else is a bug in the choice of want.
func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	t.buf = t.buf[:0]
next:
	for _, x := range indexes {
		// A linear scan beats computing the level: tlog asks mostly for
		// the lowest levels, and there are at most 64.
		for level := range t.frontier {
			if t.frontier[level].index == x {
				t.buf = append(t.buf, t.frontier[level].hash)
				continue next
			}
		}
		h, ok := t.kept[x]
		if !ok {
			return nil, fmt.Errorf("auditverify: stored hash %d was not kept", x)
		}
		t.buf = append(t.buf, h)
	}
	return t.buf, nil
}

// neededHashes returns the stored-hash indexes that read asks for. tlog
// chooses which hashes a proof or tree hash needs from the sizes alone, so
// a dry run on a reader that answers zeros names them before the records
// are read.
func neededHashes(read func(tlog.HashReader) error) ([]int64, error) {
	var need []int64
	err := read(tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		need = append(need, indexes...)
		return make([]tlog.Hash, len(indexes)), nil
	}))
	return need, err
}
