package auditverify

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExport(t *testing.T) {
	l := buildTestLog(t, testRecords, testCheckpoints...)
	// A write in progress: cut like the uncovered records.
	l.appendFile("segments/000000000096.jsonl", []byte(`{"v":1,"idx":100,`))
	for _, name := range []string{"export", "export.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), name)
			if err := Export(t.Context(), l.dir, dst); err != nil {
				t.Fatal(err)
			}
			got, err := Verify(t.Context(), dst, l.vkey, VerifyOptions{Prev: l.read("checkpoints/000000000025.note")})
			if err != nil {
				t.Fatal(err)
			}
			want := Report{Records: 90, CheckpointSize: 90, Origin: testOrigin, CheckpointsChecked: len(testCheckpoints)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExportLayout(t *testing.T) {
	l := buildTestLog(t, 40, 0, 20, 35)
	// A checkpoint signed after the one the export takes.
	l.write("checkpoints/000000000040.note", l.sign(testOrigin, 40, l.root(40)))
	dst := filepath.Join(t.TempDir(), "export")
	if err := Export(t.Context(), l.dir, dst); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dst, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	want := []string{
		"FORMAT", "checkpoint",
		"checkpoints/000000000000.note", "checkpoints/000000000020.note", "checkpoints/000000000035.note",
		"segments/000000000000.jsonl", "segments/000000000016.jsonl", "segments/000000000032.jsonl",
		"verifier.key",
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "FORMAT")); string(b) != "scopegate-audit-export v1\n" {
		t.Errorf("FORMAT = %q", b)
	}
	// The last segment is cut at the checkpoint's 35 records.
	b, _ := os.ReadFile(filepath.Join(dst, "segments/000000000032.jsonl"))
	if want := string(l.lines[32]) + "\n" + string(l.lines[33]) + "\n" + string(l.lines[34]) + "\n"; string(b) != want {
		t.Errorf("last segment = %q, want %q", b, want)
	}
}

func TestExportArchiveIsReproducible(t *testing.T) {
	l := buildTestLog(t, 40, 20, 35)
	var archives [][]byte
	for i := range 2 {
		dst := filepath.Join(t.TempDir(), fmt.Sprintf("export%d.tar.gz", i))
		if err := Export(t.Context(), l.dir, dst); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(dst)
		archives = append(archives, b)
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two exports of the same log differ")
	}
}

func TestExportWhileAppending(t *testing.T) {
	// The writer appends (in this goroutine) while exports run in another;
	// every export must verify, whatever moment it caught.
	l := buildTestLog(t, 10, 10)
	stop := make(chan struct{})
	done := make(chan []error)
	exported := make(chan struct{}, 1)
	dir := t.TempDir()
	go func() {
		var errs []error
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- errs
				return
			default:
			}
			dst := filepath.Join(dir, fmt.Sprintf("export%d", i))
			if i%2 == 1 {
				dst += ".tar.gz"
			}
			if err := Export(t.Context(), l.dir, dst); err != nil {
				errs = append(errs, err)
				continue
			}
			r, err := Verify(t.Context(), dst, l.vkey, VerifyOptions{})
			if err == nil && r.Uncovered != 0 {
				err = fmt.Errorf("export %d has %d uncovered records", i, r.Uncovered)
			}
			if err != nil {
				errs = append(errs, err)
			}
			os.RemoveAll(dst)
			select {
			case exported <- struct{}{}:
			default:
			}
		}
	}()
	for i := range 40 {
		l.appendN(50)
		l.checkpoint()
		l.appendN(3) // and some not yet covered
		if i%10 == 9 {
			<-exported // so that exports and appends interleave
		}
	}
	close(stop)
	for _, err := range <-done {
		t.Error(err)
	}
}

func TestExportRefuses(t *testing.T) {
	t.Run("destination exists", func(t *testing.T) {
		l := buildTestLog(t, 20, 10)
		if err := Export(t.Context(), l.dir, t.TempDir()); err == nil {
			t.Error("Export over an existing directory: no error")
		}
	})
	t.Run("checkpoint does not verify", func(t *testing.T) {
		l := buildTestLog(t, 20, 10)
		l.write(latestFile, bytes.Replace(l.read(latestFile), []byte("\n10\n"), []byte("\n11\n"), 1))
		dst := filepath.Join(t.TempDir(), "export")
		if err := Export(t.Context(), l.dir, dst); err == nil {
			t.Error("Export of a log whose checkpoint does not verify: no error")
		}
		if _, err := os.Stat(dst); err == nil {
			t.Error("a failed export left its destination")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		l := buildTestLog(t, 20, 18)
		l.rewriteRecords(func(lines [][]byte) [][]byte { return lines[:12] })
		err := Export(t.Context(), l.dir, filepath.Join(t.TempDir(), "export.tar.gz"))
		checkVerifyError(t, err, VerifyError{12, "log has 12 records but checkpoint 18 was signed: records 12–17 are missing (truncated)"}, false)
	})
}

func TestVerifyEditedExport(t *testing.T) {
	// An export has no hashes file: an edit is bounded by checkpoints.
	l := buildTestLog(t, testRecords, testCheckpoints...)
	dst := filepath.Join(t.TempDir(), "export")
	if err := Export(t.Context(), l.dir, dst); err != nil {
		t.Fatal(err)
	}
	exported := &testLog{t: t, dir: dst}
	editByte(70)(t, exported)
	_, err := Verify(t.Context(), dst, l.vkey, VerifyOptions{})
	checkVerifyError(t, err, VerifyError{64, "a record in 64–79 does not match the checkpoint (tree root differs at size 80; records 0–63 match)"}, false)
}

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	name, body string
	typ        byte
}

// writeTarGz writes a .tar.gz of entries.
func writeTarGz(t *testing.T, path string, entries []tarEntry) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeSymlink {
			h.Linkname, h.Size = e.body, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exportEntries returns the entries of an export of l, each name prefixed.
func exportEntries(t *testing.T, l *testLog, prefix string) []tarEntry {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "export")
	if err := Export(t.Context(), l.dir, dst); err != nil {
		t.Fatal(err)
	}
	var entries []tarEntry
	filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dst, path)
			b, _ := os.ReadFile(path)
			entries = append(entries, tarEntry{prefix + filepath.ToSlash(rel), string(b), tar.TypeReg})
		}
		return err
	})
	return entries
}

func TestVerifyArchive(t *testing.T) {
	l := buildTestLog(t, 20, 10, 20)
	outside := t.TempDir()
	tests := []struct {
		name    string
		entries func() []tarEntry
		ok      bool
	}{
		{"flat", func() []tarEntry { return exportEntries(t, l, "") }, true},
		{"wrapped in a directory", func() []tarEntry { return exportEntries(t, l, "scopegate-export/") }, true},
		{"no FORMAT", func() []tarEntry {
			return slices.DeleteFunc(exportEntries(t, l, ""), func(e tarEntry) bool { return e.name == "FORMAT" })
		}, false},
		{"unknown FORMAT", func() []tarEntry {
			es := exportEntries(t, l, "")
			for i := range es {
				if es[i].name == "FORMAT" {
					es[i].body = "scopegate-audit-export v2\n"
				}
			}
			return es
		}, false},
		{"path outside", func() []tarEntry {
			return append(exportEntries(t, l, ""), tarEntry{"../" + filepath.Base(outside) + "/evil", "x", tar.TypeReg})
		}, false},
		{"absolute path", func() []tarEntry {
			return append(exportEntries(t, l, ""), tarEntry{outside + "/evil", "x", tar.TypeReg})
		}, false},
		{"symlink", func() []tarEntry {
			return append(exportEntries(t, l, ""), tarEntry{"link", outside, tar.TypeSymlink})
		}, false},
		{"duplicate file", func() []tarEntry {
			es := exportEntries(t, l, "")
			return append(es, tarEntry{"checkpoint", "forged", tar.TypeReg})
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "export.tar.gz")
			writeTarGz(t, path, tt.entries())
			_, err := Verify(t.Context(), path, l.vkey, VerifyOptions{})
			if (err == nil) != tt.ok {
				t.Errorf("Verify = %v, want ok %v", err, tt.ok)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("extraction wrote outside its directory: %v", entries)
			}
		})
	}
}
