package auditverify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Export copies the log directory src into a self-contained export at dst
// that an auditor can check with Verify: a directory, or a .tar.gz archive
// when dst ends in .tar.gz. dst must not exist.
//
// It is safe while the gateway appends to src. It reads the latest
// checkpoint first and then copies exactly the records it covers — the
// writer signs only records already durable, so they are all there — and
// cuts whatever was appended after; it copies the checkpoints up to that
// size and the verifier key. The export is the log as of that checkpoint,
// with no uncovered records.
//
// The checkpoint must verify with src's own verifier.key. That proves
// nothing to an auditor (who uses the key they trust), but an export that
// cannot verify under any key is not worth writing.
func Export(ctx context.Context, src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("export audit log: %s already exists", dst)
	}
	lg, err := openLog(ctx, src)
	if err != nil {
		return err
	}
	defer lg.Close()

	raw, err := readSmallFile(lg.path(latestFile))
	if err != nil {
		return fmt.Errorf("export audit log: read latest checkpoint: %w", err)
	}
	key, err := readSmallFile(lg.path(verifierFile))
	if err != nil {
		return fmt.Errorf("export audit log: read verifier key: %w", err)
	}
	ck, err := ParseCheckpoint(raw, trimKey(key))
	if err != nil {
		return fmt.Errorf("export audit log: latest checkpoint does not verify with the log's verifier.key: %w", err)
	}
	segs, err := cutSegments(ctx, lg, ck.Size)
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	cks, err := lg.listNumbered(checkpointsDir, ".note")
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}

	var sink exportSink
	if isArchiveName(dst) {
		sink, err = newTarSink(dst)
	} else {
		sink, err = newDirSink(dst)
	}
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	defer sink.abort()
	if err := writeExport(ctx, sink, ck, key, segs, cks); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	if err := sink.commit(); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

// writeExport writes the export's files to sink, the small ones first.
func writeExport(ctx context.Context, sink exportSink, ck Checkpoint, key []byte, segs []segmentCut, cks []numberedFile) error {
	small := func(name string, b []byte) error {
		return sink.file(name, int64(len(b)), bytes.NewReader(b))
	}
	if err := small(formatFile, []byte(formatLine+"\n")); err != nil {
		return err
	}
	if err := small(verifierFile, key); err != nil {
		return err
	}
	if err := small(latestFile, ck.Raw); err != nil {
		return err
	}
	if err := sink.dir(checkpointsDir); err != nil {
		return err
	}
	for _, c := range cks {
		// Checkpoints past the one taken are for records not exported. The
		// one taken is written from the bytes already read, below: its
		// file may still be being written.
		if c.n >= ck.Size {
			continue
		}
		b, err := readSmallFile(c.path)
		if err != nil {
			return err
		}
		if err := small(c.name, b); err != nil {
			return err
		}
	}
	if err := small(fmt.Sprintf("%s/%012d.note", checkpointsDir, ck.Size), ck.Raw); err != nil {
		return err
	}
	if err := sink.dir(segmentsDir); err != nil {
		return err
	}
	for _, s := range segs {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(s.path)
		if err != nil {
			return err
		}
		// The prefix of a segment never changes once written; reading a
		// fixed length ignores what is appended meanwhile.
		err = sink.file(s.name, s.length, io.NewSectionReader(f, 0, s.length))
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// segmentCut is the part of a segment file an export takes: its first
// length bytes.
type segmentCut struct {
	numberedFile
	length int64
}

// cutSegments finds, for each segment holding records below size, the
// byte length of its records below size: whole lines only.
func cutSegments(ctx context.Context, lg *logDir, size int64) ([]segmentCut, error) {
	segs, err := lg.listNumbered(segmentsDir, ".jsonl")
	if err != nil {
		return nil, err
	}
	var (
		cuts []segmentCut
		pos  int64
		br   = bufio.NewReaderSize(nil, 1<<20)
	)
	for _, seg := range segs {
		if pos >= size {
			break
		}
		f, err := os.Open(seg.path)
		if err != nil {
			return nil, err
		}
		br.Reset(f)
		var length, partial int64
		for pos < size {
			line, err := br.ReadSlice('\n')
			partial += int64(len(line))
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("read %s: %w", seg.name, err)
			}
			length += partial
			partial = 0
			if pos++; pos&0xfff == 0 && ctx.Err() != nil {
				f.Close()
				return nil, ctx.Err()
			}
		}
		f.Close()
		if length > 0 {
			cuts = append(cuts, segmentCut{seg, length})
		}
	}
	if pos < size {
		return nil, &VerifyError{Position: pos, Reason: truncatedReason(pos, size)}
	}
	return cuts, nil
}
