package auditverify

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ErrProof means a proof does not prove what it claims, or is not a proof.
var ErrProof = errors.New("proof does not verify")

// Text headers: the first line of each proof's text form, with its
// version, so a later format is refused rather than misread.
const (
	inclusionHeader   = "scopegate-inclusion-proof v1"
	consistencyHeader = "scopegate-consistency-proof v1"
)

// maxProofHashes bounds the hashes of a proof: a tree of 2⁶³ records needs
// no more, so a longer list is not a proof.
const maxProofHashes = 64

// InclusionProof proves that a record is in the tree a checkpoint signed,
// to anyone holding the log's verifier key and nothing else.
type InclusionProof struct {
	// Index is the record's position.
	Index int64
	// Record is the record's line, without its newline.
	Record []byte
	// Hashes is the Merkle audit path from the record to the root.
	Hashes tlog.RecordProof
	// Checkpoint is the signed checkpoint the proof leads to; the tree
	// size of the proof is its size.
	Checkpoint Checkpoint
}

// MarshalText encodes the proof in its stable text form:
//
//	scopegate-inclusion-proof v1
//	<index>
//	<record line>
//	<tree size>
//	<base64 hash>        (one line each, as many as the path has)
//	<empty line>
//	<signed checkpoint>  (the note, as signed)
func (p InclusionProof) MarshalText() ([]byte, error) {
	if bytes.IndexByte(p.Record, '\n') >= 0 {
		return nil, errors.New("inclusion proof: record holds a newline")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n%d\n", inclusionHeader, p.Index, p.Record, p.Checkpoint.Size)
	writeHashes(&b, p.Hashes)
	b.WriteByte('\n')
	b.Write(p.Checkpoint.Raw)
	return b.Bytes(), nil
}

// ProveInclusion builds the proof that record idx of the log at path is in
// the tree that checkpoint signed. It recomputes the tree from the records
// and fails if the log does not match the checkpoint, so that it never
// hands out a proof that would not verify.
func ProveInclusion(path string, idx int64, checkpoint Checkpoint) (InclusionProof, error) {
	if idx < 0 || idx >= checkpoint.Size {
		return InclusionProof{}, fmt.Errorf("prove inclusion: record %d is not in a tree of size %d", idx, checkpoint.Size)
	}
	ctx := context.Background()
	lg, err := openLog(ctx, path)
	if err != nil {
		return InclusionProof{}, err
	}
	defer lg.Close()
	want, err := neededHashes(func(r tlog.HashReader) error { _, err := tlog.ProveRecord(checkpoint.Size, idx, r); return err })
	if err != nil {
		return InclusionProof{}, err
	}
	t, record, err := treeAt(ctx, lg, checkpoint.Size, want, idx)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("prove inclusion: %w", err)
	}
	if root, err := t.root(); err != nil || root != checkpoint.Root {
		return InclusionProof{}, fmt.Errorf("prove inclusion: %w", &VerifyError{Position: -1, Reason: fmt.Sprintf(
			"the records do not match the checkpoint (tree root differs at size %d); run verify", checkpoint.Size)})
	}
	p, err := tlog.ProveRecord(checkpoint.Size, idx, t)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("prove inclusion: %w", err)
	}
	return InclusionProof{Index: idx, Record: record, Hashes: p, Checkpoint: checkpoint}, nil
}

// VerifyInclusion checks an inclusion proof in text form offline, with the
// verifier key vkey the auditor trusts: the checkpoint's signature, that
// the record is a well-formed line for its index, and the audit path from
// the record to the signed root. It returns the proof, whose Record is the
// proven line.
func VerifyInclusion(proofText []byte, vkey string) (InclusionProof, error) {
	p, err := parseInclusionProof(proofText, vkey)
	if err != nil {
		return InclusionProof{}, err
	}
	if err := checkLine(p.Record, p.Index); err != nil {
		ve, _ := errors.AsType[*VerifyError](err)
		return InclusionProof{}, fmt.Errorf("%w: %s", ErrProof, ve.Reason)
	}
	if err := tlog.CheckRecord(p.Hashes, p.Checkpoint.Size, p.Checkpoint.Root, p.Index, tlog.RecordHash(p.Record)); err != nil {
		return InclusionProof{}, fmt.Errorf("%w: record %d is not in the tree of size %d that the checkpoint signed", ErrProof, p.Index, p.Checkpoint.Size)
	}
	return p, nil
}

// parseInclusionProof decodes the text form and verifies its checkpoint.
func parseInclusionProof(text []byte, vkey string) (InclusionProof, error) {
	r := proofReader{rest: text}
	r.header(inclusionHeader)
	index := r.number("index")
	record := r.line("record")
	size := r.number("tree size")
	hashes := r.hashes()
	if r.err != nil {
		return InclusionProof{}, r.err
	}
	if len(r.rest) == 0 {
		return InclusionProof{}, fmt.Errorf("%w: malformed inclusion proof: no checkpoint", ErrProof)
	}
	ck, err := ParseCheckpoint(r.rest, vkey)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("inclusion proof: %w", err)
	}
	if size != ck.Size {
		return InclusionProof{}, fmt.Errorf("%w: proof is for a tree of size %d, the checkpoint signed size %d", ErrProof, size, ck.Size)
	}
	if index >= size {
		return InclusionProof{}, fmt.Errorf("%w: record %d is not in a tree of size %d", ErrProof, index, size)
	}
	return InclusionProof{Index: index, Record: record, Hashes: hashes, Checkpoint: ck}, nil
}

// ConsistencyProof proves that the tree of size NewSize extends the tree of
// size OldSize: every record of the old tree is in the new one, unchanged
// and in place.
type ConsistencyProof struct {
	OldSize, NewSize int64
	Hashes           tlog.TreeProof
}

// MarshalText encodes the proof in its stable text form:
//
//	scopegate-consistency-proof v1
//	<old size>
//	<new size>
//	<base64 hash>        (one line each)
func (p ConsistencyProof) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%d\n", consistencyHeader, p.OldSize, p.NewSize)
	writeHashes(&b, p.Hashes)
	return b.Bytes(), nil
}

// ProveConsistency builds the proof that the log's tree at newSize extends
// its tree at oldSize, recomputed from the records of the log at path.
func ProveConsistency(path string, oldSize, newSize int64) (ConsistencyProof, error) {
	if oldSize < 0 || oldSize > newSize {
		return ConsistencyProof{}, fmt.Errorf("prove consistency: sizes %d and %d are not an old and a new size", oldSize, newSize)
	}
	ctx := context.Background()
	lg, err := openLog(ctx, path)
	if err != nil {
		return ConsistencyProof{}, err
	}
	defer lg.Close()
	want, err := neededHashes(func(r tlog.HashReader) error { _, err := proveTree(newSize, oldSize, r); return err })
	if err != nil {
		return ConsistencyProof{}, err
	}
	t, _, err := treeAt(ctx, lg, newSize, want, -1)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("prove consistency: %w", err)
	}
	p, err := proveTree(newSize, oldSize, t)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("prove consistency: %w", err)
	}
	return ConsistencyProof{OldSize: oldSize, NewSize: newSize, Hashes: p}, nil
}

// VerifyConsistency checks a consistency proof in text form offline: that
// the tree newCheckpoint signed extends the one oldCheckpoint signed. Both
// checkpoints must come from ParseCheckpoint, which checked their
// signatures.
func VerifyConsistency(oldCheckpoint, newCheckpoint Checkpoint, proofText []byte) error {
	r := proofReader{rest: proofText}
	r.header(consistencyHeader)
	oldSize := r.number("old size")
	newSize := r.number("new size")
	var hashes tlog.TreeProof
	for len(r.rest) > 0 && r.err == nil && len(hashes) <= maxProofHashes {
		hashes = append(hashes, r.hash())
	}
	switch {
	case r.err != nil:
		return r.err
	case len(hashes) > maxProofHashes:
		return fmt.Errorf("%w: malformed consistency proof: more than %d hashes", ErrProof, maxProofHashes)
	case oldSize != oldCheckpoint.Size || newSize != newCheckpoint.Size:
		return fmt.Errorf("%w: proof is for sizes %d and %d, the checkpoints signed %d and %d",
			ErrProof, oldSize, newSize, oldCheckpoint.Size, newCheckpoint.Size)
	case oldCheckpoint.Origin != newCheckpoint.Origin:
		return fmt.Errorf("%w: the checkpoints are of different logs (%q, %q)", ErrProof, oldCheckpoint.Origin, newCheckpoint.Origin)
	case oldSize > newSize:
		return fmt.Errorf("%w: old size %d is larger than new size %d", ErrProof, oldSize, newSize)
	}
	if checkTree(hashes, newSize, newCheckpoint.Root, oldSize, oldCheckpoint.Root) != nil {
		return fmt.Errorf("%w: the tree of size %d does not extend the tree of size %d: history was rewritten", ErrProof, newSize, oldSize)
	}
	return nil
}

// proveTree is tlog.ProveTree extended to the empty old tree, which every
// tree extends with an empty proof.
func proveTree(t, n int64, r tlog.HashReader) (tlog.TreeProof, error) {
	if n == 0 {
		return tlog.TreeProof{}, nil
	}
	return tlog.ProveTree(t, n, r)
}

// checkTree is tlog.CheckTree extended to the empty old tree, whose root
// must be the hash of the empty tree.
func checkTree(p tlog.TreeProof, t int64, th tlog.Hash, n int64, h tlog.Hash) error {
	if n == 0 {
		if empty, _ := tlog.TreeHash(0, nil); len(p) != 0 || h != empty {
			return ErrProof
		}
		return nil
	}
	return tlog.CheckTree(p, t, th, n, h)
}

// treeAt recomputes the tree of the log's first size records, keeping the
// stored hashes in want and the line of record keep (if keep >= 0).
func treeAt(ctx context.Context, lg *logDir, size int64, want []int64, keep int64) (*tree, []byte, error) {
	t := newTree(want)
	var kept []byte
	n, err := lg.records(ctx, size, func(pos int64, line []byte) error {
		if err := checkLine(line, pos); err != nil {
			return err
		}
		if pos == keep {
			kept = bytes.Clone(line)
		}
		return t.add(tlog.RecordHash(line))
	})
	if err != nil {
		return nil, nil, err
	}
	if n < size {
		return nil, nil, &VerifyError{Position: n, Reason: truncatedReason(n, size)}
	}
	return t, kept, nil
}

func writeHashes(b *bytes.Buffer, hashes []tlog.Hash) {
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
}

// proofReader reads the lines of a proof's text form, keeping the first
// error so that a parse reads as a list of fields.
type proofReader struct {
	rest []byte
	err  error
}

func (r *proofReader) line(what string) []byte {
	if r.err != nil {
		return nil
	}
	i := bytes.IndexByte(r.rest, '\n')
	if i < 0 {
		r.err = fmt.Errorf("%w: malformed proof: no %s line", ErrProof, what)
		return nil
	}
	l := r.rest[:i]
	r.rest = r.rest[i+1:]
	return l
}

func (r *proofReader) header(want string) {
	if h := r.line("header"); r.err == nil && string(h) != want {
		r.err = fmt.Errorf("%w: not a proof of the form %q", ErrProof, want)
	}
}

func (r *proofReader) number(what string) int64 {
	l := r.line(what)
	if r.err != nil {
		return 0
	}
	n, err := parseDecimal(string(l))
	if err != nil {
		r.err = fmt.Errorf("%w: malformed proof: %s %q is not a number", ErrProof, what, l)
	}
	return n
}

func (r *proofReader) hash() tlog.Hash {
	l := r.line("hash")
	if r.err != nil {
		return tlog.Hash{}
	}
	var h tlog.Hash
	if b, err := base64.StdEncoding.Strict().DecodeString(string(l)); err != nil || len(b) != tlog.HashSize {
		r.err = fmt.Errorf("%w: malformed proof: %q is not a base64 hash", ErrProof, l)
	} else {
		copy(h[:], b)
	}
	return h
}

// hashes reads hash lines up to an empty line, which it consumes.
func (r *proofReader) hashes() tlog.RecordProof {
	var hs tlog.RecordProof
	for r.err == nil {
		if bytes.HasPrefix(r.rest, []byte("\n")) {
			r.rest = r.rest[1:]
			return hs
		}
		if len(hs) == maxProofHashes {
			r.err = fmt.Errorf("%w: malformed proof: more than %d hashes", ErrProof, maxProofHashes)
			break
		}
		hs = append(hs, r.hash())
	}
	return hs
}
