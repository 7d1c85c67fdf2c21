package auditverify

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// testOrigin names the test logs; it is also their signing key's name.
const testOrigin = "scopegate.test/audit"

// testLog writes a log directory in the format the gateway's writer uses,
// built directly on tlog and note so that these tests depend on the format
// and not on internal/audit: segments of JSON lines, the hashes file,
// every checkpoint in checkpoints/, the latest in checkpoint, and
// verifier.key.
type testLog struct {
	t       testing.TB
	dir     string
	skey    string
	vkey    string
	signer  note.Signer
	segSize int64
	lines   [][]byte
	hashes  []tlog.Hash // every stored hash, in storage order
	// seed varies the records' content, so that two logs can have
	// different histories.
	seed string
	open map[string]*os.File
}

// newTestLog starts an empty log in dir with a fresh key, segSize records
// to a segment.
func newTestLog(t testing.TB, dir string, segSize int64) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return newTestLogWithKey(t, dir, segSize, skey, vkey)
}

// newTestLogWithKey starts an empty log in dir signed with skey.
func newTestLogWithKey(t testing.TB, dir string, segSize int64, skey, vkey string) *testLog {
	t.Helper()
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{segmentsDir, checkpointsDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l := &testLog{t: t, dir: dir, skey: skey, vkey: vkey, signer: signer, segSize: segSize}
	l.write(verifierFile, []byte(vkey+"\n"))
	return l
}

// buildTestLog writes a log of n records with a checkpoint at each of the
// sizes at (in increasing order), 16 records to a segment.
func buildTestLog(t testing.TB, n int64, at ...int64) *testLog {
	t.Helper()
	l := newTestLog(t, t.TempDir(), 16)
	l.fill(n, at...)
	return l
}

// fill appends records up to n, signing a checkpoint at each size in at.
func (l *testLog) fill(n int64, at ...int64) {
	for _, size := range at {
		l.appendN(size - int64(len(l.lines)))
		l.checkpoint()
	}
	l.appendN(n - int64(len(l.lines)))
}

// testLine returns a record line for position idx: authz, usage and admin
// events in turn, the last with a nested array as admin events have.
func testLine(idx int64, seed string) []byte {
	ts := fmt.Sprintf("2026-11-28T10:%02d:%02d.%03dZ", idx/60000%60, idx/1000%60, idx%1000)
	switch idx % 3 {
	case 0:
		return fmt.Appendf(nil, `{"v":1,"idx":%d,"ts":"%s","event":"authz","request_id":"req-%s%d","key_id":"AbCdEfGhIjKlMnOp","principal":"alice@example.com","team":"platform","feature":"chatbot","scope":"chatbot:gpt-4o-mini","endpoint":"/v1/chat/completions","resource":"gpt-4o-mini","client_ip":"203.0.113.0","decision":"allow","reason":"allowed","status":0}`, idx, ts, seed, idx)
	case 1:
		return fmt.Appendf(nil, `{"v":1,"idx":%d,"ts":"%s","event":"usage","request_id":"req-%s%d","key_id":"AbCdEfGhIjKlMnOp","status":200,"tokens_in":812,"tokens_out":95,"usage_known":1,"latency_ms":431,"outcome":"ok"}`, idx, ts, seed, idx)
	default:
		return fmt.Appendf(nil, `{"v":1,"idx":%d,"ts":"%s","event":"key.update","actor":"admin/%s","target":"AbCdEfGhIjKlMnOp","principal":"bob@example.com","changes":[{"field":"scopes","before":"chatbot","after":"chatbot:gpt-4o-mini \"pinned\""}]}`, idx, ts, seed)
	}
}

// appendN appends n generated records.
func (l *testLog) appendN(n int64) {
	for range n {
		l.appendLine(testLine(int64(len(l.lines)), l.seed))
	}
}

// appendLine appends one record line (without newline): to its segment,
// and its stored hashes to the hashes file.
func (l *testLog) appendLine(line []byte) {
	l.t.Helper()
	n := int64(len(l.lines))
	hs, err := tlog.StoredHashes(n, line, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = l.hashes[x]
		}
		return out, nil
	}))
	if err != nil {
		l.t.Fatal(err)
	}
	l.hashes = append(l.hashes, hs...)
	l.lines = append(l.lines, bytes.Clone(line))
	seg := filepath.Join(segmentsDir, fmt.Sprintf("%012d.jsonl", n/l.segSize*l.segSize))
	l.appendFile(seg, append(bytes.Clone(line), '\n'))
	var hb []byte
	for _, h := range hs {
		hb = append(hb, h[:]...)
	}
	l.appendFile(hashesFile, hb)
}

// checkpoint signs the current tree, writes it to checkpoints/ and then,
// by rename, to checkpoint, and returns it.
func (l *testLog) checkpoint() []byte {
	l.t.Helper()
	size := int64(len(l.lines))
	signed := l.sign(testOrigin, size, l.root(size))
	l.write(filepath.Join(checkpointsDir, fmt.Sprintf("%012d.note", size)), signed)
	l.write(latestFile, signed)
	return signed
}

// root returns the tree hash at size.
func (l *testLog) root(size int64) tlog.Hash {
	l.t.Helper()
	h, err := tlog.TreeHash(size, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = l.hashes[x]
		}
		return out, nil
	}))
	if err != nil {
		l.t.Fatal(err)
	}
	return h
}

// sign returns a signed checkpoint with the given body fields.
func (l *testLog) sign(origin string, size int64, root tlog.Hash) []byte {
	l.t.Helper()
	return l.signText(fmt.Sprintf("%s\n%d\n%s\n", origin, size, root))
}

func (l *testLog) signText(text string) []byte {
	l.t.Helper()
	signed, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		l.t.Fatal(err)
	}
	return signed
}

// checkpointAt returns the signed checkpoint file of size, parsed.
func (l *testLog) checkpointAt(size int64) Checkpoint {
	l.t.Helper()
	ck, err := ParseCheckpoint(l.read(filepath.Join(checkpointsDir, fmt.Sprintf("%012d.note", size))), l.vkey)
	if err != nil {
		l.t.Fatal(err)
	}
	return ck
}

// write replaces a file atomically, as the writer replaces checkpoint.
func (l *testLog) write(name string, b []byte) {
	l.t.Helper()
	if f := l.open[name]; f != nil {
		// Later appends must go to the new file.
		f.Close()
		delete(l.open, name)
	}
	tmp := filepath.Join(l.dir, name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, name)); err != nil {
		l.t.Fatal(err)
	}
}

// appendFile appends to a file, unbuffered, so that a reader sees each
// write at once (as it sees the writer's). Files stay open until the test
// ends.
func (l *testLog) appendFile(name string, b []byte) {
	l.t.Helper()
	f := l.open[name]
	if f == nil {
		var err error
		f, err = os.OpenFile(filepath.Join(l.dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			l.t.Fatal(err)
		}
		if l.open == nil {
			l.open = make(map[string]*os.File)
		}
		l.open[name] = f
		l.t.Cleanup(func() { f.Close() })
	}
	if _, err := f.Write(b); err != nil {
		l.t.Fatal(err)
	}
}

func (l *testLog) read(name string) []byte {
	l.t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, name))
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// rewriteRecords replaces the records on disk, as an attacker editing the
// segment files would: edit gets the lines of all segments and returns the
// new ones, which go back in segments of the original sizes (the last
// taking the rest). The hashes file and checkpoints are left alone.
func (l *testLog) rewriteRecords(edit func(lines [][]byte) [][]byte) {
	l.t.Helper()
	entries, err := os.ReadDir(filepath.Join(l.dir, segmentsDir))
	if err != nil {
		l.t.Fatal(err)
	}
	var lines [][]byte
	var counts []int
	for _, e := range entries {
		b := l.read(filepath.Join(segmentsDir, e.Name()))
		ls := bytes.SplitAfter(b, []byte("\n"))
		if len(ls[len(ls)-1]) == 0 {
			ls = ls[:len(ls)-1]
		}
		counts = append(counts, len(ls))
		for _, s := range ls {
			lines = append(lines, bytes.TrimSuffix(bytes.Clone(s), []byte("\n")))
		}
	}
	lines = edit(lines)
	for i, e := range entries {
		take := min(counts[i], len(lines))
		if i == len(entries)-1 {
			take = len(lines)
		}
		var b []byte
		for _, s := range lines[:take] {
			b = append(append(b, s...), '\n')
		}
		lines = lines[take:]
		l.write(filepath.Join(segmentsDir, e.Name()), b)
	}
}

// replaceIn returns line with the first old replaced by new, failing the
// test if old is not there: a tamper that changes nothing proves nothing.
func replaceIn(t testing.TB, line []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(line, []byte(old)) {
		t.Fatalf("%q not in %s", old, line)
	}
	return []byte(strings.Replace(string(line), old, new, 1))
}
