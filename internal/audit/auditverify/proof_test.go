package auditverify

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// merkleRoot computes the root of the first size lines with
// github.com/transparency-dev/merkle, an RFC 6962 implementation
// independent of tlog.
func merkleRoot(t *testing.T, lines [][]byte, size int64) []byte {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, line := range lines[:size] {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(line), nil); err != nil {
			t.Fatal(err)
		}
	}
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func hashSlices(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func TestInclusionProofs(t *testing.T) {
	l := buildTestLog(t, testRecords, testCheckpoints...)
	for _, size := range testCheckpoints[1:] {
		ck := l.checkpointAt(size)
		root := merkleRoot(t, l.lines, size)
		if !bytes.Equal(root, ck.Root[:]) {
			t.Fatalf("checkpoint %d: root %x, transparency-dev/merkle computes %x", size, ck.Root, root)
		}
		for idx := range size {
			p, err := ProveInclusion(l.dir, idx, ck)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", idx, size, err)
			}
			text, err := p.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyInclusion(text, l.vkey)
			if err != nil {
				t.Fatalf("VerifyInclusion(%d in %d): %v\n%s", idx, size, err, text)
			}
			if got.Index != idx || !bytes.Equal(got.Record, l.lines[idx]) || got.Checkpoint.Size != size {
				t.Fatalf("VerifyInclusion = %d %s in %d, want %d %s in %d", got.Index, got.Record, got.Checkpoint.Size, idx, l.lines[idx], size)
			}
			leaf := rfc6962.DefaultHasher.HashLeaf(l.lines[idx])
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(idx), uint64(size), leaf, hashSlices(p.Hashes), root); err != nil {
				t.Fatalf("transparency-dev/merkle rejects the proof of %d in %d: %v", idx, size, err)
			}
		}
	}
}

func TestInclusionProofText(t *testing.T) {
	l := buildTestLog(t, 20, 10, 20)
	ck := l.checkpointAt(20)
	p, err := ProveInclusion(l.dir, 6, ck)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := p.MarshalText()
	var want strings.Builder
	fmt.Fprintf(&want, "scopegate-inclusion-proof v1\n6\n%s\n20\n", l.lines[6])
	for _, h := range p.Hashes {
		fmt.Fprintf(&want, "%s\n", h)
	}
	fmt.Fprintf(&want, "\n%s", ck.Raw)
	if string(text) != want.String() {
		t.Errorf("text:\n%s\nwant:\n%s", text, want.String())
	}
}

func TestInclusionProofTampered(t *testing.T) {
	l := buildTestLog(t, testRecords, testCheckpoints...)
	ck := l.checkpointAt(64)
	p, err := ProveInclusion(l.dir, 17, ck)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := p.MarshalText()
	lines := strings.SplitAfter(string(good), "\n")
	edit := func(f func(lines []string)) []byte {
		ls := append([]string(nil), lines...)
		f(ls)
		return []byte(strings.Join(ls, ""))
	}
	other := newTestLog(t, t.TempDir(), 16)
	tests := []struct {
		name    string
		text    []byte
		vkey    string
		wantErr error
	}{
		{"record edited", edit(func(ls []string) { ls[2] = strings.Replace(ls[2], "AbC", "AbD", 1) }), l.vkey, ErrProof},
		{"index changed", edit(func(ls []string) { ls[1] = "18\n" }), l.vkey, ErrProof},
		{"index and idx changed", edit(func(ls []string) {
			ls[1] = "18\n"
			ls[2] = strings.Replace(ls[2], `"idx":17`, `"idx":18`, 1)
		}), l.vkey, ErrProof},
		{"another record", edit(func(ls []string) { ls[1], ls[2] = "18\n", string(l.lines[18])+"\n" }), l.vkey, ErrProof},
		{"tree size changed", edit(func(ls []string) { ls[3] = "65\n" }), l.vkey, ErrProof},
		{"hash flipped", edit(func(ls []string) { ls[4] = flipBase64(ls[4]) }), l.vkey, ErrProof},
		{"hash removed", edit(func(ls []string) { ls[4] = "" }), l.vkey, ErrProof},
		{"hash added", edit(func(ls []string) { ls[4] += ls[4] }), l.vkey, ErrProof},
		{"hash malformed", edit(func(ls []string) { ls[4] = "AAAA\n" }), l.vkey, ErrProof},
		{"checkpoint edited", editCheckpoint(good), l.vkey, ErrSignature},
		{"checkpoint missing", good[:bytes.Index(good, []byte("\n\n"))+2], l.vkey, ErrProof},
		{"another key", good, other.vkey, ErrUnknownKey},
		{"header", edit(func(ls []string) { ls[0] = "scopegate-inclusion-proof v2\n" }), l.vkey, ErrProof},
		{"truncated", good[:40], l.vkey, ErrProof},
		{"empty", nil, l.vkey, ErrProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyInclusion(tt.text, tt.vkey)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("VerifyInclusion = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestProveInclusionRefuses(t *testing.T) {
	l := buildTestLog(t, testRecords, testCheckpoints...)
	ck := l.checkpointAt(40)
	if _, err := ProveInclusion(l.dir, 40, ck); err == nil {
		t.Error("ProveInclusion(40) in a tree of 40: no error")
	}
	editByte(30)(t, l)
	_, err := ProveInclusion(l.dir, 3, ck)
	if _, ok := errors.AsType[*VerifyError](err); !ok {
		t.Errorf("ProveInclusion on an edited log = %v, want a *VerifyError", err)
	}
	l.rewriteRecords(func(lines [][]byte) [][]byte { return lines[:20] })
	_, err = ProveInclusion(l.dir, 3, ck)
	checkVerifyError(t, err, VerifyError{20, "log has 20 records but checkpoint 40 was signed: records 20–39 are missing (truncated)"}, false)
}

func TestConsistencyProofs(t *testing.T) {
	l := buildTestLog(t, testRecords, testCheckpoints...)
	for i, oldSize := range testCheckpoints {
		for _, newSize := range testCheckpoints[i:] {
			p, err := ProveConsistency(l.dir, oldSize, newSize)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", oldSize, newSize, err)
			}
			text, _ := p.MarshalText()
			if err := VerifyConsistency(l.checkpointAt(oldSize), l.checkpointAt(newSize), text); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v\n%s", oldSize, newSize, err, text)
			}
		}
	}
	// Every pair of sizes, against transparency-dev/merkle's verifier and
	// roots: proofs need no checkpoint to exist.
	for oldSize := int64(1); oldSize <= testRecords; oldSize += 3 {
		for newSize := oldSize; newSize <= testRecords; newSize += 7 {
			p, err := ProveConsistency(l.dir, oldSize, newSize)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", oldSize, newSize, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(oldSize), uint64(newSize), hashSlices(p.Hashes),
				merkleRoot(t, l.lines, oldSize), merkleRoot(t, l.lines, newSize)); err != nil {
				t.Fatalf("transparency-dev/merkle rejects the proof from %d to %d: %v", oldSize, newSize, err)
			}
		}
	}
}

func TestConsistencyProofTampered(t *testing.T) {
	l := buildTestLog(t, testRecords, testCheckpoints...)
	forged := newTestLogWithKey(t, t.TempDir(), 16, l.skey, l.vkey)
	forged.seed = "forged-"
	forged.fill(testRecords, testCheckpoints...)
	old, cur := l.checkpointAt(25), l.checkpointAt(90)
	p, err := ProveConsistency(l.dir, 25, 90)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := p.MarshalText()
	lines := strings.SplitAfter(string(good), "\n")
	tests := []struct {
		name     string
		old, new Checkpoint
		text     string
	}{
		{"hash flipped", old, cur, strings.Replace(string(good), lines[3], flipBase64(lines[3]), 1)},
		{"hash removed", old, cur, strings.Replace(string(good), lines[3], "", 1)},
		{"checkpoints swapped", cur, old, string(good)},
		{"other sizes", l.checkpointAt(40), cur, string(good)},
		{"old tree rewritten", forged.checkpointAt(25), cur, string(good)},
		{"new tree rewritten", old, forged.checkpointAt(90), string(good)},
		{"header", old, cur, strings.Replace(string(good), "v1", "v2", 1)},
		{"empty", old, cur, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyConsistency(tt.old, tt.new, []byte(tt.text)); !errors.Is(err, ErrProof) {
				t.Errorf("VerifyConsistency = %v, want ErrProof", err)
			}
		})
	}
	// And the forged log's own proof does not join the two histories.
	fp, err := ProveConsistency(forged.dir, 25, 90)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := fp.MarshalText()
	if err := VerifyConsistency(old, forged.checkpointAt(90), text); !errors.Is(err, ErrProof) {
		t.Errorf("VerifyConsistency across histories = %v, want ErrProof", err)
	}
}

// editCheckpoint changes the size in the checkpoint of an inclusion proof.
func editCheckpoint(text []byte) []byte {
	i := bytes.Index(text, []byte("\n\n")) + 2
	return append(bytes.Clone(text[:i]), bytes.Replace(text[i:], []byte("\n64\n"), []byte("\n65\n"), 1)...)
}

// flipBase64 changes the first character of a base64 line to another
// valid one.
func flipBase64(line string) string {
	c := byte('A')
	if line[0] == 'A' {
		c = 'B'
	}
	return string(c) + line[1:]
}
