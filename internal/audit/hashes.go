package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// The hashes file holds the tree's stored hashes (tlog.StoredHashes of
// every record, in order), 32 bytes each at offset
// tlog.StoredHashIndex(level, n)·32. It is derived data: recovery rebuilds
// any part of it from the records.

// hashFile reads stored hashes with pread. Reads are safe alongside the
// writer's appends because they only reach hashes already synced.
type hashFile struct{ f *os.File }

// ReadHashes implements tlog.HashReader over the file.
func (h hashFile) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if _, err := h.f.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read audit hash %d: %w", x, err)
		}
	}
	return out, nil
}

// hashWriter appends stored hashes to the file. During a batch, the hashes
// of its earlier records are still in memory (pending), and the records
// after them need some of them: ReadHashes serves both. Only the log's
// writer uses it.
type hashWriter struct {
	w       WriteSyncer
	file    hashFile
	count   int64       // hashes in the file
	pending []tlog.Hash // hashes count, count+1, … not yet written
	buf     []byte
}

// ReadHashes implements tlog.HashReader over the file and the pending
// hashes.
func (h *hashWriter) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		switch {
		case x >= h.count && x-h.count < int64(len(h.pending)):
			out[i] = h.pending[x-h.count]
		case x < h.count:
			hs, err := h.file.ReadHashes(indexes[i : i+1])
			if err != nil {
				return nil, err
			}
			out[i] = hs[0]
		default:
			return nil, fmt.Errorf("read audit hash %d: beyond the %d stored", x, h.count+int64(len(h.pending)))
		}
	}
	return out, nil
}

// add computes the stored hashes of record n with leaf data and keeps them
// pending.
func (h *hashWriter) add(n int64, data []byte) error {
	hs, err := tlog.StoredHashes(n, data, h)
	if err != nil {
		return err
	}
	h.pending = append(h.pending, hs...)
	return nil
}

// flush writes the pending hashes in one write. It does not sync them:
// recovery recomputes every hash past the last checkpoint from the records,
// so they need to be durable only before a checkpoint is signed over them
// (sync). On error the file's length is unknown, so the caller must stop
// writing.
func (h *hashWriter) flush() error {
	if len(h.pending) == 0 {
		return nil
	}
	h.buf = h.buf[:0]
	for _, x := range h.pending {
		h.buf = append(h.buf, x[:]...)
	}
	if _, err := h.w.Write(h.buf); err != nil {
		return fmt.Errorf("write audit hashes: %w", err)
	}
	h.count += int64(len(h.pending))
	h.pending = h.pending[:0]
	return nil
}

// recordsCovered returns the largest n ≤ max whose stored hashes fit in
// count hashes: how many records a hashes file of that length has whole.
func recordsCovered(count int64, max uint64) uint64 {
	return uint64(sort.Search(int(max)+1, func(n int) bool {
		return tlog.StoredHashCount(int64(n)) > count
	})) - 1
}

// sync makes the hashes written so far durable. It may run while the
// writer appends: the file's own locking orders the two.
func (h *hashWriter) sync() error {
	if h.w == nil {
		return nil
	}
	if err := h.w.Sync(); err != nil {
		return fmt.Errorf("sync audit hashes: %w", err)
	}
	return nil
}
