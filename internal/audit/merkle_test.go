package audit

import (
	"bytes"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// TestCrossCheckRFC6962 checks the log's checkpoint roots and tlog's
// inclusion and consistency proofs against an independent RFC 6962
// implementation, github.com/transparency-dev/merkle.
func TestCrossCheckRFC6962(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-check skipped with -short")
	}
	dir := t.TempDir()
	l, _ := startLog(t, dir, LogOptions{segmentRecords: 100})
	hasher := rfc6962.DefaultHasher
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	toBytes := func(hs []tlog.Hash) [][]byte {
		out := make([][]byte, len(hs))
		for i := range hs {
			out[i] = hs[i][:]
		}
		return out
	}

	var prev tlog.Tree
	for _, size := range []int64{1, 2, 3, 5, 8, 100, 255, 256, 257, 333} {
		for i := l.Size(); i < uint64(size); i++ {
			e := testAuthz(int(i))
			e.Reason = string(bytes.Repeat([]byte("x"), int(i%37))) // leaves of varied length
			if _, err := l.Append(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.SignNow(t.Context()); err != nil {
			t.Fatal(err)
		}
		msg, _ := l.Checkpoint()
		tree := checkCheckpoint(t, msg, l.VerifierKey(), l.Origin())
		lines := readLines(t, dir)

		r := rf.NewEmptyRange(0)
		for _, line := range lines {
			if err := r.Append(hasher.HashLeaf(line), nil); err != nil {
				t.Fatal(err)
			}
		}
		want, err := r.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tree.Hash[:], want) {
			t.Fatalf("size %d: checkpoint root %x, transparency-dev/merkle root %x", size, tree.Hash[:], want)
		}

		for _, i := range []int64{0, size / 2, size - 1} {
			p, err := tlog.ProveRecord(size, i, l)
			if err != nil {
				t.Fatal(err)
			}
			leaf := hasher.HashLeaf(lines[i])
			if err := proof.VerifyInclusion(hasher, uint64(i), uint64(size), leaf, toBytes(p), tree.Hash[:]); err != nil {
				t.Errorf("size %d: inclusion proof of %d: %v", size, i, err)
			}
		}
		if prev.N > 0 {
			p, err := tlog.ProveTree(size, prev.N, l)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(hasher, uint64(prev.N), uint64(size), toBytes(p), prev.Hash[:], tree.Hash[:]); err != nil {
				t.Errorf("consistency %d → %d: %v", prev.N, size, err)
			}
		}
		prev = tree
	}
}
